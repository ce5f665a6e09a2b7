"""The duplicate-funding check (§5, §22): flags at submission and before the award, their
resolution, and the award refused while one is open."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fundapp.accounts.models import User
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from projects.models import (
    AwardDecision,
    DecisionState,
    DuplicateFlagState,
    DuplicateFundingFlag,
    DuplicateResolution,
    ProposalState,
)
from projects.selectors.duplicates import duplicate_candidates
from projects.services import awards as award_svc
from projects.services.duplicates import duplicate_flag_resolve
from tests.factories import UserFactory, member_of
from tests.factories.duplicates import (
    BATTERIES_JA,
    BATTERIES_JA_AGAIN,
    UNRELATED_JA,
    flagged_pair,
    flags_of,
    same_person,
)
from tests.factories.proposals import make_consortium, submitted_proposal
from tests.factories.review import fund_pools, make_officers, proposal_under_review
from tests.outbox import events_of, the_event

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls", "eager_celery"),
]


def events(obj: Any, action: str):
    return AuditEvent.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk), action=action
    )


# --------------------------------------------------------------------------- matching


def test_the_same_erad_number_and_a_similar_japanese_title_are_flagged_at_submission():
    c = make_consortium()
    first, _c = submitted_proposal(c, basics=BATTERIES_JA)
    other = same_person(c, erad_number="60011111")

    second, _o = submitted_proposal(other, basics=BATTERIES_JA_AGAIN)

    [flag] = flags_of(second)
    assert flag.matched_proposal_id == first.pk
    assert flag.matched_project_id is None
    assert flag.state == DuplicateFlagState.OPEN
    assert flag.raised_during == "submission"
    assert flag.identifiers == [
        {
            "kind": "erad",
            "value": "60011111",
            "person": other.pi_jp.pk,
            "matched_person": c.pi_jp.pk,
        }
    ]
    assert set(flag.similarity) == {"title_ja"}
    assert flag.best_similarity >= Decimal("0.5")
    # The first proposal was checked at its own submission, when nothing matched.
    assert flags_of(first) == []
    [event] = events(flag, "duplicate_flag.raised")
    assert event.after["matched_proposal"] == first.pk
    assert event.after["identifiers"] == ["erad"]


def test_the_flagged_consortium_is_told_its_proposal_waits_without_learning_the_other():
    c = make_consortium()
    first, _c = submitted_proposal(c, basics=BATTERIES_JA)
    other = same_person(c, erad_number="60011111")

    second, _o = submitted_proposal(other, basics=BATTERIES_JA_AGAIN)

    [flag] = flags_of(second)
    data = the_event("proposal.duplicate_flagged", second, organisations=[other.jp.pk, other.kr.pk])
    assert (data["id"], data["flags"], data["during"]) == (second.pk, [flag.pk], "submission")
    # Nothing of the other consortium's proposal reaches this one's systems.
    submitted = the_event("proposal.submitted", second, organisations=[other.jp.pk, other.kr.pk])
    assert set(data) - set(submitted) == {"flags", "during"}
    assert events_of("proposal.duplicate_flagged", first) == []


def test_a_korean_and_an_english_title_of_the_same_work_are_flagged_when_both_are_given():
    c = make_consortium()
    c.pi_kr.kr_researcher_number = "11022222"
    c.pi_kr.save(update_fields=["kr_researcher_number"])
    first, _c = submitted_proposal(
        c,
        basics={
            "title_en": "High-performance solid-state batteries for electric vehicles",
            "title_ja": "",
            "title_ko": "전기차용 고성능 전고체 배터리 연구",
            "abstract_en": "",
            "abstract_ja": "硫化物電解質の研究。",
        },
    )
    other = make_consortium(c.call)
    other.pi_kr.kr_researcher_number = "11022222"
    other.pi_kr.save(update_fields=["kr_researcher_number"])

    second, _o = submitted_proposal(
        other,
        basics={
            "title_en": "High performance solid state batteries for electric vehicles",
            "title_ja": "",
            "title_ko": "전기차용 고성능 전고체 배터리의 연구",
            "abstract_en": "",
            "abstract_ko": "황화물 전해질.",
        },
    )

    [flag] = flags_of(second)
    assert flag.matched_proposal_id == first.pk
    assert set(flag.similarity) == {"title_en", "title_ko"}
    assert all(Decimal(score) >= Decimal("0.5") for score in flag.similarity.values())
    assert [i["kind"] for i in flag.identifiers] == ["kr_researcher_number"]


def test_an_orcid_identifies_the_same_person_across_accounts():
    c = make_consortium()
    first, _c = submitted_proposal(c, basics=BATTERIES_JA)
    other = same_person(c, orcid="0000-0002-1825-0097")

    second, _o = submitted_proposal(other, basics=BATTERIES_JA_AGAIN)

    [flag] = flags_of(second)
    assert flag.matched_proposal_id == first.pk
    assert flag.identifiers[0]["kind"] == "orcid"


def test_different_people_with_the_same_title_are_not_flagged():
    c = make_consortium()
    c.pi_jp.erad_number = "60011111"
    c.pi_jp.save(update_fields=["erad_number"])
    submitted_proposal(c, basics=BATTERIES_JA)
    other = make_consortium(c.call)
    other.pi_jp.erad_number = "60099999"
    other.pi_jp.save(update_fields=["erad_number"])

    second, _o = submitted_proposal(other, basics=BATTERIES_JA)

    assert flags_of(second) == []


def test_the_same_person_with_a_dissimilar_title_is_not_flagged():
    c = make_consortium()
    submitted_proposal(c, basics=BATTERIES_JA)
    other = same_person(c, erad_number="60011111")

    second, _o = submitted_proposal(other, basics=UNRELATED_JA)

    assert flags_of(second) == []


def test_texts_are_compared_within_one_language_only():
    c = make_consortium()
    submitted_proposal(
        c,
        basics={"title_en": "", "title_ja": "", "title_ko": "전고체 배터리", "abstract_ja": "概要"},
    )
    other = same_person(c, erad_number="60011111")

    second, _o = submitted_proposal(
        other,
        basics={
            "title_en": "전고체 배터리",
            "title_ja": "",
            "title_ko": "",
            "abstract_en": "Abstract",
        },
    )

    assert flags_of(second) == []


def test_withdrawn_proposals_are_not_candidates():
    from projects.services.proposals import proposal_withdraw

    c = make_consortium()
    first, _c = submitted_proposal(c, basics=BATTERIES_JA)
    proposal_withdraw(proposal=first, actor=c.pi_jp, reason="Merged into another.")
    other = same_person(c, erad_number="60011111")

    second, _o = submitted_proposal(other, basics=BATTERIES_JA_AGAIN)

    assert flags_of(second) == []


@pytest.mark.parametrize("matches", [1, 4])
def test_the_candidates_of_a_proposal_are_found_in_one_query(matches):
    c = make_consortium()
    first, _c = submitted_proposal(c, basics=BATTERIES_JA)
    others = [same_person(c, erad_number="60011111") for _ in range(matches)]
    later = [submitted_proposal(o, basics=BATTERIES_JA_AGAIN)[0] for o in others]

    with CaptureQueriesContext(connection) as queries:
        found = duplicate_candidates(first.pk)

    assert len(queries) == 1
    assert [f.proposal_id for f in found] == [p.pk for p in later]


# --------------------------------------------------------------------------- resolution


def test_a_fund_officer_resolves_a_flag_with_a_reason():
    flag, _c, _o = flagged_pair()
    who = make_officers().kr

    resolved = duplicate_flag_resolve(
        flag=flag, actor=who, resolution="not_duplicate", note="Different cell chemistry."
    )

    assert resolved.state == DuplicateFlagState.RESOLVED
    assert resolved.resolution == DuplicateResolution.NOT_DUPLICATE
    assert resolved.resolution_note == "Different cell chemistry."
    assert resolved.resolved_by_id == who.pk
    assert resolved.resolved_at is not None
    [event] = events(flag, "duplicate_flag.resolved")
    assert event.before["state"] == "open"
    assert event.after["resolution"] == "not_duplicate"
    with pytest.raises(Conflict):
        duplicate_flag_resolve(flag=resolved, actor=who, resolution="refuse", note="Again.")


def test_a_resolution_needs_a_known_value_and_a_reason():
    flag, _c, _o = flagged_pair()
    who = make_officers().jp
    with pytest.raises(ValidationFailed) as refused:
        duplicate_flag_resolve(flag=flag, actor=who, resolution="maybe", note="")
    assert set(refused.value.errors) == {"resolution", "note"}
    flag.refresh_from_db()
    assert flag.state == DuplicateFlagState.OPEN


@pytest.mark.parametrize("role", ["researcher", "reviewer", "finance_officer", "screening_officer"])
def test_only_fund_officers_resolve_flags(role):
    flag, c, _o = flagged_pair()
    who: User = member_of(c.jp) if role == "researcher" else UserFactory.create(role=role)
    with pytest.raises(PermissionDenied):
        duplicate_flag_resolve(flag=flag, actor=who, resolution="not_duplicate", note="Fine.")


# --------------------------------------------------------------------------- the award


def under_review_with_flag() -> tuple[Any, Any, DuplicateFundingFlag]:
    """A proposal under review flagged at submission against a pending one of the same
    person."""
    officers = make_officers()
    c = make_consortium()
    submitted_proposal(c, basics=BATTERIES_JA)
    other = same_person(c, erad_number="60011111")
    proposal, _o = proposal_under_review(officers.jp, other, basics=BATTERIES_JA_AGAIN)
    fund_pools(other.call, officers.jp)
    [flag] = flags_of(proposal)
    return proposal, officers, flag


def test_the_award_refuses_to_complete_until_the_flag_is_resolved():
    proposal, officers, flag = under_review_with_flag()
    award_svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")

    with pytest.raises(Conflict) as refused:
        award_svc.award_approve(
            proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed."
        )

    assert refused.value.code == "duplicate_funding_unresolved"
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.UNDER_REVIEW
    assert AwardDecision.objects.get(proposal=proposal).state == DecisionState.PENDING

    duplicate_flag_resolve(
        flag=flag, actor=officers.kr, resolution="reduce_effort", note="Effort cut to 10%."
    )
    decision = award_svc.award_approve(
        proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed."
    )

    assert decision.state == DecisionState.COMPLETED
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.AWARDED


def test_a_flag_resolved_as_refuse_refuses_the_award_but_not_a_rejection():
    proposal, officers, flag = under_review_with_flag()
    duplicate_flag_resolve(flag=flag, actor=officers.jp, resolution="refuse", note="Same work.")
    award_svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")

    with pytest.raises(Conflict) as refused:
        award_svc.award_approve(
            proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed."
        )
    assert refused.value.code == "duplicate_funding_refused"

    pending = AwardDecision.objects.get(proposal=proposal, state=DecisionState.PENDING)
    award_svc.award_decision_withdraw(decision=pending, actor=officers.jp)
    award_svc.award_approve(proposal=proposal, actor=officers.jp, outcome="reject", reason="Dup.")
    award_svc.award_approve(proposal=proposal, actor=officers.kr, outcome="reject", reason="Dup.")
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.REJECTED


def test_a_duplicate_that_appears_after_submission_is_flagged_before_the_award():
    officers = make_officers()
    c = make_consortium()
    c.pi_jp.erad_number = "60011111"
    c.pi_jp.save(update_fields=["erad_number"])
    proposal, _c = proposal_under_review(officers.jp, c, basics=BATTERIES_JA)
    fund_pools(c.call, officers.jp)
    assert flags_of(proposal) == []
    other = make_consortium(c.call)
    other.pi_jp.erad_number = "60011111"
    other.pi_jp.save(update_fields=["erad_number"])
    later, _o = submitted_proposal(other, basics=BATTERIES_JA_AGAIN)

    award_svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")

    [flag] = flags_of(proposal)
    assert flag.matched_proposal_id == later.pk
    assert flag.raised_during == "award"
    with pytest.raises(Conflict):
        award_svc.award_approve(
            proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed."
        )
    # The refusal rolled back the completion, not the flag: it is raised once.
    assert len(flags_of(proposal)) == 1


def test_a_running_project_is_a_candidate_and_named_on_the_flag():
    officers = make_officers()
    c = make_consortium()
    c.pi_jp.erad_number = "60011111"
    c.pi_jp.save(update_fields=["erad_number"])
    awarded, _c = proposal_under_review(officers.jp, c, basics=BATTERIES_JA)
    fund_pools(c.call, officers.jp)
    award_svc.award_approve(proposal=awarded, actor=officers.jp, outcome="award", reason="Top.")
    award_svc.award_approve(proposal=awarded, actor=officers.kr, outcome="award", reason="Ok.")
    awarded.refresh_from_db()
    other = same_person(c, erad_number="60011111")

    second, _o = submitted_proposal(other, basics=BATTERIES_JA_AGAIN)

    [flag] = flags_of(second)
    assert flag.matched_proposal_id == awarded.pk
    assert flag.matched_project_id == awarded.project.pk
