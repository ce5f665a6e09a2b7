"""Licence obligations (§23): the state machine, evidence and acceptance, the daily job
(idempotent, Asia/Tokyo days), two-person waivers and the answers to a breach."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import ProgrammingError, transaction
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.calendar import FUND_TIMEZONE
from fundapp.notifications.models import Notification, OutboxEvent
from ip_licensing import rules, tasks
from ip_licensing.models import BreachDecision, Licence, Obligation, ObligationWaiver
from ip_licensing.models.obligations import OBLIGATION_WORKFLOW
from ip_licensing.services.obligations import (
    breach_decide,
    breach_decision_decline,
    obligation_accept,
    obligation_create,
    obligation_submit_evidence,
    obligation_waive,
    obligation_waiver_withdraw,
    obligations_mark_due,
)
from projects.models import Fund
from tests.factories import member_of, officer
from tests.factories.licensing import World, days, make_licence, make_world
from tests.factories.obligations import (
    add_obligation,
    breached,
    exclusive_licence,
    overdue,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def world(db) -> World:
    return make_world()


def state_of(obligation: Obligation) -> str:
    obligation.refresh_from_db()
    return obligation.state


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("state", "today", "cure_ends", "expected"),
    [
        ("open", date(2026, 9, 30), None, None),  # the due day itself: still open
        ("open", date(2026, 10, 1), None, "overdue"),  # the day after
        ("overdue", date(2026, 11, 29), date(2026, 11, 29), None),  # last day of cure
        ("overdue", date(2026, 11, 30), date(2026, 11, 29), "breached"),
        ("met", date(2027, 1, 1), None, None),
        ("cured", date(2027, 1, 1), date(2026, 11, 29), None),
        ("waived", date(2027, 1, 1), None, None),
        ("breached", date(2027, 1, 1), date(2026, 11, 29), None),
    ],
)
def test_the_daily_rule_table(state, today, cure_ends, expected):
    step = rules.obligation_due(
        state=state, due_on=date(2026, 9, 30), cure_ends_on=cure_ends, cure_days=60, today=today
    )
    assert step.target == expected
    if expected == "overdue":
        # Sixty days, both ends included: 1 October … 29 November.
        assert (step.overdue_on, step.cure_ends_on) == (date(2026, 10, 1), date(2026, 11, 29))
    if expected == "breached":
        assert step.breached_on == date(2026, 11, 30)


def test_the_rule_counts_from_the_due_date_not_from_a_late_run():
    late = rules.obligation_due(
        state="open",
        due_on=date(2026, 9, 30),
        cure_ends_on=None,
        cure_days=60,
        today=date(2026, 10, 20),
    )
    assert (late.overdue_on, late.cure_ends_on) == (date(2026, 10, 1), date(2026, 11, 29))


# The workflow table (§23): every (source, target) pair, allowed or not, and by whom.
EDGES = {
    ("open", "met"): ("applicants", False),
    ("overdue", "cured"): ("applicants", False),
    ("open", "overdue"): ("system", False),
    ("overdue", "breached"): ("system", False),
    ("open", "waived"): ("officers", True),
    ("overdue", "waived"): ("officers", True),
}


@pytest.mark.parametrize("source", ["open", "met", "overdue", "cured", "breached", "waived"])
@pytest.mark.parametrize("target", ["open", "met", "overdue", "cured", "breached", "waived"])
def test_the_state_machine_table(source, target):
    edge = OBLIGATION_WORKFLOW.edge(source, target)
    if (source, target) not in EDGES:
        assert edge is None
        return
    assert edge is not None
    who, two_person = EDGES[(source, target)]
    assert edge.two_person is two_person
    assert {"applicants": "researcher", "system": "system", "officers": "fund_officer"}[
        who
    ] in edge.by
    if who == "system":
        assert edge.by == {"system"}


def test_the_database_refuses_a_move_the_table_does_not_allow(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    with pytest.raises(ProgrammingError, match="Invalid transition"), transaction.atomic():
        Obligation.objects.filter(pk=obligation.pk).update(
            state="breached", breached_on=days(1), overdue_on=days(0), cure_ends_on=days(0)
        )


# --------------------------------------------------------------------------- adding


def test_adding_checks_every_field_and_the_term(world):
    licence = exclusive_licence(world)
    with pytest.raises(ValidationFailed) as refused:
        add_obligation(world, licence, kind="promise", description_en="", due_on=days(400))
    errors = refused.value.errors
    assert set(errors) == {"kind", "description_en", "due_on"}
    assert not Obligation.objects.exists()


@pytest.mark.parametrize("who", ["office_licensee", "outsider"])
def test_only_the_licensor_or_officers_add_obligations(world, who):
    licence = exclusive_licence(world)
    with pytest.raises(PermissionDenied):
        obligation_create(
            licence=licence,
            actor=getattr(world, who),
            data={"kind": "report", "description_ja": "報告", "due_on": days(5).isoformat()},
        )
    add_obligation(world, licence)
    assert AuditEvent.objects.filter(action="obligation.created").count() == 1


# --------------------------------------------------------------------------- evidence


def test_evidence_then_acceptance_meets_an_open_obligation(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    with pytest.raises(Conflict):
        obligation_accept(obligation=obligation, actor=world.office_licensor)
    obligation_submit_evidence(
        obligation=obligation, actor=world.office_licensee, note="Invoice 2026-118."
    )
    assert Notification.objects.filter(
        message="obligation.evidence_submitted", user=world.office_licensor
    ).exists()
    with pytest.raises(PermissionDenied):
        obligation_accept(obligation=obligation, actor=world.office_licensee)
    met = obligation_accept(obligation=obligation, actor=world.office_licensor)
    assert met.state == "met" and met.accepted_by == world.office_licensor
    assert AuditEvent.objects.filter(action="obligation.met", object_id=str(obligation.pk)).exists()
    event = OutboxEvent.objects.get(kind="obligation.met")
    assert event.payload["state"] == "met"
    assert sorted(event.organisation_ids) == sorted([world.licensor.pk, world.licensee.pk])
    with pytest.raises(Conflict):
        obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="x")


def test_evidence_needs_a_note_and_the_licensee(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    with pytest.raises(ValidationFailed) as refused:
        obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note=" ")
    assert "note" in refused.value.errors
    for who in (world.office_licensor, world.outsider, world.jp):
        with pytest.raises(PermissionDenied):
            obligation_submit_evidence(obligation=obligation, actor=who, note="done")


def test_evidence_accepted_in_the_cure_period_cures(world):
    licence = exclusive_licence(world)
    obligation = overdue(world, licence)
    obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="Sold.")
    cured = obligation_accept(obligation=obligation, actor=world.jp)  # an officer accepts too
    assert cured.state == "cured"
    assert OutboxEvent.objects.filter(kind="obligation.cured").count() == 1


# --------------------------------------------------------------------------- the daily job


def test_overdue_the_day_after_the_due_date_with_a_cure_notice(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence, due_on=days(3))
    assert obligations_mark_due(today=days(3)) == {"overdue": [], "breached": []}
    assert state_of(obligation) == "open"
    assert obligations_mark_due(today=days(4)) == {"overdue": [obligation.pk], "breached": []}
    obligation.refresh_from_db()
    assert obligation.state == "overdue"
    assert obligation.overdue_on == days(4)
    assert obligation.cure_ends_on == days(4) + timedelta(days=59)
    event = OutboxEvent.objects.get(kind="obligation.overdue")
    assert event.payload["cure_ends_on"] == obligation.cure_ends_on.isoformat()
    notice = Notification.objects.get(message="obligation.overdue", user=world.office_licensee)
    assert notice.params["cure_ends"] == obligation.cure_ends_on.isoformat()
    assert Notification.objects.filter(
        message="obligation.overdue", user=world.office_licensor
    ).exists()
    assert AuditEvent.objects.filter(action="obligation.overdue").count() == 1


def test_the_job_is_idempotent(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence, due_on=days(3))
    obligations_mark_due(today=days(4))
    counts = (
        OutboxEvent.objects.count(),
        Notification.objects.count(),
        AuditEvent.objects.count(),
    )
    assert obligations_mark_due(today=days(4)) == {"overdue": [], "breached": []}
    assert obligations_mark_due(today=days(5)) == {"overdue": [], "breached": []}
    assert (
        OutboxEvent.objects.count(),
        Notification.objects.count(),
        AuditEvent.objects.count(),
    ) == counts
    assert state_of(obligation) == "overdue"


def test_breached_the_day_after_the_cure_period_and_officers_are_told(world):
    licence = exclusive_licence(world)
    obligation = overdue(world, licence, due_on=days(1))
    assert obligation.cure_ends_on is not None
    obligations_mark_due(today=obligation.cure_ends_on)
    assert state_of(obligation) == "overdue"
    moved = obligations_mark_due(today=obligation.cure_ends_on + timedelta(days=1))
    assert moved == {"overdue": [], "breached": [obligation.pk]}
    obligation.refresh_from_db()
    assert obligation.breached_on == obligation.cure_ends_on + timedelta(days=1)
    assert OutboxEvent.objects.filter(kind="obligation.breached").count() == 1
    assert Notification.objects.filter(message="obligation.breached", user=world.jp).exists()


def test_the_cure_period_is_the_funds_policy(world):
    Fund.objects.update(cure_days=10)
    licence = exclusive_licence(world)
    obligation = overdue(world, licence, due_on=days(1))
    assert obligation.cure_ends_on == days(2) + timedelta(days=9)


def test_a_job_that_did_not_run_for_the_whole_cure_period_catches_up(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence, due_on=days(1))
    moved = obligations_mark_due(today=days(100))
    assert moved == {"overdue": [obligation.pk], "breached": [obligation.pk]}
    obligation.refresh_from_db()
    assert (obligation.overdue_on, obligation.breached_on) == (days(2), days(62))


# Lock and read, bulk update, licences, audit, outbox, research offices, officers,
# notifications (and their savepoints): the same for 2 obligations as for 12.
JOB_QUERIES = 20


@pytest.mark.parametrize("n", [2, 12])
def test_the_job_runs_in_a_fixed_number_of_queries(world, django_assert_max_num_queries, n):
    licence = exclusive_licence(world)
    for _ in range(n):
        add_obligation(world, licence, due_on=days(1))
    with django_assert_max_num_queries(JOB_QUERIES):
        moved = obligations_mark_due(today=days(2))
    assert len(moved["overdue"]) == n


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        # 23:59 JST on the due day: not yet overdue.
        (datetime(2026, 9, 30, 23, 59, tzinfo=FUND_TIMEZONE), "open"),
        # 00:00 JST the next day (15:00 UTC on the due day): overdue.
        (datetime(2026, 10, 1, 0, 0, tzinfo=FUND_TIMEZONE), "overdue"),
    ],
)
def test_the_task_takes_the_day_in_tokyo(world, monkeypatch, clock, expected):
    licence = make_licence(
        world,
        exclusivity="exclusive",
        start_on="2026-01-01",
        end_on="2027-12-31",
    )
    obligation = add_obligation(world, licence, due_on=date(2026, 9, 30))
    monkeypatch.setattr(timezone, "now", lambda: clock.astimezone(UTC))
    tasks.obligations_mark_due.apply().get()
    assert state_of(obligation) == expected


# --------------------------------------------------------------------------- waivers


def test_two_officers_of_two_sides_waive(world):
    licence = exclusive_licence(world)
    obligation = overdue(world, licence)
    with pytest.raises(ValidationFailed):
        obligation_waive(obligation=obligation, actor=world.jp, reason="")
    with pytest.raises(PermissionDenied):
        obligation_waive(obligation=obligation, actor=world.office_licensor, reason="Why not.")
    first = obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    assert first.state == "overdue"
    assert Notification.objects.filter(message="obligation.waiver_awaits", user=world.kr).exists()
    with pytest.raises(PermissionDenied):
        obligation_waive(obligation=obligation, actor=world.jp2, reason="Same side.")
    waived = obligation_waive(obligation=obligation, actor=world.kr, reason="Agreed.")
    assert waived.state == "waived"
    assert waived.waiver_reason == "Market closed."
    assert AuditEvent.objects.filter(action="obligation_waiver.completed").count() == 1
    assert AuditEvent.objects.filter(action="obligation.waived").count() == 1
    with pytest.raises(Conflict):
        obligation_waive(obligation=obligation, actor=world.jp, reason="Again.")


def test_a_withdrawn_waiver_leaves_the_obligation_as_it_was(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    waiver = ObligationWaiver.objects.get()
    obligation_waiver_withdraw(waiver=waiver, actor=world.jp)
    assert state_of(obligation) == "open"
    obligation_waive(obligation=obligation, actor=world.kr, reason="Start again.")
    assert ObligationWaiver.objects.filter(state="pending").count() == 1


def test_a_breached_obligation_cannot_be_waived_or_accepted(world):
    licence = exclusive_licence(world)
    obligation = breached(world, licence)
    with pytest.raises(Conflict):
        obligation_waive(obligation=obligation, actor=world.jp, reason="Late.")
    with pytest.raises(Conflict):
        obligation_accept(obligation=obligation, actor=world.jp)


# --------------------------------------------------------------------------- breach answers


def test_officers_convert_an_exclusive_licence_after_a_breach(world):
    licence = exclusive_licence(world)
    obligation = breached(world, licence)
    decision = breach_decide(
        licence=licence, obligation=obligation, actor=world.jp, remedy="convert", reason="No sale."
    )
    assert decision.state == "pending"
    licence.refresh_from_db()
    assert licence.exclusivity == "exclusive"
    with pytest.raises(Conflict):
        breach_decide(
            licence=licence, obligation=obligation, actor=world.kr, remedy="terminate", reason="x"
        )
    breach_decide(
        licence=licence, obligation=obligation, actor=world.kr, remedy="convert", reason="Agreed."
    )
    licence.refresh_from_db()
    assert licence.exclusivity == "non_exclusive"
    assert licence.exclusivity_lost_on is not None
    assert AuditEvent.objects.filter(action="licence.converted_non_exclusive").count() == 1
    assert OutboxEvent.objects.filter(kind="licence.converted_non_exclusive").count() == 1
    with pytest.raises(Conflict):
        breach_decide(
            licence=licence, obligation=obligation, actor=world.jp, remedy="convert", reason="y"
        )
    # The licence is non-exclusive: another licence of the same field may now be granted.
    make_licence(world, licensee=world.other)


@pytest.mark.parametrize(
    ("remedy", "state"), [("suspend", "suspended"), ("terminate", "terminated")]
)
def test_officers_suspend_or_terminate_after_a_breach(world, remedy, state):
    licence = exclusive_licence(world)
    obligation = breached(world, licence)
    breach_decide(licence=licence, obligation=obligation, actor=world.kr, remedy=remedy, reason="r")
    breach_decide(licence=licence, obligation=obligation, actor=world.jp, remedy=remedy, reason="r")
    licence.refresh_from_db()
    assert licence.state == state
    assert OutboxEvent.objects.filter(kind=f"licence.{state}").count() == 1


def test_a_breach_answer_needs_a_breached_obligation_of_an_exclusive_licence(world):
    plain = make_licence(world, licensee=world.other)
    obligation = breached(world, plain)
    with pytest.raises(Conflict):
        breach_decide(
            licence=plain, obligation=obligation, actor=world.jp, remedy="suspend", reason="r"
        )
    licence = exclusive_licence(world, assets=[world.asset2])
    open_one = add_obligation(world, licence)
    with pytest.raises(Conflict):
        breach_decide(
            licence=licence, obligation=open_one, actor=world.jp, remedy="convert", reason="r"
        )
    with pytest.raises(ValidationFailed):
        breach_decide(
            licence=licence, obligation=open_one, actor=world.jp, remedy="sell", reason="r"
        )
    assert not BreachDecision.objects.exists()


def test_a_declined_breach_answer_changes_nothing(world):
    licence = exclusive_licence(world)
    obligation = breached(world, licence)
    decision = breach_decide(
        licence=licence, obligation=obligation, actor=world.jp, remedy="terminate", reason="r"
    )
    breach_decision_decline(decision=decision, actor=world.kr, reason="Too harsh.")
    licence.refresh_from_db()
    assert licence.state == "active"
    assert BreachDecision.objects.get().state == "declined"


def test_an_unrelated_member_is_not_an_officer(world):
    someone = member_of(world.unrelated)
    licence = exclusive_licence(world)
    obligation = breached(world, licence)
    for who in (someone, world.office_licensor, officer("")):
        with pytest.raises(PermissionDenied):
            breach_decide(
                licence=licence, obligation=obligation, actor=who, remedy="convert", reason="r"
            )
    assert Licence.objects.get(pk=licence.pk).exclusivity == "exclusive"


# --------------------------------------------------------------------------- a waiver whose
# obligation is settled meanwhile


def assert_waiver_cancelled(world: World, obligation: Obligation, settled: str) -> None:
    """The waiver is cancelled (its own audit event), the obligation's history says so,
    and a second approval arriving afterwards answers 409 naming the cancellation."""
    from fundapp.accounts.templatetags.fund_format import audit_sentence

    waiver = ObligationWaiver.objects.get(obligation=obligation)
    assert waiver.state == "cancelled"
    assert (
        AuditEvent.objects.filter(
            action="obligation_waiver.cancelled", object_id=str(waiver.pk)
        ).count()
        == 1
    )
    [history] = AuditEvent.objects.filter(
        action="obligation.waiver_cancelled", object_id=str(obligation.pk)
    )
    assert history.after == {
        "state": settled,
        "waiver": waiver.pk,
        "licence": obligation.licence_id,
    }
    label = {"met": "Met", "cured": "Cured", "breached": "Breached"}[settled]
    assert audit_sentence(history) == (
        f"The waiver awaiting a second approval was cancelled: the obligation became {label}"
    )
    with pytest.raises(Conflict) as refused:
        obligation_waive(obligation=obligation, actor=world.kr, reason="Agreed.")
    assert refused.value.code == "waiver_cancelled"
    assert "cancelled" in str(refused.value)
    assert state_of(obligation) == settled
    assert ObligationWaiver.objects.get(pk=waiver.pk).state == "cancelled"


def test_a_pending_waiver_is_cancelled_when_the_obligation_is_met(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="Sold.")
    obligation_accept(obligation=obligation, actor=world.office_licensor)
    assert_waiver_cancelled(world, obligation, "met")
    # The accepting person cancelled it (the audit names them).
    cancelled = AuditEvent.objects.get(action="obligation_waiver.cancelled")
    assert cancelled.actor_user_id == world.office_licensor.pk


def test_a_pending_waiver_is_cancelled_when_the_obligation_is_cured(world):
    licence = exclusive_licence(world)
    obligation = overdue(world, licence)
    obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="Sold.")
    obligation_accept(obligation=obligation, actor=world.jp)
    assert_waiver_cancelled(world, obligation, "cured")


def test_a_pending_waiver_is_cancelled_when_the_job_breaches_the_obligation(world):
    licence = exclusive_licence(world)
    obligation = overdue(world, licence)
    obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    assert obligation.cure_ends_on is not None
    moved = obligations_mark_due(today=obligation.cure_ends_on + timedelta(days=1))
    assert moved["breached"] == [obligation.pk]
    assert_waiver_cancelled(world, obligation, "breached")
    cancelled = AuditEvent.objects.get(action="obligation_waiver.cancelled")
    assert cancelled.actor_user_id is None  # the fund's daily job
    # A rerun cancels nothing more.
    obligations_mark_due(today=obligation.cure_ends_on + timedelta(days=2))
    assert AuditEvent.objects.filter(action="obligation_waiver.cancelled").count() == 1


def test_a_waiver_of_an_obligation_that_stays_pending_is_left_alone(world):
    """Becoming overdue is no settlement: the waiver still awaits its second approval."""
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence, due_on=days(1))
    obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    obligations_mark_due(today=days(2))
    assert state_of(obligation) == "overdue"
    assert ObligationWaiver.objects.get().state == "pending"
    assert obligation_waive(obligation=obligation, actor=world.kr, reason="Ok.").state == "waived"


# Breaching and cancelling the waivers: the lock and read, the bulk update, the waivers'
# lock, update and two audit statements, then as for JOB_QUERIES.
BREACH_JOB_QUERIES = 24


@pytest.mark.parametrize("n", [2, 12])
def test_the_job_cancels_the_waivers_in_a_fixed_number_of_queries(
    world, django_assert_max_num_queries, n
):
    licence = exclusive_licence(world)
    obligations = [add_obligation(world, licence, due_on=days(1)) for _ in range(n)]
    obligations_mark_due(today=days(2))
    for obligation in obligations:
        obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    obligations[0].refresh_from_db()
    assert obligations[0].cure_ends_on is not None
    with django_assert_max_num_queries(BREACH_JOB_QUERIES):
        moved = obligations_mark_due(today=obligations[0].cure_ends_on + timedelta(days=1))
    assert len(moved["breached"]) == n
    assert ObligationWaiver.objects.filter(state="cancelled").count() == n
    assert AuditEvent.objects.filter(action="obligation.waiver_cancelled").count() == n


# --------------------------------------------------------------------------- a job that missed
# days


def test_a_job_that_missed_days_still_sends_the_cure_notice_with_the_true_days(world):
    """The machine was down from the day after the due date: the first run days later
    makes the obligation overdue, sends the one cure notice, and records the days from the
    due date; the next runs send nothing more."""
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence, due_on=days(1))
    moved = obligations_mark_due(today=days(6))
    assert moved == {"overdue": [obligation.pk], "breached": []}
    obligation.refresh_from_db()
    assert (obligation.overdue_on, obligation.cure_ends_on) == (days(2), days(61))
    for user in (world.office_licensee, world.office_licensor):
        notice = Notification.objects.get(message="obligation.overdue", user=user)
        assert notice.params["cure_ends"] == days(61).isoformat()
    assert OutboxEvent.objects.filter(kind="obligation.overdue").count() == 1
    assert obligations_mark_due(today=days(7)) == {"overdue": [], "breached": []}
    # Down again over the end of the cure period: breached on the next run, once.
    assert obligations_mark_due(today=days(70)) == {"overdue": [], "breached": [obligation.pk]}
    obligation.refresh_from_db()
    assert obligation.breached_on == days(62)
    assert obligations_mark_due(today=days(71)) == {"overdue": [], "breached": []}
    assert OutboxEvent.objects.filter(kind="obligation.breached").count() == 1
    assert Notification.objects.filter(message="obligation.breached", user=world.jp).count() == 1


def later_by(monkeypatch, count: int) -> None:
    """Move the clock ``count`` days on (the machine was down meanwhile)."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(days=count))


