"""Visits after the award (§25): arrival, departure, cancellation and the final report,
each through the workflow kernel with its money moved in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from fundapp.accounts.models import Scope
from fundapp.actors import Actor
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.events import event_sentence
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.descriptions import transaction_descriptions
from fundapp.ledger.models import Transaction
from fundapp.ledger.selectors import account_balance, ledger_verify
from fundapp.notifications.models import Notification, OutboxEvent
from mobility.models import PaymentKind, Visit, VisitPayment, VisitState
from mobility.rules import add_months
from mobility.services.visits import (
    visit_cancel,
    visit_confirm_arrival,
    visit_confirm_departure,
    visit_final_report_submit,
)
from tests.factories import member_of, officer
from tests.factories.gates import api_key
from tests.factories.mobility import awarded_visit

pytestmark = pytest.mark.django_db

STIPEND = 3_000_000
TRAVEL = 2_000_000


def committed(visit: Visit) -> int:
    return account_balance(ledger_rules.account_code_visit_committed(visit.pk, visit.paying_side))


def payable(visit: Visit) -> int:
    return account_balance(ledger_rules.account_code_org_payable(visit.payee_id, visit.currency))


def host_office(visit: Visit):
    return member_of(visit.application.host_organisation, research_office=True)


def arrived(visit: Visit, on: date) -> Visit:
    return visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=on)


# --------------------------------------------------------------------------- arrival


def test_the_host_office_confirms_the_arrival_and_the_travel_sum_is_released_once(
    django_capture_on_commit_callbacks,
):
    visit = awarded_visit(months=6)
    assert (visit.paying_side, visit.currency) == ("KR", "KRW")
    assert committed(visit) == 6 * STIPEND + TRAVEL
    office = host_office(visit)
    day = today_in_tokyo()

    with django_capture_on_commit_callbacks() as callbacks:
        done = visit_confirm_arrival(visit=visit, actor=office, arrived_on=day.isoformat())

    assert (done.state, done.arrived_on) == (VisitState.ACTIVE, day)
    travel = VisitPayment.objects.get(visit=visit)
    assert (travel.kind, travel.month, travel.amount) == (PaymentKind.TRAVEL, 0, TRAVEL)
    assert travel.transaction.reference == f"visit:{visit.pk}:travel"
    assert travel.transaction.kind == "tranche_release"
    assert committed(visit) == 6 * STIPEND
    assert payable(visit) == TRAVEL
    event = AuditEvent.objects.get(action="visit.arrived", object_id=str(visit.pk))
    assert event.actor_user_id == office.pk
    assert event.after == {"state": "active", "arrived_on": day.isoformat()}
    outbox = OutboxEvent.objects.get(kind="visit.arrived")
    assert outbox.payload["arrived_on"] == day.isoformat()
    application = visit.application
    assert outbox.organisation_ids == sorted(
        [application.home_organisation_id, application.host_organisation_id]
    )
    notice = Notification.objects.get(user=application.visitor)
    assert notice.message == "visit.arrival_confirmed"
    assert callbacks  # the stipend job is asked for the visit's first month
    with pytest.raises(Conflict):
        visit_confirm_arrival(visit=visit, actor=office, arrived_on=day)
    assert VisitPayment.objects.filter(visit=visit).count() == 1
    assert ledger_verify().breaches == []


def test_an_arrival_in_the_future_or_not_a_date_is_a_field_error():
    visit = awarded_visit()
    for value in ("tomorrow", (today_in_tokyo() + timedelta(days=1)).isoformat()):
        with pytest.raises(ValidationFailed) as refused:
            visit_confirm_arrival(visit=visit, actor=officer(), arrived_on=value)
        assert "arrived_on" in refused.value.errors
    assert Visit.objects.get(pk=visit.pk).state == VisitState.AWARDED


def test_a_visit_without_travel_sum_posts_no_travel():
    visit = awarded_visit(travel_amount=0)
    arrived(visit, today_in_tokyo())
    assert not VisitPayment.objects.filter(visit=visit).exists()


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("host_office", True),
        ("host_member", False),
        ("home_office", False),
        ("other_office", False),
        ("visitor", False),
        ("officer", True),
        ("host_key_payments", True),
        ("host_key_read_only", False),
        ("home_key_payments", False),
    ],
)
def test_who_may_confirm_arrival_and_departure(who, allowed):
    visit = awarded_visit()
    application = visit.application
    host, home = application.host_organisation, application.home_organisation
    other = awarded_visit().application.host_organisation
    makers: dict[str, Callable[[], Actor]] = {
        "host_office": lambda: member_of(host, research_office=True),
        "host_member": lambda: member_of(host),
        "home_office": lambda: member_of(home, research_office=True),
        "other_office": lambda: member_of(other, research_office=True),
        "visitor": lambda: application.visitor,
        "officer": lambda: officer("JP"),
        "host_key_payments": lambda: api_key(host, [Scope.PAYMENTS_WRITE]),
        "host_key_read_only": lambda: api_key(host, [Scope.PROJECTS_READ]),
        "home_key_payments": lambda: api_key(home, [Scope.PAYMENTS_WRITE]),
    }
    actor = makers[who]()
    day = today_in_tokyo()
    if allowed:
        visit_confirm_arrival(visit=visit, actor=actor, arrived_on=day)
        visit_confirm_departure(visit=visit, actor=actor, ended_on=day)
        assert Visit.objects.get(pk=visit.pk).state == VisitState.ENDED
    else:
        with pytest.raises(PermissionDenied):
            visit_confirm_arrival(visit=visit, actor=actor, arrived_on=day)
        arrived(visit, day)
        with pytest.raises(PermissionDenied):
            visit_confirm_departure(visit=visit, actor=actor, ended_on=day)
        assert Visit.objects.get(pk=visit.pk).state == VisitState.ACTIVE


# --------------------------------------------------------------------------- departure


def test_an_early_departure_keeps_the_months_begun_and_returns_exactly_the_rest():
    visit = awarded_visit(months=6)
    pool = ledger_rules.account_code_fund_pool("KR")
    pool_before = account_balance(pool)
    start = today_in_tokyo() - timedelta(days=70)
    arrived(visit, start)
    # Months 1, 2 and 3 have begun by their due days; the job never ran.
    end = add_months(start, 2)

    done = visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=end)

    assert (done.state, done.ended_on) == (VisitState.ENDED, end)
    months = sorted(
        VisitPayment.objects.filter(visit=visit, kind=PaymentKind.STIPEND).values_list(
            "month", flat=True
        )
    )
    assert months == [1, 2, 3]
    assert committed(visit) == 0
    assert payable(visit) == TRAVEL + 3 * STIPEND
    assert account_balance(pool) == pool_before + 3 * STIPEND
    back = Transaction.objects.get(reference=f"visit:{visit.pk}:return")
    assert back.kind == "termination"
    assert AuditEvent.objects.filter(action="visit.departed", object_id=str(visit.pk)).exists()
    assert OutboxEvent.objects.filter(kind="visit.stipend_released").count() == 3
    assert ledger_verify().breaches == []


def test_a_departure_after_the_full_visit_returns_nothing():
    visit = awarded_visit(months=2)
    start = today_in_tokyo() - timedelta(days=80)
    arrived(visit, start)
    visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=add_months(start, 2))
    assert committed(visit) == 0
    assert payable(visit) == TRAVEL + 2 * STIPEND
    assert not Transaction.objects.filter(reference=f"visit:{visit.pk}:return").exists()


def test_a_departure_before_the_arrival_is_a_field_error():
    visit = awarded_visit()
    day = today_in_tokyo()
    arrived(visit, day)
    with pytest.raises(ValidationFailed) as refused:
        visit_confirm_departure(visit=visit, actor=officer(), ended_on=day - timedelta(days=1))
    assert "ended_on" in refused.value.errors
    assert Visit.objects.get(pk=visit.pk).state == VisitState.ACTIVE


def test_a_departure_before_any_arrival_is_refused_by_the_workflow():
    visit = awarded_visit()
    with pytest.raises(Conflict):
        visit_confirm_departure(visit=visit, actor=officer(), ended_on=today_in_tokyo())


# --------------------------------------------------------------------------- cancellation


def test_an_officer_cancels_before_the_arrival_and_everything_returns():
    visit = awarded_visit(months=4)
    pool = ledger_rules.account_code_fund_pool("KR")
    before = account_balance(pool)
    done = visit_cancel(visit=visit, actor=officer("KR"))
    assert done.state == VisitState.CANCELLED
    assert committed(visit) == 0
    assert account_balance(pool) == before + 4 * STIPEND + TRAVEL
    assert AuditEvent.objects.filter(action="visit.cancelled", object_id=str(visit.pk)).exists()


def test_only_an_officer_cancels_and_only_before_the_arrival():
    visit = awarded_visit()
    for actor in (visit.application.visitor, host_office(visit)):
        with pytest.raises(PermissionDenied):
            visit_cancel(visit=visit, actor=actor)
    arrived(visit, today_in_tokyo())
    with pytest.raises(Conflict):
        visit_cancel(visit=visit, actor=officer())


# --------------------------------------------------------------------------- final report


def ended(visit: Visit) -> Visit:
    day = today_in_tokyo()
    arrived(visit, day)
    return visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=day)


def test_the_visitor_files_the_final_report_and_the_visit_closes():
    visit = ended(awarded_visit())
    done = visit_final_report_submit(
        visit=visit, actor=visit.application.visitor, report={"ja": " 報告書 "}
    )
    assert done.state == VisitState.CLOSED
    assert (done.report_ja, done.report_en) == ("報告書", "")
    assert done.report_submitted_at is not None
    assert OutboxEvent.objects.filter(kind="visit.closed", object_id=str(visit.pk)).exists()


def test_the_final_report_needs_a_narrative_and_the_visitor():
    visit = ended(awarded_visit())
    with pytest.raises(ValidationFailed) as refused:
        visit_final_report_submit(visit=visit, actor=visit.application.visitor, report={})
    assert "report_en" in refused.value.errors
    with pytest.raises(ValidationFailed) as refused:
        visit_final_report_submit(
            visit=visit, actor=visit.application.visitor, report={"en": "x" * 20_001}
        )
    assert "report_en" in refused.value.errors
    with pytest.raises(PermissionDenied):
        visit_final_report_submit(visit=visit, actor=officer(), report={"en": "Done."})
    assert Visit.objects.get(pk=visit.pk).state == VisitState.ENDED


def test_a_report_before_the_departure_is_refused_by_the_workflow():
    visit = awarded_visit()
    arrived(visit, today_in_tokyo())
    with pytest.raises(Conflict):
        visit_final_report_submit(visit=visit, actor=visit.application.visitor, report={"en": "x"})


# --------------------------------------------------------------------------- reading


def test_the_ledger_and_the_history_read_the_visit_in_words():
    visit = awarded_visit()
    day = today_in_tokyo()
    arrived(visit, day)
    title = visit.application.title
    txns = Transaction.objects.filter(reference__startswith=f"visit:{visit.pk}:")
    described = transaction_descriptions(txns)
    by_reference = {t.reference: described[t.pk] for t in txns}
    assert by_reference[f"visit:{visit.pk}:commitment"] == (
        f"Visit “{title}”: stipends and travel committed"
    )
    assert by_reference[f"visit:{visit.pk}:travel"] == f"Visit “{title}”: travel lump sum released"
    assert "visitor's arrival on" in event_sentence(
        "visit.arrived", {"actor": "Ana", "arrived_on": day.isoformat()}
    )
