"""The licence check after a diligence breach (§23, §21): ``exclusive: true`` asks for a
use that needs the licence's exclusivity; a licence converted to non-exclusive after a
breached obligation answers ``diligence_breach`` from the day of the conversion. The API
view, the direct path of a partner system's single check and a batch answer the same."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ip_licensing.api import LicenceCheckView
from ip_licensing.models import Licence
from ip_licensing.services.obligations import breach_decide
from tests.factories.licensing import World, days, key_client, make_licence, user_client
from tests.factories.obligations import breached, exclusive_licence

URL = "/api/v1/licences/check/"
pytestmark = [pytest.mark.django_db]


def body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "asset": world.asset.pk,
        "licensee": world.licensee.code,
        "field": "semiconductor.ai",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
        **overrides,
    }


def answer_breach(world: World, licence: Licence, remedy: str) -> Licence:
    obligation = breached(world, licence)
    for officer in (world.jp, world.kr):
        breach_decide(
            licence=licence, obligation=obligation, actor=officer, remedy=remedy, reason="r"
        )
    licence.refresh_from_db()
    return licence


def ask_every_way(world: World, check: dict[str, Any], monkeypatch) -> dict[str, Any]:
    """The answer of the API view (an officer's session), of a batch, and of the direct
    path (the licensee's key; the view refuses to be reached): all the same."""
    through_view = user_client(world.jp).post(URL, check, format="json")
    assert through_view.status_code == 200, through_view.content
    batch = user_client(world.jp).post(URL, {"checks": [check, check]}, format="json")
    assert batch.status_code == 200, batch.content
    client = key_client(world.licensee, ["licences:check"])
    with monkeypatch.context() as patch:

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the single check reached the API view")

        patch.setattr(LicenceCheckView, "post", refuse)
        direct = client.post(URL, json.dumps(check), content_type="application/json")
    assert direct.status_code == 200, direct.content
    assert direct.json() == through_view.json() == batch.json()["results"][0]
    return through_view.json()


def test_an_exclusive_licence_allows_exclusive_use(world, monkeypatch):
    licence = exclusive_licence(world)
    for exclusive in (False, True):
        result = ask_every_way(world, body(world, exclusive=exclusive), monkeypatch)
        assert result == {"decision": "allow", "licence": licence.pk, "reasons": []}


def test_a_never_exclusive_licence_denies_exclusive_use_only(world, monkeypatch):
    licence = make_licence(world)
    assert ask_every_way(world, body(world), monkeypatch)["licence"] == licence.pk
    assert ask_every_way(world, body(world, exclusive=True), monkeypatch) == {
        "decision": "deny",
        "licence": None,
        "reasons": ["not_exclusive"],
    }


def test_a_licence_converted_after_a_breach_denies_exclusive_use_with_diligence_breach(
    world, monkeypatch
):
    licence = answer_breach(world, exclusive_licence(world), "convert")
    assert licence.exclusivity_lost_on == days(0)
    # Non-exclusive use is still licensed.
    assert ask_every_way(world, body(world), monkeypatch) == {
        "decision": "allow",
        "licence": licence.pk,
        "reasons": [],
    }
    # Exclusive use from the day of the conversion: diligence_breach.
    assert ask_every_way(world, body(world, exclusive=True), monkeypatch) == {
        "decision": "deny",
        "licence": None,
        "reasons": ["diligence_breach"],
    }
    # The day before, the licence was exclusive (the answer depends only on the day asked).
    before = body(world, exclusive=True, on=days(-1).isoformat())
    assert ask_every_way(world, before, monkeypatch)["decision"] == "allow"
    # Other reasons are named too, in the published order.
    abroad = body(world, exclusive=True, territory="US")
    assert ask_every_way(world, abroad, monkeypatch)["reasons"] == [
        "territory_not_covered",
        "diligence_breach",
    ]


@pytest.mark.parametrize(
    ("remedy", "reason"), [("suspend", "suspended"), ("terminate", "terminated")]
)
def test_a_licence_suspended_or_terminated_after_a_breach_denies_as_before(
    world, monkeypatch, remedy, reason
):
    answer_breach(world, exclusive_licence(world), remedy)
    for exclusive in (False, True):
        result = ask_every_way(world, body(world, exclusive=exclusive), monkeypatch)
        assert result == {"decision": "deny", "licence": None, "reasons": [reason]}


def test_the_exclusive_flag_must_be_a_boolean(world):
    exclusive_licence(world)
    response = user_client(world.jp).post(URL, body(world, exclusive="yes"), format="json")
    assert response.status_code == 422
    assert "exclusive" in response.json()["errors"]
    batch = user_client(world.jp).post(
        URL, {"checks": [body(world), body(world, exclusive=1)]}, format="json"
    )
    assert batch.status_code == 422
    assert "checks.1.exclusive" in batch.json()["errors"]


def test_every_published_field_is_kept(world, monkeypatch):
    exclusive_licence(world)
    result = ask_every_way(world, body(world), monkeypatch)
    assert set(result) == {"decision", "licence", "reasons"}


def test_the_schema_documents_diligence_breach_and_the_exclusive_flag(client):
    components = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert "diligence_breach" in components["ReasonsEnum"]["enum"]
    assert "not_exclusive" in components["ReasonsEnum"]["enum"]
    exclusive = components["LicenceCheckRequest"]["properties"]["exclusive"]
    assert exclusive["type"] == "boolean"
    assert "exclusive" not in components["LicenceCheckRequest"].get("required", [])
