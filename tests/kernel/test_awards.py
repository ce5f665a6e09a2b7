"""The award of a subject under review (``fundapp.kernel.awards``), the same for a proposal
and a visit application.

tests/kernel/test_approvals.py covers the two-person rule itself; here one parametrised
suite checks what the award adds for every subject: the other side's officers are told at
the first approval, a different outcome is refused with the same message and code, a
subject no longer under review answers 409, and completion moves the subject and audits
it with the decision and its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from fundapp.accounts.models import User
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.approvals import DecisionState
from fundapp.notifications.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@dataclass
class Subject:
    subject: Any
    jp: User
    kr: User
    prefix: str  # the subject's audit prefix on completion
    awaits: str  # the notification the other side's officers get
    approve: Callable[[User, str], Any]
    reload: Callable[[], Any]


def proposal_subject() -> Subject:
    from projects.models import Proposal
    from projects.services import awards as svc
    from tests.factories.review import make_officers, proposal_under_review

    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    return Subject(
        subject=proposal,
        jp=officers.jp,
        kr=officers.kr,
        prefix="proposal",
        awaits="award.awaits_approval",
        approve=lambda actor, outcome: svc.award_approve(
            proposal=Proposal.objects.get(pk=proposal.pk),
            actor=actor,
            outcome=outcome,
            reason="Decided.",
        ),
        reload=lambda: Proposal.objects.get(pk=proposal.pk),
    )


def application_subject() -> Subject:
    from mobility.models import VisitApplication
    from mobility.services import awards as svc
    from tests.factories.mobility import application_under_review, exchange

    x = exchange()
    application = application_under_review(x)
    return Subject(
        subject=application,
        jp=x.officers.jp,
        kr=x.officers.kr,
        prefix="visit_application",
        awaits="visit_award.awaits_approval",
        approve=lambda actor, outcome: svc.visit_award_approve(
            application=VisitApplication.objects.get(pk=application.pk),
            actor=actor,
            outcome=outcome,
            reason="Decided.",
        ),
        reload=lambda: VisitApplication.objects.get(pk=application.pk),
    )


SUBJECTS = [
    pytest.param(proposal_subject, id="proposal"),
    pytest.param(application_subject, id="visit_application"),
]


@pytest.mark.parametrize("make", SUBJECTS)
def test_the_first_approval_tells_the_other_side_and_waits(make):
    s = make()

    decision = s.approve(s.jp, "reject")

    assert decision.state == DecisionState.PENDING
    told = Notification.objects.filter(message=s.awaits)
    assert s.kr.pk in set(told.values_list("user_id", flat=True))
    assert s.jp.pk not in set(told.values_list("user_id", flat=True))
    assert s.reload().state == "under_review"


@pytest.mark.parametrize("make", SUBJECTS)
def test_a_different_outcome_is_refused_with_the_same_message(make):
    s = make()
    s.approve(s.jp, "reject")

    with pytest.raises(Conflict) as refused:
        s.approve(s.kr, "award")

    assert refused.value.code == "outcome_differs"
    assert str(refused.value).startswith("The pending decision is to reject, not to award.")


@pytest.mark.parametrize("make", SUBJECTS)
def test_completion_moves_the_subject_and_audits_it_with_the_decision(make):
    s = make()
    s.approve(s.jp, "reject")

    decision = s.approve(s.kr, "reject")

    assert decision.state == DecisionState.COMPLETED
    assert s.reload().state == "rejected"
    event = AuditEvent.objects.get(action=f"{s.prefix}.rejected", object_id=str(s.subject.pk))
    assert event.before == {"state": "under_review"}
    assert event.after is not None
    assert (event.after["decision"], event.after["reason"]) == (decision.pk, "Decided.")
    # A decided subject is no longer under review.
    with pytest.raises(Conflict) as refused:
        s.approve(s.jp, "reject")
    assert refused.value.code == "invalid_state"


@pytest.mark.parametrize("make", SUBJECTS)
def test_only_fund_officers_decide_and_a_reason_is_required(make):
    s = make()

    with pytest.raises(PermissionDenied):
        s.approve(UserFactory.create(), "reject")
    with pytest.raises(ValidationFailed) as refused:
        s.approve(s.jp, "maybe")
    assert set(refused.value.errors) == {"outcome"}
