"""Licence obligations for the tests (§23), built through the services: an exclusive
licence with an obligation, taken as far as overdue or breached by the daily job."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ip_licensing.models import Licence, Obligation
from ip_licensing.services.obligations import obligation_create, obligations_mark_due
from tests.factories.licensing import World, days, make_licence

CURE_DAYS = 60


def exclusive_licence(world: World, **overrides: Any) -> Licence:
    """An active exclusive licence of ``asset`` to ``licensee`` (the licensing world's
    terms: semiconductor.ai, research and development, JP and KR, days −30 … 300)."""
    return make_licence(world, exclusivity="exclusive", **overrides)


def add_obligation(
    world: World, licence: Licence, *, due_on: date | None = None, **data: Any
) -> Obligation:
    body = {
        "kind": "first_commercial_sale",
        "description_en": "First commercial sale in Japan",
        "due_on": (due_on or days(10)).isoformat(),
        **data,
    }
    return obligation_create(licence=licence, actor=world.office_licensor, data=body)


def overdue(world: World, licence: Licence, *, due_on: date | None = None) -> Obligation:
    """An obligation the daily job made overdue (the day after its due date)."""
    obligation = add_obligation(world, licence, due_on=due_on or days(1))
    obligations_mark_due(today=obligation.due_on + timedelta(days=1))
    obligation.refresh_from_db()
    assert obligation.state == "overdue"
    return obligation


def breached(world: World, licence: Licence, *, due_on: date | None = None) -> Obligation:
    """An obligation the daily job breached (the day after its cure period ended)."""
    obligation = overdue(world, licence, due_on=due_on)
    assert obligation.cure_ends_on is not None
    obligations_mark_due(today=obligation.cure_ends_on + timedelta(days=1))
    obligation.refresh_from_db()
    assert obligation.state == "breached"
    return obligation
