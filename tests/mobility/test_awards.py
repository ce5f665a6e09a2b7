"""The two-person award of a visit (§25, §6, §2, §11): who pays, what is committed, and
what holds an award back."""

from __future__ import annotations

from typing import Any

import pytest

from fundapp.accounts.models import Role
from fundapp.errors import Conflict, PermissionDenied
from fundapp.kernel.approvals import DecisionState
from fundapp.ledger.models import Transaction, TransactionKind
from fundapp.ledger.selectors import account_balance
from fundapp.notifications.models import Notification, OutboxEvent
from fundapp.screening.models import ScreeningCase
from fundapp.screening.services import screening_case_decide
from mobility.models import ApplicationState, Visit, VisitAwardDecision
from mobility.services.applications import application_withdraw
from mobility.services.awards import (
    visit_award_approve,
    visit_award_decline,
    visit_award_withdraw,
)
from tests.factories import UserFactory
from tests.factories.mobility import (
    application_under_review,
    exchange,
    fund_exchange_pools,
)

pytestmark = pytest.mark.django_db

TERMS: dict[str, Any] = {
    "stipend_month_jpy": 300_000,
    "stipend_month_krw": 3_000_000,
    "travel_jpy": 200_000,
    "travel_krw": 2_000_000,
}


def _award(x, application, outcome="award"):
    first = visit_award_approve(
        application=application, actor=x.officers.jp, outcome=outcome, reason="Strong plan"
    )
    assert first.state == DecisionState.PENDING
    return visit_award_approve(
        application=application, actor=x.officers.kr, outcome=outcome, reason="Agreed"
    )


def _clear(application):
    screener = UserFactory.create(role=Role.SCREENING_OFFICER)
    case = ScreeningCase.objects.get(subject_type="visit_application", subject_id=application.pk)
    screening_case_decide(case=case, actor=screener, decision="clear", reason="Checked")


@pytest.mark.parametrize(
    ("home", "host", "side", "currency", "payee_is_host"),
    [
        ("JP", "KR", "KR", "KRW", True),
        ("KR", "JP", "JP", "JPY", True),
        ("US", "JP", "JP", "JPY", True),
        ("US", "KR", "KR", "KRW", True),
        ("JP", "US", "JP", "JPY", False),
        ("KR", "US", "KR", "KRW", False),
    ],
)
def test_the_award_commits_every_month_and_the_travel_from_the_paying_side(
    home, host, side, currency, payee_is_host
):
    x = exchange(home_country=home, host_country=host, **TERMS)
    fund_exchange_pools(x)
    pool_before = account_balance(f"fund:{side}:pool")
    application = application_under_review(x, months=5)
    if "US" in (home, host):
        _clear(application)

    decision = _award(x, application)

    assert decision.state == DecisionState.COMPLETED
    visit = Visit.objects.get(application=application)
    stipend = TERMS["stipend_month_jpy" if currency == "JPY" else "stipend_month_krw"]
    travel = TERMS["travel_jpy" if currency == "JPY" else "travel_krw"]
    total = 5 * stipend + travel
    assert (visit.paying_side, visit.currency) == (side, currency)
    assert visit.payee == (x.host if payee_is_host else x.home)
    assert account_balance(f"visit:{visit.pk}:{side}:committed") == total
    assert account_balance(f"fund:{side}:pool") == pool_before - total
    txn = Transaction.objects.get(reference=f"visit:{visit.pk}:commitment")
    assert txn.kind == TransactionKind.AWARD_COMMITMENT
    application.refresh_from_db()
    assert application.state == ApplicationState.AWARDED
    event = OutboxEvent.objects.get(kind="visit.awarded")
    assert event.payload["id"] == visit.pk
    assert set(event.organisation_ids) == {x.home.pk, x.host.pk}
    told = set(Notification.objects.filter(kind="award_decided").values_list("user_id", flat=True))
    assert {x.visitor.pk, x.host_office.pk} <= told


def test_a_pool_that_cannot_cover_the_visit_answers_409_and_the_decision_stays_pending():
    x = exchange(**TERMS)
    fund_exchange_pools(x, kr=1_000_000)
    application = application_under_review(x)

    with pytest.raises(Conflict) as refused:
        _award(x, application)

    assert refused.value.code == "pool_insufficient"
    application.refresh_from_db()
    assert application.state == ApplicationState.UNDER_REVIEW
    assert not Visit.objects.exists()
    assert VisitAwardDecision.objects.get(application=application).state == DecisionState.PENDING


def test_the_award_waits_for_screening_clearance():
    x = exchange(home_country="JP", host_country="US", **TERMS)
    fund_exchange_pools(x)
    application = application_under_review(x)

    with pytest.raises(Conflict) as refused:
        _award(x, application)

    assert refused.value.code == "screening_pending"
    assert not Visit.objects.exists()
    _clear(application)
    completed = visit_award_approve(
        application=application, actor=x.officers.kr2, outcome="award", reason="Cleared now"
    )
    assert completed.state == DecisionState.COMPLETED


def test_a_rejection_creates_no_visit_and_commits_nothing():
    x = exchange(**TERMS)
    application = application_under_review(x)

    _award(x, application, outcome="reject")

    application.refresh_from_db()
    assert application.state == ApplicationState.REJECTED
    assert not Visit.objects.exists()


def test_two_officers_of_one_side_do_not_make_an_award():
    x = exchange(**TERMS)
    fund_exchange_pools(x)
    application = application_under_review(x)
    visit_award_approve(application=application, actor=x.officers.jp, outcome="award", reason="a")
    with pytest.raises(PermissionDenied):
        visit_award_approve(
            application=application, actor=x.officers.jp2, outcome="award", reason="b"
        )


def test_non_officers_cannot_approve():
    x = exchange(**TERMS)
    application = application_under_review(x)
    for who in (x.visitor, x.host_office, UserFactory.create(role=Role.REVIEWER)):
        with pytest.raises(PermissionDenied):
            visit_award_approve(application=application, actor=who, outcome="award", reason="x")


def test_withdraw_decline_and_the_visitors_withdrawal_end_a_pending_decision():
    x = exchange(**TERMS)
    application = application_under_review(x)
    first = visit_award_approve(
        application=application, actor=x.officers.jp, outcome="award", reason="a"
    )
    assert visit_award_withdraw(decision=first, actor=x.officers.jp).state == "withdrawn"
    second = visit_award_approve(
        application=application, actor=x.officers.jp, outcome="award", reason="b"
    )
    declined = visit_award_decline(decision=second, actor=x.officers.kr, reason="Too long")
    assert declined.state == DecisionState.DECLINED
    third = visit_award_approve(
        application=application, actor=x.officers.kr, outcome="reject", reason="c"
    )
    application_withdraw(application=application, actor=x.visitor)
    third.refresh_from_db()
    assert third.state == DecisionState.CANCELLED


def test_the_commitment_reads_as_a_sentence_in_three_languages():
    from django.utils import translation

    from fundapp.ledger.descriptions import transaction_descriptions

    x = exchange(**TERMS)
    fund_exchange_pools(x)
    application = application_under_review(x)
    _award(x, application)
    visit = Visit.objects.get(application=application)
    txn = Transaction.objects.get(reference=f"visit:{visit.pk}:commitment")
    sentences = {}
    for lang in ("en", "ja", "ko"):
        with translation.override(lang):
            sentences[lang] = transaction_descriptions([txn])[txn.pk]
    assert "committed" in sentences["en"]
    assert "確保" in sentences["ja"]
    assert "약정" in sentences["ko"]
