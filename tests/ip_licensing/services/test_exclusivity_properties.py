"""Whatever licences are proposed, accepted, approved and ended, in whatever order, no two
that overlap with an exclusive one ever stand together (§10.2) — Hypothesis against the
real services and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import combinations
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fundapp.errors import DomainError
from ip_licensing import rules
from ip_licensing.models import Licence, LicenceAsset
from ip_licensing.selectors import licence_conflicts
from ip_licensing.services.licences import (
    licence_accept,
    licence_approve,
    licence_create,
    licence_suspend,
    licence_terminate,
    tokyo_today,
)
from tests.factories.licences import World, make_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upfront_posts")]

FIELDS = ["semiconductor", "semiconductor.ai", "semiconductor.ai.edge", "semiconductor.memory"]
TERRITORIES = [["JP"], ["KR"], ["WW"], ["JP", "KR"]]

index = st.integers(min_value=0, max_value=12)
officer = st.integers(0, 3)
propose = st.tuples(
    st.just("propose"),
    st.lists(st.integers(0, 1), min_size=1, max_size=2, unique=True),
    st.booleans(),
    st.sampled_from(FIELDS),
    st.sampled_from(range(len(TERRITORIES))),
    st.integers(0, 2),
    st.integers(0, 2),
)
operation = st.one_of(
    propose,
    st.tuples(st.just("accept"), index, st.sampled_from(["licensor", "licensee"])),
    st.tuples(st.just("agree"), index),
    st.tuples(st.just("approve"), index, officer),
    st.tuples(st.just("approve_twice"), index, officer, officer),
    st.tuples(st.just("push"), index),
    st.tuples(st.just("push"), index),
    st.tuples(st.just("terminate"), index),
    st.tuples(st.just("suspend"), index),
)
# A few proposals first, so the operations after them have licences to act on.
sequences = st.builds(
    lambda first, rest: first + rest,
    st.lists(propose, min_size=2, max_size=4),
    st.lists(operation, min_size=4, max_size=14),
)


@pytest.fixture
def shared_world(db) -> World:
    return make_world()


def standing_conflicts() -> list[tuple[int, int]]:
    """Pairs of licences that hold their terms together although one is exclusive."""
    links = LicenceAsset.objects.filter(licence__state__in=rules.CONFLICTING_STATES).select_related(
        "licence"
    )
    terms = [
        rules.LicenceTerms(
            licence_id=link.licence.pk,
            asset_id=link.asset_id,
            licensee_id=link.licence.licensee_id,
            fields=tuple(link.licence.fields_of_use),
            purposes=tuple(link.licence.purposes),
            territories=tuple(link.licence.territories),
            start=link.licence.start_on,
            end=link.licence.end_on,
            exclusivity=link.licence.exclusivity,
            state=link.licence.state,
        )
        for link in links
    ]
    return [
        (a.licence_id, b.licence_id)
        for a, b in combinations(terms, 2)
        if a.licence_id != b.licence_id and rules.exclusive_conflicts(a, [b])
    ]


def run(world: World, sequence) -> None:
    today = tokyo_today()
    assets = [world.asset, world.asset2]
    proposed: list[Licence] = []
    for operation in sequence:
        name, *args = operation
        if name == "propose":
            asset_indexes, exclusive, field, territory, start, length = args
            begin = today + timedelta(days=30 * start)
            proposed.append(
                licence_create(
                    actor=world.office_licensor,
                    data={
                        "assets": [assets[i].pk for i in asset_indexes],
                        "licensee": world.licensee.pk,
                        "fields_of_use": [field],
                        "purposes": ["research"],
                        "territories": TERRITORIES[territory],
                        "start_on": begin,
                        "end_on": begin + timedelta(days=30 * length + 29),
                        "exclusivity": "exclusive" if exclusive else "non_exclusive",
                        "royalty_rate": "0.01",
                        "currency": "JPY",
                    },
                )
            )
            continue
        if not proposed:
            continue
        licence = proposed[args[0] % len(proposed)]
        for service, actor in steps(world, name, args):
            attempt(service, licence, actor)
        assert standing_conflicts() == [], operation


def steps(world: World, name: str, args: list) -> list[tuple[Callable[..., Any], Any]]:
    """The service calls (function, actor) one generated operation stands for."""
    officers = [world.jp, world.kr, world.jp2, world.kr2]
    office = {"licensor": world.office_licensor, "licensee": world.office_licensee}
    agree = [(licence_accept, world.office_licensor), (licence_accept, world.office_licensee)]
    plans: dict[str, Callable[[], list[tuple[Callable[..., Any], Any]]]] = {
        "accept": lambda: [(licence_accept, office.get(args[-1]))],
        "agree": lambda: agree,
        "approve": lambda: [(licence_approve, officers[args[-1]])],
        "approve_twice": lambda: [
            (licence_approve, officers[args[1]]),
            (licence_approve, officers[args[2]]),
        ],
        "push": lambda: [*agree, (licence_approve, world.jp), (licence_approve, world.kr)],
        "terminate": lambda: [(licence_terminate, world.jp)],
        "suspend": lambda: [(licence_suspend, world.kr)],
    }
    return plans[name]()


def attempt(service: Callable[..., Any], licence: Licence, actor: Any) -> None:
    """Run one service call; a refusal must change nothing and name real conflicts."""
    before = Licence.objects.get(pk=licence.pk)
    kwargs = {"reason": "Generated."} if service in (licence_terminate, licence_suspend) else {}
    try:
        service(licence=licence, actor=actor, **kwargs)
    except DomainError as refusal:
        after = Licence.objects.get(pk=licence.pk)
        assert (after.state, after.licensor_accepted_at, after.licensee_accepted_at) == (
            before.state,
            before.licensor_accepted_at,
            before.licensee_accepted_at,
        ), "a refused operation changed the licence"
        event(f"refused: {refusal.code}")
        if refusal.code == "exclusive_conflict":
            # The refusal names real conflicts.
            named = {other.reference for other in licence_conflicts(after)}
            assert named and all(ref in str(refusal) for ref in named)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=sequences)
def test_no_two_overlapping_licences_with_an_exclusive_one_ever_stand_together(
    shared_world, sequence
):
    with transaction.atomic():
        run(shared_world, sequence)
        approvals = Licence.objects.filter(approved_at__isnull=False).count()
        event(f"licences approved: {min(approvals, 3)}")
        transaction.set_rollback(True)
