"""The daily jobs (§16): activation and expiry by the term, and expiry reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fundapp.accounts.templatetags.fund_format import format_local_date
from fundapp.audit.models import AuditEvent
from fundapp.celery import app as celery_app
from fundapp.notifications.messages import notifications_render
from fundapp.notifications.models import Notification
from ip_licensing import tasks
from ip_licensing.models import Licence
from ip_licensing.services.licences import (
    licence_expiry_reminders,
    licence_suspend,
    licence_terminate,
    licences_activate_and_expire,
    tokyo_today,
)
from projects.schedules import SCHEDULES, DailyAt
from tests.factories.licences import World as LicencesWorld
from tests.factories.licences import approved, days, draft
from tests.factories.licences import make_world as make_licences_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upfront_posts")]


@pytest.fixture
def world(db) -> LicencesWorld:
    """The licence services' world (tests.factories.licences)."""
    return make_licences_world()


def state(licence: Licence) -> str:
    licence.refresh_from_db()

    return licence.state


# -- activation and expiry -----------------------------------------------------------------


def test_an_approved_licence_activates_on_its_start_day_once(world, upfront_posts):
    licence = approved(world, start_on=days(10).isoformat(), end_on=days(40).isoformat())
    assert upfront_posts == []

    assert licences_activate_and_expire(today=days(9)) == {"activated": [], "expired": []}
    assert state(licence) == "approved"

    assert licences_activate_and_expire(today=days(10)) == {
        "activated": [licence.pk],
        "expired": [],
    }
    assert state(licence) == "active"
    assert licence.activated_at is not None
    assert upfront_posts == [licence.pk]
    event = AuditEvent.objects.get(action="licence.activated", object_id=str(licence.pk))
    assert event.after is not None
    assert (event.actor_label, event.before, event.after["state"]) == (
        "system",
        {"state": "approved"},
        "active",
    )

    # Rerunning the day (a redelivered message, a second worker) changes nothing.
    assert licences_activate_and_expire(today=days(10)) == {"activated": [], "expired": []}
    assert (
        AuditEvent.objects.filter(action="licence.activated", object_id=str(licence.pk)).count()
        == 1
    )


def test_the_end_day_is_inclusive_and_expiry_comes_the_day_after(world):
    licence = approved(world, end_on=days(30).isoformat())
    assert state(licence) == "active"

    assert licences_activate_and_expire(today=days(30))["expired"] == []
    assert state(licence) == "active"

    assert licences_activate_and_expire(today=days(31))["expired"] == [licence.pk]
    assert state(licence) == "expired"
    assert (licence.ended_at is not None, licence.end_reason) == (True, "term ended")
    told = set(Notification.objects.filter(kind="licence_expired").values_list("user", flat=True))
    assert {world.office_licensor.pk, world.office_licensee.pk} <= told
    assert licences_activate_and_expire(today=days(32))["expired"] == []
    assert (
        Notification.objects.filter(kind="licence_expired", user=world.office_licensor).count() == 1
    )


def test_suspended_licences_expire_too_and_ended_ones_are_left_alone(world):
    suspended = approved(world, end_on=days(5).isoformat())
    licence_suspend(licence=suspended, actor=world.jp, reason="Audit.")
    terminated = approved(world, end_on=days(5).isoformat(), territories=["US"])
    licence_terminate(licence=terminated, actor=world.jp, reason="Breach.")
    a_draft = draft(world, end_on=days(5).isoformat())

    result = licences_activate_and_expire(today=days(6))

    assert result["expired"] == [suspended.pk]
    assert (state(suspended), state(terminated), state(a_draft)) == (
        "expired",
        "terminated",
        "draft",
    )


def test_an_approved_licence_whose_whole_term_passed_is_activated_then_expired(
    world, upfront_posts
):
    licence = approved(world, start_on=days(1).isoformat(), end_on=days(3).isoformat())

    result = licences_activate_and_expire(today=days(4))

    assert result == {"activated": [licence.pk], "expired": [licence.pk]}
    assert state(licence) == "expired"
    assert upfront_posts == [licence.pk]


def test_an_active_licence_with_its_upfront_fee_unposted_is_caught_up(world, upfront_posts):
    licence = approved(world)
    assert upfront_posts == [licence.pk]
    licences_activate_and_expire(today=tokyo_today())
    assert upfront_posts == [licence.pk]  # posted: nothing to catch up

    Licence.objects.filter(pk=licence.pk).update(upfront_posted=False)  # the posting failed
    licences_activate_and_expire(today=tokyo_today())
    assert upfront_posts == [licence.pk, licence.pk]
    licences_activate_and_expire(today=tokyo_today())
    assert upfront_posts == [licence.pk, licence.pk]


