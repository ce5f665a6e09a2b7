"""Activation posts the upfront fee once, through the real royalties service (§10.5)."""

from __future__ import annotations

import pytest

from fundapp.ledger.models import Transaction
from ip_licensing.services.licences import licences_activate_and_expire
from tests.factories.licences import approved, days

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upfront_posts")]


@pytest.fixture(autouse=True)
def upfront_posts():
    """Overrides the package's stand-in: here the royalties service posts for real."""
    return None


def test_approval_from_today_posts_the_upfront_fee_once(world):
    licence = approved(world, upfront_fee=2_000_000)
    licence.refresh_from_db()
    assert (licence.state, licence.upfront_posted) == ("active", True)

    licences_activate_and_expire(today=days(0))
    licences_activate_and_expire(today=days(1))

    assert Transaction.objects.filter(reference=f"licence:{licence.pk}:upfront").count() == 1


def test_the_daily_job_posts_it_when_a_later_start_comes(world):
    licence = approved(world, start_on=days(3).isoformat(), end_on=days(30).isoformat())
    assert not Transaction.objects.filter(reference=f"licence:{licence.pk}:upfront").exists()

    licences_activate_and_expire(today=days(3))
    licences_activate_and_expire(today=days(3))

    licence.refresh_from_db()
    assert (licence.state, licence.upfront_posted) == ("active", True)
    assert Transaction.objects.filter(reference=f"licence:{licence.pk}:upfront").count() == 1
