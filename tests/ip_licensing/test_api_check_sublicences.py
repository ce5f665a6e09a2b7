"""The licence check for a sublicensee (§23, §21): allowed only where both the sublicence
and its parent allow on that day — the same answer on the direct path (a partner system's
single check), through the API's view (a person's session) and in a batch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ip_licensing import rules
from ip_licensing.services.licences import (
    licence_resume,
    licence_suspend,
    licence_terminate,
    licences_activate_and_expire,
)
from tests.factories.licensing import (
    World,
    days,
    key_client,
    make_licence,
    make_sublicence,
    user_client,
)

URL = "/api/v1/licences/check/"
pytestmark = [pytest.mark.django_db]


def check(world: World, **overrides) -> dict:
    body = {
        "asset": world.asset.pk,
        "licensee": world.other.code,
        "field": "semiconductor.ai.edge",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
    }
    body.update(overrides)
    return body


def answers(world: World, **overrides) -> dict:
    """The one answer of the direct path, the view and a batch (they must agree)."""
    body = check(world, **overrides)
    direct = key_client(world.other, ["licences:check"]).post(URL, body, format="json")
    session = user_client(world.jp).post(URL, body, format="json")
    batch = user_client(world.office_licensor).post(URL, {"checks": [body]}, format="json")
    assert direct.status_code == session.status_code == batch.status_code == 200
    assert direct.json() == session.json() == batch.json()["results"][0]
    return direct.json()


@pytest.fixture
def parent(world):
    return make_licence(world, sublicensable=True, sublicence_share_bp=2000)


@pytest.fixture
def sub(world, parent):
    return make_sublicence(world, parent)


def deny(*reasons: str) -> dict:
    return {"decision": "deny", "licence": None, "reasons": list(reasons)}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "allow"),
        ({"territory": "KR"}, ["territory_not_covered"]),  # in the parent, not the sublicence
        ({"purpose": "development"}, ["purpose_not_covered"]),
        ({"field": "semiconductor.ai"}, ["field_not_covered"]),
        ({"on": days(201).isoformat()}, ["expired"]),
        ({"on": days(-11).isoformat()}, ["not_started"]),
    ],
)
def test_inside_and_outside_the_sublicence(world, sub, overrides, expected):
    result = answers(world, **overrides)
    if expected == "allow":
        assert result == {"decision": "allow", "licence": sub.pk, "reasons": []}
    else:
        assert result == deny(*expected)


def test_a_suspended_parent_denies_and_resuming_it_allows_again(world, parent, sub):
    licence_suspend(licence=parent, actor=world.jp, reason="Reports overdue.")
    assert answers(world) == deny("parent_suspended")
    licence_resume(licence=parent, actor=world.jp, reason="Reports received.")
    assert answers(world)["decision"] == "allow"


def test_a_terminated_parent_denies(world, parent, sub):
    licence_terminate(licence=parent, actor=world.jp, reason="Breach.")
    assert answers(world) == deny("terminated", "parent_terminated")


def test_an_expired_parent_denies(world, parent):
    sub = make_sublicence(world, parent, end_on=parent.end_on.isoformat())
    licences_activate_and_expire(today=parent.end_on + timedelta(days=1))
    assert answers(world, on=days(0).isoformat()) == deny("expired", "parent_expired")
    sub.refresh_from_db()
    assert sub.state == "expired"


def test_a_sublicence_awaiting_consent_grants_nothing(world, parent):
    make_sublicence(world, parent, state="pending")
    assert answers(world) == deny("no_licence")


def test_the_parents_licensee_is_answered_by_the_parent(world, parent, sub):
    body = check(world, licensee=world.licensee.code, territory="KR")
    result = user_client(world.jp).post(URL, body, format="json").json()
    assert result == {"decision": "allow", "licence": parent.pk, "reasons": []}


def test_the_new_reason_codes_are_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    reasons = schema["components"]["schemas"]["LicenceCheckResult"]["properties"]["reasons"]
    codes = set(reasons["items"].get("enum", []))
    if not codes:  # an enum component
        ref = reasons["items"]["$ref"].rsplit("/", 1)[-1]
        codes = set(schema["components"]["schemas"][ref]["enum"])
    assert {
        "parent_expired",
        "parent_suspended",
        "parent_terminated",
        "parent_denied",
    } <= codes
    assert set(rules.REASONS) <= codes


@pytest.mark.parametrize("size", [10, 500])
def test_a_batch_with_sublicences_costs_the_same_queries(
    world, parent, sub, django_assert_num_queries, size
):
    client = key_client(world.licensor, ["licences:check"])
    checks = [
        check(
            world,
            territory=("JP", "KR")[i % 2],
            licensee=(world.other, world.licensee)[i % 3 // 2].code,
        )
        for i in range(size)
    ]
    client.post(URL, {"checks": checks[:2]}, format="json")  # warm up: the key's stamp
    with django_assert_num_queries(2):
        response = client.post(URL, {"checks": checks}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0] == {"decision": "allow", "licence": sub.pk, "reasons": []}
    assert len(results) == size