# -- reminders -----------------------------------------------------------------------------


def reminders(licence: Licence) -> list[str]:
    """The reminders' titles as an English reader reads them."""
    rows = Notification.objects.filter(kind="licence_expiring", user=licence.created_by)
    return [n.shown_title for n in notifications_render(rows.order_by("id"), language="en")]


def test_reminders_go_out_30_and_7_days_before_the_end_once_each(world):
    end = days(60)
    licence = approved(world, end_on=end.isoformat())

    assert licence_expiry_reminders(today=end - timedelta(days=31)) == {"30": [], "7": []}
    assert licence_expiry_reminders(today=end - timedelta(days=30)) == {"30": [licence.pk], "7": []}
    assert licence_expiry_reminders(today=end - timedelta(days=30)) == {"30": [], "7": []}
    assert licence_expiry_reminders(today=end - timedelta(days=20)) == {"30": [], "7": []}
    assert licence_expiry_reminders(today=end - timedelta(days=7)) == {"30": [], "7": [licence.pk]}
    assert licence_expiry_reminders(today=end - timedelta(days=6)) == {"30": [], "7": []}

    licence.refresh_from_db()
    assert licence.reminded_30_at is not None and licence.reminded_7_at is not None
    assert len(reminders(licence)) == 2
    assert all(format_local_date(end, "en") in title for title in reminders(licence))
    told = set(Notification.objects.filter(kind="licence_expiring").values_list("user", flat=True))
    assert {world.office_licensor.pk, world.office_licensee.pk} <= told


def test_a_missed_reminder_day_is_caught_up_but_a_stale_30_day_reminder_is_not(world):
    late = approved(world, end_on=days(60).isoformat())
    very_late = approved(world, end_on=days(60).isoformat(), territories=["US"])

    assert licence_expiry_reminders(today=days(40)) == {"30": [late.pk, very_late.pk], "7": []}
    # very_late missed its 7-day day too: the 7-day reminder comes late, once.
    Licence.objects.filter(pk=late.pk).update(reminded_7_at=timezone.now())
    assert licence_expiry_reminders(today=days(57)) == {"30": [], "7": [very_late.pk]}

    fresh = approved(world, end_on=days(60).isoformat(), territories=["CN"])
    assert licence_expiry_reminders(today=days(55)) == {"30": [], "7": [fresh.pk]}
    fresh.refresh_from_db()
    assert fresh.reminded_30_at is None


def test_ended_and_unapproved_licences_get_no_reminder(world):
    ended = approved(world, end_on=days(20).isoformat())
    licence_terminate(licence=ended, actor=world.kr, reason="Done.")
    draft(world, end_on=days(20).isoformat())
    assert licence_expiry_reminders(today=tokyo_today()) == {"30": [], "7": []}


# -- Celery and beat -----------------------------------------------------------------------


def test_the_tasks_are_registered_and_run_for_the_day_asked(world, settings):
    names = set(celery_app.tasks.keys())
    assert {
        "ip_licensing.activate_and_expire_licences",
        "ip_licensing.licence_expiry_reminders",
    } <= names
    licence = approved(world, start_on=days(2).isoformat(), end_on=days(9).isoformat())

    result = tasks.activate_and_expire_licences.apply(kwargs={"on": days(2).isoformat()}).get()
    assert result == {"activated": [licence.pk], "expired": []}
    assert tasks.activate_and_expire_licences.apply().get() == {"activated": [], "expired": []}
    assert tasks.licence_expiry_reminders.apply(kwargs={"on": days(3).isoformat()}).get() == {
        "30": [],
        "7": [licence.pk],
    }
    assert tasks.activate_and_expire_licences.acks_late is True


def test_the_beat_schedules_run_daily_in_tokyo():
    by_task = {schedule.task: schedule.when for schedule in SCHEDULES}
    assert by_task["ip_licensing.activate_and_expire_licences"] == DailyAt(hour=0, minute=5)
    assert by_task["ip_licensing.licence_expiry_reminders"] == DailyAt(hour=0, minute=15)
    daily = by_task["ip_licensing.activate_and_expire_licences"]
    assert isinstance(daily, DailyAt) and daily.timezone == "Asia/Tokyo"
