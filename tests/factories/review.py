"""Build proposals in review, reviewers and officers through the services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fundapp.accounts.models import Role, User
from projects.models import (
    Call,
    Proposal,
    ProposalState,
    Review,
    ReviewCriterion,
    ReviewerAssignment,
)
from projects.services import proposals as proposal_svc
from projects.services import reviews as svc
from projects.services.payments import fund_contribute
from tests.factories import UserFactory, officer
from tests.factories.proposals import Consortium, complete_proposal, submitted_proposal


@dataclass
class Officers:
    jp: User
    kr: User
    jp2: User
    kr2: User


def make_officers() -> Officers:
    return Officers(jp=officer("JP"), kr=officer("KR"), jp2=officer("JP"), kr2=officer("KR"))


def reviewer(**kwargs: Any) -> User:
    return UserFactory.create(role=Role.REVIEWER, **kwargs)


def add_criteria(call: Call, weights: Sequence[str] = ("2", "1", "1")) -> list[ReviewCriterion]:
    """The call's review criteria (made with the call in the call services; here directly)."""
    return [
        ReviewCriterion.objects.create(
            call=call,
            name_en=f"Criterion {i + 1}",
            name_ja=f"評価項目 {i + 1}",
            name_ko=f"평가 항목 {i + 1}",
            weight=Decimal(w),
            order=i,
        )
        for i, w in enumerate(weights)
    ]


def eligible_proposal(
    c: Consortium | None = None,
    *,
    dual_use: bool = False,
    basics: dict[str, Any] | None = None,
) -> tuple[Proposal, Consortium]:
    if dual_use:
        draft, c = complete_proposal(c, basics=basics)
        draft = proposal_svc.proposal_update(
            proposal=draft,
            actor=c.pi_jp,
            expected_version=draft.version,
            changes={
                "security": {
                    "dual_use": True,
                    "controlled_categories": ["3A001"],
                    "notes": "Edge inference for drones.",
                }
            },
        )
        proposal = proposal_svc.proposal_submit(proposal=draft, actor=c.pi_jp)
    else:
        proposal, c = submitted_proposal(c, basics=basics)
    proposal_svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    proposal = proposal_svc.proposal_endorse(proposal=proposal, actor=c.office_kr)
    assert proposal.state == ProposalState.ELIGIBLE, proposal.eligibility_reasons
    return proposal, c


def proposal_under_review(
    by: User,
    c: Consortium | None = None,
    *,
    weights: Sequence[str] | None = ("2", "1", "1"),
    dual_use: bool = False,
    basics: dict[str, Any] | None = None,
) -> tuple[Proposal, Consortium]:
    proposal, c = eligible_proposal(c, dual_use=dual_use, basics=basics)
    if weights is not None and not ReviewCriterion.objects.filter(call=c.call).exists():
        add_criteria(c.call, weights)
    return svc.proposal_start_review(proposal=proposal, actor=by), c


def active_assignment(proposal: Proposal, who: User, by: User) -> ReviewerAssignment:
    assignment = svc.reviewer_assign(proposal=proposal, reviewer=who, actor=by)
    return svc.assignment_declare(assignment=assignment, actor=who, conflict=False, note="")


def scores_for(call: Call, *values: int) -> dict[int, int]:
    criteria = list(ReviewCriterion.objects.filter(call=call))
    assert len(criteria) == len(values)
    return {c.pk: v for c, v in zip(criteria, values, strict=True)}


def submit_review(
    proposal: Proposal, who: User, by: User, *values: int, recommendation: str = "fund"
) -> Review:
    assignment = active_assignment(proposal, who, by)
    return svc.review_submit(
        assignment=assignment,
        actor=who,
        scores=scores_for(proposal.call, *values),
        comment="Solid plan.",
        recommendation=recommendation,
    )


_references = iter(range(1, 10**9))


def fund_pools(call: Call, by: User, *, jp: int = 10**10, kr: int = 10**11) -> None:
    """Both sides' pools hold enough for an award (the engine commits the budget)."""
    for side, amount in (("JP", jp), ("KR", kr)):
        if amount:
            fund_contribute(
                fund=call.fund,
                side=side,
                amount=amount,
                to="pool",
                actor=by,
                reference=f"review-test-{next(_references)}",
            )