def test_evidence_after_the_cure_period_is_refused_though_the_job_did_not_run(world, monkeypatch):
    licence = exclusive_licence(world)
    in_time, too_late = (overdue(world, licence, due_on=days(1)) for _ in range(2))
    assert in_time.cure_ends_on == too_late.cure_ends_on == days(61)
    for obligation in (in_time, too_late):
        obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="Sold.")
    later_by(monkeypatch, 61)  # the last day of the cure period: still cured
    assert obligation_accept(obligation=in_time, actor=world.jp).state == "cured"
    later_by(monkeypatch, 1)  # the day after; the job has not run since
    with pytest.raises(Conflict) as refused:
        obligation_accept(obligation=too_late, actor=world.jp)
    assert refused.value.code == "cure_period_over"
    assert state_of(too_late) == "overdue"
    assert obligations_mark_due(today=days(0))["breached"] == [too_late.pk]


def test_evidence_for_an_obligation_the_job_never_made_overdue_respects_the_cure_period(
    world, monkeypatch
):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence, due_on=days(1))
    obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="Sold.")
    later_by(monkeypatch, 62)  # due + 60 days of cure have passed; the job never ran
    with pytest.raises(Conflict) as refused:
        obligation_accept(obligation=obligation, actor=world.office_licensor)
    assert refused.value.code == "cure_period_over"
    assert state_of(obligation) == "open"
    moved = obligations_mark_due(today=days(0))
    assert moved == {"overdue": [obligation.pk], "breached": [obligation.pk]}
