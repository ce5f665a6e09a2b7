"""Every licence event of §13.2 reaches the outbox with its change: exactly one event of the
right type for both parties, the licence under its API field names (checked against the
type's schema), versions that grow along the licence's life; a rollback writes none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from ip_licensing import rules
from ip_licensing.services.licences import (
    licence_expiry_reminders,
    licence_suspend,
    licences_activate_and_expire,
)
from ip_licensing.services.royalties import royalty_report_submit
from tests.factories.licensing import (
    days,
    make_licence,
    make_project_world,
    make_world,
    project_licence,
)
from tests.outbox import events_of, the_event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def parties(licence) -> list[int]:
    return [licence.licensor_id, licence.licensee_id]


def test_both_acceptances_write_licence_pending():
    w = make_world()
    licence = make_licence(w, state="pending")

    data = the_event("licence.pending", licence, organisations=parties(licence))

    assert (data["id"], data["reference"], data["state"]) == (
        licence.pk,
        licence.reference,
        "pending",
    )
    assert events_of("licence.approved") == []


def test_the_second_approval_writes_licence_approved_then_licence_activated():
    w = make_world()
    licence = make_licence(w, state="active")

    approved = the_event("licence.approved", licence, organisations=parties(licence))
    activated = the_event("licence.activated", licence, organisations=parties(licence))
    pending = the_event("licence.pending", licence, organisations=parties(licence))

    assert approved["state"] == "approved" and activated["state"] == "active"
    assert (
        pending["resource_version"] < approved["resource_version"] < activated["resource_version"]
    )


@pytest.mark.parametrize("state", ["suspended", "terminated"])
def test_suspension_and_termination_are_written(state):
    w = make_world()
    licence = make_licence(w, state=state)

    data = the_event(f"licence.{state}", licence, organisations=parties(licence))

    assert data["state"] == state


def test_a_suspension_that_rolls_back_writes_no_event():
    w = make_world()
    licence = make_licence(w, state="active")

    with pytest.raises(RuntimeError), transaction.atomic():
        licence_suspend(licence=licence, actor=w.jp, reason="Reports overdue.")
        assert events_of("licence.suspended")
        raise RuntimeError("the change fails after the event was written")

    assert events_of("licence.suspended") == []


def test_expiring_and_expired_events_meet_their_schemas():
    w = make_world()
    licence = make_licence(w, state="active", end_on=days(20).isoformat())

    licence_expiry_reminders(today=days(0))
    licences_activate_and_expire(today=licence.end_on + timedelta(days=1))

    expiring = the_event("licence.expiring", licence, organisations=parties(licence))
    expired = the_event("licence.expired", licence, organisations=parties(licence))
    assert expiring["days_left"] == 20 and expired["state"] == "expired"


def test_a_royalty_posting_meets_its_schema():
    pw = make_project_world()
    licence = project_licence(pw, start_on=days(-200).isoformat())
    today = days(0)
    quarter = rules.format_quarter(today.year, (today.month - 1) // 3 + 1)

    royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=quarter, net_sales=10_000_000
    )

    (posted,) = events_of("royalty.posted", licence)
    data = the_event("royalty.posted", licence, organisations=posted.organisation_ids)
    assert {licence.licensor_id, licence.licensee_id} <= set(posted.organisation_ids)
    assert (data["id"], data["amount"], data["currency"]) == (licence.pk, 350_000, "JPY")
