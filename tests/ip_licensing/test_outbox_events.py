"""Webhook-ready events (§13 outbox) for licences and royalties, written with the change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import ProgrammingError, transaction

from fundapp.notifications.models import OutboxEvent
from ip_licensing import rules
from ip_licensing.services.licences import licence_expiry_reminders, licences_activate_and_expire
from ip_licensing.services.royalties import royalty_report_submit
from tests.factories.licensing import days, make_project_world, make_world, project_licence

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def events(kind: str):
    return list(OutboxEvent.objects.filter(kind=kind))


def test_activation_expiry_and_reminders_are_recorded_for_both_parties():
    w = make_world()
    from tests.factories.licensing import make_licence

    licence = make_licence(w, state="active", end_on=days(20).isoformat())
    (activated,) = events("licence.activated")
    assert activated.organisation_ids == sorted([licence.licensor_id, licence.licensee_id])
    assert activated.payload["reference"] == licence.reference

    licence_expiry_reminders(today=days(0))
    (expiring,) = events("licence.expiring")
    assert expiring.payload["days_left"] == 20

    licences_activate_and_expire(today=licence.end_on + timedelta(days=1))
    licences_activate_and_expire(today=licence.end_on + timedelta(days=2))  # idempotent
    (expired,) = events("licence.expired")
    assert expired.payload["state"] == "expired"


def test_a_royalty_posting_is_recorded_with_the_paid_partners():
    pw = make_project_world()
    licence = project_licence(pw, start_on=days(-200).isoformat())
    today = days(0)
    quarter = rules.format_quarter(today.year, (today.month - 1) // 3 + 1)

    royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=quarter, net_sales=10_000_000
    )

    (posted,) = events("royalty.posted")
    assert posted.payload["amount"] == 350_000 and posted.payload["currency"] == "JPY"
    assert {licence.licensee_id, pw.partner_jp.pk, pw.partner_kr.pk} <= set(posted.organisation_ids)


def test_an_event_rolls_back_with_its_change_and_is_never_rewritten():
    w = make_world()
    from tests.factories.licensing import make_licence

    with pytest.raises(RuntimeError), transaction.atomic():
        make_licence(w, state="active")
        assert events("licence.activated")
        raise RuntimeError("the change fails after the event was written")
    assert not events("licence.activated")

    make_licence(w, state="active")
    with pytest.raises(ProgrammingError), transaction.atomic():
        OutboxEvent.objects.update(kind="forged")
