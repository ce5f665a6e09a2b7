"""Stage report reminders (§24, §16): 30, 7 and 1 days before the due date (14 days before
the gate day) and once overdue; each sent once whatever reruns; the fund's day is the
Asia/Tokyo day; a fixed number of queries whatever the number of stages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.utils import timezone
from django.utils.translation import override

from fundapp.accounts.templatetags.fund_format import audit_sentence
from fundapp.audit.models import AuditEvent
from fundapp.kernel.calendar import FUND_TIMEZONE
from fundapp.notifications.models import Notification
from projects.models import ReminderKind, ReportReminder, Stage
from projects.schedules import SCHEDULES, DailyAt
from projects.selectors.reports import report_due_on
from projects.services.reports import report_reminders_send, report_submit
from projects.tasks import stage_report_reminders
from tests.factories.engine import make_staff
from tests.factories.reports import ReportWorld, filled_report, report_world
from tests.outbox import events_of, the_event

pytestmark = pytest.mark.django_db

NOTHING: dict[str, list[int]] = {"30": [], "7": [], "1": [], "overdue": []}


@pytest.fixture
def w():
    return report_world()


def due(w: ReportWorld) -> date:
    return report_due_on(w.stage1.gate.due_on)


def sent(w: ReportWorld, today: date) -> dict[str, list[int]]:
    return report_reminders_send(today=today)


def test_each_reminder_goes_out_once_on_its_day(w):
    d = due(w)
    stage = w.stage1.pk

    assert sent(w, d - timedelta(days=31)) == NOTHING
    assert sent(w, d - timedelta(days=30)) == {**NOTHING, "30": [stage]}
    # The same day again (a rerun, a redelivered task): nothing more.
    assert sent(w, d - timedelta(days=30)) == NOTHING
    assert sent(w, d - timedelta(days=8)) == NOTHING
    assert sent(w, d - timedelta(days=7)) == {**NOTHING, "7": [stage]}
    assert sent(w, d - timedelta(days=1)) == {**NOTHING, "1": [stage]}
    assert sent(w, d) == NOTHING
    assert sent(w, d + timedelta(days=1)) == {**NOTHING, "overdue": [stage]}
    assert sent(w, d + timedelta(days=2)) == NOTHING

    assert sorted(ReportReminder.objects.values_list("kind", flat=True)) == sorted(
        ReminderKind.values
    )
    # Each PI heard four times; the fund officers only of the overdue report.
    for pi in (w.c.pi_jp, w.c.pi_kr):
        assert list(
            Notification.objects.filter(user=pi)
            .filter(message__startswith="report.")
            .order_by("id")
            .values_list("message", flat=True)
        ) == ["report.due", "report.due", "report.due", "report.overdue"]
    assert list(Notification.objects.filter(user=w.staff.jp).values_list("message", flat=True)) == [
        "report.overdue"
    ]


def test_a_missed_day_sends_the_reminder_late_but_never_a_stale_one(w):
    d = due(w)
    # The job did not run 30 days before: the 30-day reminder goes out 20 days before.
    assert sent(w, d - timedelta(days=20))["30"] == [w.stage1.pk]
    # Nor 7 or 1 days before: on the due date only the 1-day one is sent.
    assert sent(w, d) == {**NOTHING, "1": [w.stage1.pk]}


def test_overdue_is_a_webhook_event_for_the_projects_organisations_and_a_sentence(w):
    d = due(w)
    sent(w, d + timedelta(days=3))
    sent(w, d + timedelta(days=4))

    stage = Stage.objects.get(pk=w.stage1.pk)
    data = the_event("report.overdue", stage, organisations=[w.c.jp.pk, w.c.kr.pk, w.partner.pk])
    assert data["state"] == "missing"
    assert data["report"] is None
    assert data["days_overdue"] == 3
    assert data["due_on"] == d.isoformat()
    event = AuditEvent.objects.get(action="report.overdue")
    with override("en"):
        sentence = audit_sentence(event)
    assert sentence.startswith("The report on stage 1 is overdue")
    with override("ko"):
        assert "1" in audit_sentence(event) and audit_sentence(event) != sentence


def test_a_submitted_report_is_not_reminded_and_a_draft_is(w):
    d = due(w)
    report = filled_report(w)
    assert sent(w, d + timedelta(days=1))["overdue"] == [w.stage1.pk]
    data = the_event(
        "report.overdue",
        Stage.objects.get(pk=w.stage1.pk),
        organisations=[w.c.jp.pk, w.c.kr.pk, w.partner.pk],
    )
    assert (data["report"], data["state"]) == (report.pk, "draft")

    other = report_world(staff=w.staff)
    report_submit(report=filled_report(other), actor=other.c.pi_jp)
    assert sent(other, due(other) + timedelta(days=1)) == NOTHING


def test_an_extended_gate_is_reminded_of_its_new_due_date(w):
    d = due(w)
    assert sent(w, d + timedelta(days=1))["overdue"] == [w.stage1.pk]
    gate = w.stage1.gate
    gate.due_on = gate.due_on + timedelta(days=60)
    gate.save(update_fields=["due_on"])

    assert sent(w, d + timedelta(days=60 - 30))["30"] == [w.stage1.pk]
    assert len(events_of("report.overdue")) == 1


def _at_tokyo(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=FUND_TIMEZONE).astimezone(UTC)


def test_the_job_counts_days_in_tokyo_not_utc(w, monkeypatch):
    d = due(w)
    first_day = d - timedelta(days=30)
    # 23:59:59 in Tokyo the day before is 14:59:59 UTC: not yet the day.
    monkeypatch.setattr(
        timezone, "now", lambda: _at_tokyo(first_day - timedelta(days=1), 23, 59, 59)
    )
    assert stage_report_reminders.apply().get() == NOTHING
    # Midnight in Tokyo (15:00 UTC, still the day before in UTC): the day has come.
    midnight = _at_tokyo(first_day, 0)
    assert midnight.date() == first_day - timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: midnight)
    assert stage_report_reminders.apply().get() == {**NOTHING, "30": [w.stage1.pk]}
    assert stage_report_reminders.apply().get() == NOTHING


def test_the_job_is_late_acknowledged_and_scheduled_daily_in_tokyo():
    assert stage_report_reminders.name == "projects.stage_report_reminders"
    assert stage_report_reminders.acks_late is True
    (schedule,) = [s for s in SCHEDULES if s.task == "projects.stage_report_reminders"]
    assert isinstance(schedule.when, DailyAt)
    assert schedule.when.timezone == "Asia/Tokyo"


def test_the_job_reads_a_fixed_number_of_queries_at_two_sizes(django_assert_num_queries):
    staff = make_staff()
    small = [report_world(staff=staff)]
    day = due(small[0]) + timedelta(days=1)
    with django_assert_num_queries(12):
        assert len(report_reminders_send(today=day)["overdue"]) == 1

    larger = [report_world(staff=staff) for _ in range(3)]
    day = max(due(x) for x in larger) + timedelta(days=1)
    with django_assert_num_queries(12):
        assert len(report_reminders_send(today=day)["overdue"]) == 3
