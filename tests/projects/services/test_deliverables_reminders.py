"""Deliverable reminders (§24, §16): 7 and 1 days before the due date and once overdue, to
the project's PIs; each once whatever reruns; the fund's day is the Asia/Tokyo day; a
fixed number of queries whatever the number of deliverables."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.translation import override

from fundapp.accounts.templatetags.fund_format import audit_sentence
from fundapp.audit.models import AuditEvent
from fundapp.kernel.calendar import FUND_TIMEZONE
from fundapp.notifications.messages import notifications_render
from fundapp.notifications.models import Notification
from projects.models import Deliverable, DeliverableReminder
from projects.schedules import SCHEDULES, DailyAt
from projects.services.deliverables import (
    deliverable_reminders_send,
    deliverable_request_changes,
    deliverable_submit,
)
from projects.tasks import deliverable_reminders
from tests.factories.engine import award, deliverable, engine_proposal, fund_pools, make_staff
from tests.factories.proposals import MINIMAL_PDF
from tests.outbox import events_of, the_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

NOTHING: dict[str, list[int]] = {"7": [], "1": [], "overdue": []}
START = date(2026, 4, 1)
# Six months into stage 1.
DUE = date(2026, 10, 1)


def project_with_deliverables(staff):
    proposal, c = engine_proposal(
        deliverables={
            1: [
                deliverable("Test-chip report", due_month=6),
                deliverable("Benchmark dataset", kind="dataset", mandatory=False),
            ],
            # A planned stage's deliverables wait for their stage.
            2: [deliverable("Prototype", kind="prototype", due_month=1)],
        }
    )
    return award(proposal, staff, started_on=START), c


@pytest.fixture
def staff():
    s = make_staff()
    fund_pools(s)
    return s


@pytest.fixture
def world(staff):
    project, c = project_with_deliverables(staff)
    return project, c, Deliverable.objects.get(project=project, title_en="Test-chip report")


def test_each_reminder_goes_out_once_on_its_day_to_the_pis(world, staff):
    project, c, report = world
    send = deliverable_reminders_send

    assert send(today=DUE - timedelta(days=8)) == NOTHING
    assert send(today=DUE - timedelta(days=7)) == {**NOTHING, "7": [report.pk]}
    # The same day again (a rerun, a redelivered task): nothing more.
    assert send(today=DUE - timedelta(days=7)) == NOTHING
    assert send(today=DUE - timedelta(days=2)) == NOTHING
    assert send(today=DUE - timedelta(days=1)) == {**NOTHING, "1": [report.pk]}
    assert send(today=DUE) == NOTHING
    assert send(today=DUE + timedelta(days=1)) == {**NOTHING, "overdue": [report.pk]}
    assert send(today=DUE + timedelta(days=2)) == NOTHING
    assert send(today=DUE + timedelta(days=40)) == NOTHING

    assert sorted(DeliverableReminder.objects.values_list("kind", flat=True)) == [
        "1",
        "7",
        "overdue",
    ]
    for pi in (c.pi_jp, c.pi_kr):
        told = list(
            Notification.objects.filter(user=pi, message__startswith="deliverable.").order_by("id")
        )
        assert [n.message for n in told] == [
            "deliverable.due",
            "deliverable.due",
            "deliverable.overdue",
        ]
        assert told[0].kind == "deliverable_due"
        shown = notifications_render([told[-1]], language="en")[0]
        assert "“Test-chip report”" in shown.shown_title and "overdue" in shown.shown_title
    # The officers are not told; nor anyone else of the project.
    assert not Notification.objects.filter(user=staff.jp, message__startswith="deliverable.")


def test_a_missed_day_sends_the_reminder_late_but_never_a_stale_one(world):
    _project, _c, report = world
    assert deliverable_reminders_send(today=DUE - timedelta(days=4))["7"] == [report.pk]
    assert deliverable_reminders_send(today=DUE) == {**NOTHING, "1": [report.pk]}


def test_overdue_is_a_webhook_event_for_the_projects_organisations_and_a_sentence(world):
    project, c, report = world
    deliverable_reminders_send(today=DUE + timedelta(days=3))

    organisations = list(project.organisations.values_list("organisation_id", flat=True))
    data = the_event("deliverable.overdue", report, organisations=organisations)
    assert data["days_overdue"] == 3
    assert data["due_on"] == DUE.isoformat()
    assert data["state"] == "pending" and data["files"] == []
    event = AuditEvent.objects.get(action="deliverable.overdue")
    with override("en"):
        sentence = audit_sentence(event)
    assert "Test-chip report" in sentence and "overdue" in sentence
    with override("ja"):
        assert audit_sentence(event) != sentence
    assert AuditEvent.objects.filter(action="deliverable.reminder_sent").count() == 0


def test_only_what_the_consortium_still_owes_is_reminded(world, staff):
    _project, c, report = world
    upload = SimpleUploadedFile("r.pdf", MINIMAL_PDF, content_type="application/pdf")
    deliverable_submit(deliverable=report, actor=c.pi_jp, files=[upload])
    # Awaiting the officers: not the consortium's to do.
    assert deliverable_reminders_send(today=DUE + timedelta(days=1)) == NOTHING

    deliverable_request_changes(deliverable=report, actor=staff.jp, reason="Add the logs.")
    assert deliverable_reminders_send(today=DUE + timedelta(days=1)) == {
        **NOTHING,
        "overdue": [report.pk],
    }
    data = the_event("deliverable.overdue", report, organisations=_organisations(report))
    assert data["state"] == "changes_requested" and len(data["files"]) == 1


def _organisations(row: Deliverable) -> list[int]:
    return list(row.project.organisations.values_list("organisation_id", flat=True))


def test_a_re_dated_deliverable_is_reminded_of_its_new_date(world):
    _project, _c, report = world
    assert deliverable_reminders_send(today=DUE + timedelta(days=1))["overdue"] == [report.pk]
    later = DUE + timedelta(days=60)
    Deliverable.objects.filter(pk=report.pk).update(due_on=later)

    assert deliverable_reminders_send(today=later - timedelta(days=7))["7"] == [report.pk]
    assert deliverable_reminders_send(today=later + timedelta(days=1))["overdue"] == [report.pk]
    assert len(events_of("deliverable.overdue", report)) == 2


def _at_tokyo(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=FUND_TIMEZONE).astimezone(UTC)


def test_the_job_counts_days_in_tokyo_not_utc(world, monkeypatch):
    _project, _c, report = world
    first_day = DUE - timedelta(days=7)
    # 23:59:59 in Tokyo the day before is 14:59:59 UTC: not yet the day.
    monkeypatch.setattr(
        timezone, "now", lambda: _at_tokyo(first_day - timedelta(days=1), 23, 59, 59)
    )
    assert deliverable_reminders.apply().get() == NOTHING
    # Midnight in Tokyo (15:00 UTC, still the day before in UTC): the day has come.
    midnight = _at_tokyo(first_day, 0)
    assert midnight.date() == first_day - timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: midnight)
    assert deliverable_reminders.apply().get() == {**NOTHING, "7": [report.pk]}
    assert deliverable_reminders.apply().get() == NOTHING


def test_the_job_is_late_acknowledged_and_scheduled_daily_in_tokyo():
    assert deliverable_reminders.name == "projects.deliverable_reminders"
    assert deliverable_reminders.acks_late is True
    (schedule,) = [s for s in SCHEDULES if s.task == "projects.deliverable_reminders"]
    assert isinstance(schedule.when, DailyAt)
    assert (schedule.when.hour, schedule.when.minute) == (0, 20)
    assert schedule.when.timezone == "Asia/Tokyo"


def test_the_job_reads_a_fixed_number_of_queries_at_two_sizes(staff, django_assert_num_queries):
    project_with_deliverables(staff)
    day = DUE + timedelta(days=1)
    with django_assert_num_queries(12):
        assert len(deliverable_reminders_send(today=day)["overdue"]) == 1

    for _ in range(3):
        project_with_deliverables(staff)
    with django_assert_num_queries(12):
        assert len(deliverable_reminders_send(today=day)["overdue"]) == 3
