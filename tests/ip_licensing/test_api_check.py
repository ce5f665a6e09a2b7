"""POST /api/v1/licences/check/ (§10.4, §21): the table of answers, who may ask, batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse

from fundapp.accounts.models import ApiKey, hash_secret
from fundapp.api import urls as api_urls
from ip_licensing import rules
from ip_licensing.api import LicenceCheckView
from tests.factories.licensing import World, days, key_client, make_licence, user_client

URL = "/api/v1/licences/check/"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def ask_body(world: World, **overrides) -> dict:
    body = {
        "asset": world.asset.pk,
        "licensee": world.licensee.code,
        "field": "semiconductor.ai",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
    }
    body.update(overrides)
    return body


def ask(client, world: World, **overrides):
    return client.post(URL, ask_body(world, **overrides), format="json")


def answer(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture(autouse=True)
def _rate_window(one_rate_window):
    """Small rate limits below count a few requests each: all of them in one window."""


@pytest.fixture
def active(world):
    """An active licence of ``asset`` to ``licensee``: semiconductor.ai, research and
    development, JP and KR, from 30 days ago to 300 days ahead."""
    return make_licence(world)


@pytest.fixture
def officer_client(world):
    return user_client(world.jp)


# --------------------------------------------------------------------------- the table


@pytest.mark.parametrize(
    ("field", "allowed"),
    [
        ("semiconductor.ai", True),  # itself
        ("semiconductor.ai.edge", True),  # below: covered
        ("semiconductor", False),  # the parent: not covered
        ("semiconductor.aix", False),  # a sibling sharing the prefix
        ("semiconductor.memory", False),  # another branch
    ],
)
def test_field_hierarchy_covers_downwards_only(world, active, officer_client, field, allowed):
    body = answer(ask(officer_client, world, field=field))
    if allowed:
        assert body == {"decision": "allow", "licence": active.pk, "reasons": []}
    else:
        assert body == {"decision": "deny", "licence": None, "reasons": ["field_not_covered"]}


def test_a_licence_for_the_child_does_not_cover_the_parent(world, officer_client):
    child = make_licence(world, fields_of_use=["semiconductor.ai.edge"])
    assert answer(ask(officer_client, world, field="semiconductor.ai.edge"))["licence"] == child.pk
    assert answer(ask(officer_client, world, field="semiconductor.ai"))["reasons"] == [
        "field_not_covered"
    ]


@pytest.mark.parametrize("purpose", rules.PURPOSES)
def test_each_purpose(world, active, officer_client, purpose):
    body = answer(ask(officer_client, world, purpose=purpose))
    if purpose in ("research", "development"):
        assert body["decision"] == "allow"
    else:
        assert body == {"decision": "deny", "licence": None, "reasons": ["purpose_not_covered"]}


def test_worldwide_licence_covers_every_territory_and_ww(world, officer_client):
    ww = make_licence(world, territories=["WW"])
    for territory in ("US", "JP", "DE", "WW"):
        assert answer(ask(officer_client, world, territory=territory))["licence"] == ww.pk


def test_a_list_of_countries_does_not_cover_ww_or_others(world, active, officer_client):
    for territory in ("WW", "US"):
        assert answer(ask(officer_client, world, territory=territory))["reasons"] == [
            "territory_not_covered"
        ]
    assert answer(ask(officer_client, world, territory="kr"))["decision"] == "allow"


def test_both_ends_of_the_term_are_inclusive(world, active, officer_client):
    start, end = active.start_on, active.end_on
    assert answer(ask(officer_client, world, on=start.isoformat()))["decision"] == "allow"
    assert answer(ask(officer_client, world, on=end.isoformat()))["decision"] == "allow"
    before = answer(ask(officer_client, world, on=(start - timedelta(days=1)).isoformat()))
    after = answer(ask(officer_client, world, on=(end + timedelta(days=1)).isoformat()))
    assert before == {"decision": "deny", "licence": None, "reasons": ["not_started"]}
    assert after == {"decision": "deny", "licence": None, "reasons": ["expired"]}


def test_days_are_asia_tokyo_dates(world, active, officer_client):
    """The first instant of the start day in Tokyo is still the day before in UTC: a client
    asks with the Tokyo date of the moment (rules.today_in_tokyo), and is allowed."""
    first_instant = datetime(
        active.start_on.year, active.start_on.month, active.start_on.day, tzinfo=rules.TOKYO
    ).astimezone(UTC)
    assert first_instant.date() == active.start_on - timedelta(days=1)
    on = rules.today_in_tokyo(first_instant)
    assert answer(ask(officer_client, world, on=on.isoformat()))["decision"] == "allow"
    utc_day = first_instant.date().isoformat()
    assert answer(ask(officer_client, world, on=utc_day))["reasons"] == ["not_started"]


def test_no_licence(world, active, officer_client):
    body = answer(ask(officer_client, world, licensee=world.other.code))
    assert body == {"decision": "deny", "licence": None, "reasons": ["no_licence"]}
    other_asset = answer(ask(officer_client, world, asset=world.asset2.pk))
    assert other_asset["reasons"] == ["no_licence"]


def test_drafts_and_pending_licences_grant_nothing(world, officer_client):
    make_licence(world, state="draft")
    make_licence(world, state="pending", licensee=world.other)
    assert answer(ask(officer_client, world))["reasons"] == ["no_licence"]
    assert answer(ask(officer_client, world, licensee=world.other.code))["reasons"] == [
        "no_licence"
    ]


@pytest.mark.parametrize("state", ["suspended", "terminated", "expired"])
def test_a_licence_out_of_force_denies_with_its_state(world, officer_client, state):
    make_licence(world, state=state, start_on=days(-30).isoformat(), end_on=days(10).isoformat())
    on = days(0) if state != "expired" else days(5)
    body = answer(ask(officer_client, world, on=on.isoformat()))
    assert body == {"decision": "deny", "licence": None, "reasons": [state]}


def test_a_deny_names_every_reason_of_the_closest_licence(world, active, officer_client):
    body = answer(ask(officer_client, world, field="quantum", purpose="sale", territory="US"))
    assert body["reasons"] == ["field_not_covered", "purpose_not_covered", "territory_not_covered"]


def test_allowed_by_one_licence_among_several(world, active, officer_client):
    sale = make_licence(world, purposes=["sale"], territories=["US"])
    body = answer(ask(officer_client, world, purpose="sale", territory="US"))
    assert body == {"decision": "allow", "licence": sale.pk, "reasons": []}


def test_a_licence_of_several_assets_covers_each(world, officer_client):
    both = make_licence(world, assets=[world.asset, world.asset2])
    assert answer(ask(officer_client, world, asset=world.asset2.pk))["licence"] == both.pk


def test_the_check_writes_nothing(world, active, officer_client):
    from fundapp.audit.models import AuditEvent

    before = AuditEvent.objects.count()
    answer(ask(officer_client, world))
    assert AuditEvent.objects.count() == before


# --------------------------------------------------------------------------- who may ask


def test_a_licensee_key_checks_its_own_use(world, active):
    client = key_client(world.licensee, ["licences:check"])
    assert answer(ask(client, world))["licence"] == active.pk


def test_a_licensor_key_checks_uses_of_its_assets(world, active):
    client = key_client(world.licensor, ["licences:check"])
    assert answer(ask(client, world))["decision"] == "allow"


def test_an_unrelated_key_may_not_check_another_organisations_use(world, active):
    client = key_client(world.unrelated, ["licences:check"])
    response = ask(client, world)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"] == {"licensee": [response.json()["errors"]["licensee"][0]]}
    # Its own use it may ask about: it has none.
    assert answer(ask(client, world, licensee=world.unrelated.code))["reasons"] == ["no_licence"]


def test_a_key_needs_the_check_scope(world, active):
    response = ask(key_client(world.licensee, ["licences:read"]), world)
    assert response.status_code == 403


def test_people_check_their_own_organisations_use_only(world, active):
    assert answer(ask(user_client(world.office_licensee), world))["decision"] == "allow"
    assert answer(ask(user_client(world.office_licensor), world))["decision"] == "allow"
    assert ask(user_client(world.outsider), world).status_code == 403


def test_anonymous_callers_are_refused(world, active):
    from rest_framework.test import APIClient

    assert ask(APIClient(), world).status_code == 401


def test_one_foreign_use_refuses_the_whole_batch(world, active):
    client = key_client(world.licensee, ["licences:check"])
    own = {
        "asset": world.asset2.pk,
        "licensee": world.licensee.code,
        "field": "semiconductor",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
    }
    foreign = {**own, "licensee": world.other.code}
    response = client.post(URL, {"checks": [own, foreign]}, format="json")
    assert response.status_code == 403
    assert set(response.json()["errors"]) == {"checks.1.licensee"}


# --------------------------------------------------------------------------- bad input


def test_field_errors_of_a_batch_are_keyed_by_index(world, active, officer_client):
    good = {
        "asset": world.asset.pk,
        "licensee": world.licensee.code,
        "field": "semiconductor.ai",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
    }
    checks = [
        good,
        {**good, "asset": 10**12},
        {**good, "licensee": "XX-NOPE-99"},
        {**good, "field": "Not A Code", "purpose": "resale"},
        {**good, "territory": "Japan", "on": "2026-02-30"},
        {key: value for key, value in good.items() if key != "on"},
        "not an object",
    ]
    response = officer_client.post(URL, {"checks": checks}, format="json")
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert set(errors) == {
        "checks.3.field",
        "checks.3.purpose",
        "checks.4.territory",
        "checks.4.on",
        "checks.5.on",
        "checks.6.non_field_errors",
    }
    # Shape first; once the shapes are right, unknown assets and organisations are named.
    response = officer_client.post(URL, {"checks": checks[:3]}, format="json")
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"checks.1.asset", "checks.2.licensee"}


def test_field_errors_of_a_single_check_are_keyed_by_field(world, active, officer_client):
    response = ask(officer_client, world, asset=10**12, territory="")
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"territory"}
    response = ask(officer_client, world, asset=10**12)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"asset"}


def test_ids_beyond_the_database_range_are_unknown_not_errors(world, active, officer_client):
    response = ask(officer_client, world, asset=2**63 + 5, licensee=2**64)
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == {
        "asset": ["Unknown asset."],
        "licensee": ["Unknown organisation."],
    }


def test_a_body_that_is_neither_a_check_nor_a_batch_is_refused(world, officer_client):
    assert officer_client.post(URL, [1, 2], format="json").status_code == 422
    assert officer_client.post(URL, {"checks": []}, format="json").status_code == 422
    assert officer_client.post(URL, {"checks": "all"}, format="json").status_code == 422


# --------------------------------------------------------------------------- batches


def _mixed_checks(world: World, count: int) -> list[dict]:
    """``count`` checks cycling over allow and every kind of deny, two assets and three
    organisations."""
    variants: list[dict[str, Any]] = [
        {"field": "semiconductor.ai.edge"},
        {"purpose": "sale"},
        {"territory": "US"},
        {"licensee": world.other.code},
        {"asset": world.asset2.pk},
        {"on": days(400).isoformat()},
        {"licensee": world.unrelated.code, "field": "quantum"},
        {},
    ]
    base = {
        "asset": world.asset.pk,
        "licensee": world.licensee.code,
        "field": "semiconductor.ai",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
    }
    return [{**base, **variants[i % len(variants)]} for i in range(count)]


def test_a_single_check_answers_as_the_same_check_in_a_batch(world, active, officer_client):
    """A single check has a load statement of its own (``_LOAD_ONE_*``); it answers every
    kind of check (licensee by code or by id, allow and every deny, unknown asset or
    organisation) as the batch statement does."""
    make_licence(world, licensee=world.other, purposes=["sale"])
    checks = _mixed_checks(world, 8)
    checks += [{**check, "licensee": world.licensee.pk} for check in checks[:3]]
    checks += [{**check, "licensee": f"  {world.licensee.code.lower()} "} for check in checks[:1]]
    batch = officer_client.post(URL, {"checks": checks}, format="json")
    assert batch.status_code == 200, batch.content

    singles = [officer_client.post(URL, check, format="json").json() for check in checks]

    assert singles == batch.json()["results"]
    assert {result["decision"] for result in singles} == {"allow", "deny"}
    for unknown in ({"asset": 10**12}, {"licensee": "XX-NONE-01"}, {"licensee": 10**12}):
        one = ask(officer_client, world, **unknown)
        many = officer_client.post(URL, {"checks": [ask_body(world, **unknown)]}, format="json")
        assert one.status_code == many.status_code == 422
        assert {f"checks.0.{name}" for name in one.json()["errors"]} == set(many.json()["errors"])


def test_a_batch_answers_in_the_order_asked(world, active, officer_client):
    make_licence(world, licensee=world.other, purposes=["sale"])
    checks = _mixed_checks(world, 16)
    batch = answer(officer_client.post(URL, {"checks": checks}, format="json"))["results"]
    singles = [answer(officer_client.post(URL, check, format="json")) for check in checks]
    assert batch == singles
    assert [r["decision"] for r in batch[:8]] == [
        "allow",
        "deny",
        "deny",
        "deny",
        "deny",
        "deny",
        "deny",
        "allow",
    ]
    assert batch[3]["reasons"] == ["purpose_not_covered"]
    assert batch[6]["reasons"] == ["no_licence"]


def _queries(client, checks) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.post(URL, {"checks": checks}, format="json")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == len(checks)
    return len(context.captured_queries)


@pytest.mark.parametrize("who", ["key", "officer"])
def test_the_number_of_queries_does_not_grow_with_the_batch(
    world, active, django_assert_num_queries, who
):
    make_licence(world, licensee=world.other, purposes=["sale"])
    make_licence(world, assets=[world.asset, world.asset2], territories=["WW"])
    if who == "key":
        client = key_client(world.licensor, ["licences:check"])
    else:
        client = user_client(world.jp)
    _queries(client, _mixed_checks(world, 2))  # warm up: sessions, key last-use stamp
    small = _queries(client, _mixed_checks(world, 10))
    # Pinned: authentication (the key; or the session and the person), then one query
    # for the assets, organisations and licences of the pairs asked about.
    expected = {"key": 2, "officer": 3}[who]
    assert small == expected
    with django_assert_num_queries(expected):
        response = client.post(URL, {"checks": _mixed_checks(world, 1000)}, format="json")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1000


def test_more_than_1000_checks_are_refused(world, officer_client):
    response = officer_client.post(URL, {"checks": _mixed_checks(world, 1001)}, format="json")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "batch_too_large"
    assert "1000" in body["errors"]["checks"][0] and "1001" in body["errors"]["checks"][0]


# --------------------------------------------------------------------------- the full stack


def _bearer_client(org) -> tuple[Client, dict[str, Any]]:
    """A plain Django client (the whole middleware stack, no DRF test shortcuts) and the
    ``Authorization`` header of a fresh key with ``licences:check``."""
    key_id, secret, full_key = ApiKey.generate()
    ApiKey.objects.create(
        organisation=org,
        name="partner system",
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scopes=["licences:check"],
    )
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {full_key}"}


def _post_counting(client: Client, headers: dict[str, Any], body: object) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as context:
        response = client.post(URL, json.dumps(body), content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    return len(context.captured_queries), response.json()


def test_a_single_check_costs_at_most_three_queries_with_authentication_and_throttling(
    world, active
):
    """The key (with its organisation) and the assets, organisations and licences asked
    about, in one statement: nothing from the middleware (sessions, language, axes, audit
    context) nor from the rate limit (Redis)."""
    client, headers = _bearer_client(world.licensee)
    body = ask_body(world)
    _post_counting(client, headers, body)  # the key's first use is stamped (once a minute)

    queries, result = _post_counting(client, headers, body)

    assert result == {"decision": "allow", "licence": active.pk, "reasons": []}
    assert queries == 1


def test_batches_of_ten_and_a_thousand_cost_the_same_queries_as_one_check(world, active):
    make_licence(world, licensee=world.other, purposes=["sale"])
    client, headers = _bearer_client(world.licensor)
    _post_counting(client, headers, ask_body(world))

    one, _r = _post_counting(client, headers, ask_body(world))
    ten, small = _post_counting(client, headers, {"checks": _mixed_checks(world, 10)})
    thousand, large = _post_counting(client, headers, {"checks": _mixed_checks(world, 1000)})

    # A single check reads its key and licences in one statement, a batch in two.
    assert one == 1
    assert ten == thousand == 2
    assert len(small["results"]) == 10 and len(large["results"]) == 1000
    assert large["results"][:10] == small["results"]


def test_the_key_is_stamped_as_used_at_most_once_a_minute(world, active):
    client, headers = _bearer_client(world.licensee)
    key = ApiKey.objects.get(organisation=world.licensee, name="partner system")
    assert key.last_used_at is None

    first, _r = _post_counting(client, headers, ask_body(world))
    stamped = ApiKey.objects.get(pk=key.pk).last_used_at
    second, _r = _post_counting(client, headers, ask_body(world))

    assert stamped is not None
    assert ApiKey.objects.get(pk=key.pk).last_used_at == stamped
    assert first == second + 1  # the stamp is the only extra query

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stamped - timedelta(seconds=61))
    _post_counting(client, headers, ask_body(world))
    restamped = ApiKey.objects.get(pk=key.pk).last_used_at
    assert restamped is not None and restamped > stamped


def test_the_check_is_routed_before_the_router_to_its_own_view():
    """The router tries a dozen routes per resource before reaching a dynamic one; the
    check is matched first of the API's routes (§19's load test), with its format suffix."""
    match = resolve(URL)
    suffixed = resolve("/api/v1/licences/check.json")

    assert match.func.view_class is LicenceCheckView  # type: ignore[attr-defined]
    assert suffixed.func.view_class is LicenceCheckView  # type: ignore[attr-defined]
    assert suffixed.kwargs == {"format": "json"}
    assert api_urls.urlpatterns[0].callback.view_class is LicenceCheckView  # type: ignore[attr-defined]
    assert reverse("licence-check") == URL


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_key_lookup_and_the_load_are_prepared_once_per_connection(world, active):
    """PostgreSQL parses and plans the statements of a check once per connection, not on
    every request; they are still counted as queries. A single check reads its key and
    its licences in one statement (two plain parameters besides the key's id); a batch
    looks the key up, then loads with the statement of arrays."""
    client, headers = _bearer_client(world.licensee)
    _post_counting(client, headers, ask_body(world))
    _post_counting(client, headers, {"checks": [ask_body(world)] * 2})
    prepared = _prepared_statements()

    queries, result = _post_counting(client, headers, ask_body(world))
    batch_queries, batch = _post_counting(client, headers, {"checks": [ask_body(world)] * 2})

    assert result["decision"] == "allow"
    assert batch["results"] == [result, result]
    assert (queries, batch_queries) == (1, 2)
    key_only = [s for s in prepared if "accounts_apikey" in s and "licence" not in s]
    key_and_load = [s for s in prepared if "accounts_apikey" in s and "licenceasset" in s]
    batch_load = [s for s in prepared if "unnest(" in s]
    assert (len(key_only), len(key_and_load), len(batch_load)) == (1, 1, 1)
    assert "unnest(" not in key_and_load[0]
    assert _prepared_statements() == prepared  # reused, not prepared again


def test_a_single_check_read_with_its_key_is_authenticated_and_authorised_as_any(world, active):
    """The key read together with the licences is checked as any key: a wrong secret, a
    key without the scope, a use the organisation may not ask about and a throttled key
    are refused as without the combined statement, and nothing of the licences shows."""
    client, headers = _bearer_client(world.licensee)
    body = json.dumps(ask_body(world))
    wrong: dict[str, Any] = {"HTTP_AUTHORIZATION": headers["HTTP_AUTHORIZATION"][:-2] + "xx"}
    refused = client.post(URL, body, content_type="application/json", **wrong)
    assert refused.status_code == 401
    assert "licence" not in refused.json()

    ApiKey.objects.filter(organisation=world.licensee).update(scopes=["licences:read"])
    unscoped = client.post(URL, body, content_type="application/json", **headers)
    assert unscoped.status_code == 403

    _other_client, other_headers = _bearer_client(world.unrelated)
    not_own = client.post(URL, body, content_type="application/json", **other_headers)
    assert not_own.status_code == 403
    assert not_own.json()["code"] == "check_not_own_use"


def test_a_malformed_body_with_a_bad_key_is_refused_for_the_key_first(world, active):
    """The body is read quietly for the combined statement: a bad key is still a 401
    whatever the body, and a malformed body with a good key the parser's 400."""
    client, headers = _bearer_client(world.licensee)
    bad_key: dict[str, Any] = {"HTTP_AUTHORIZATION": "Bearer jkf_nosuchkey_secret"}

    for body in ("{not json", json.dumps(ask_body(world))):
        response = client.post(URL, body, content_type="application/json", **bad_key)
        assert response.status_code == 401, body
    malformed = client.post(URL, "{not json", content_type="application/json", **headers)
    assert malformed.status_code == 400
    assert malformed["Content-Type"].startswith("application/problem+json")


def test_a_throttled_single_check_answers_429_with_retry_after(world, active, monkeypatch):
    from fundapp.api.throttling import ClientRateThrottle

    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "2/min"})
    client, headers = _bearer_client(world.licensee)
    body = json.dumps(ask_body(world))
    answers = [client.post(URL, body, content_type="application/json", **headers) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2]["Retry-After"]) >= 1
    assert answers[2]["Content-Type"].startswith("application/problem+json")


def test_the_common_single_check_is_answered_without_the_api_view(world, active, monkeypatch):
    """A well-formed single check with a usable key is answered before DRF's request cycle
    (§19): the view is not reached, and the answer (body and headers) is the view's own
    answer to the same request, which a preference the direct path does not read (a
    weighted Accept) sends to the view."""
    client, headers = _bearer_client(world.licensee)
    body = json.dumps(ask_body(world))
    through_view = client.post(
        URL,
        body,
        content_type="application/json",
        HTTP_ACCEPT="application/json;q=0.9, */*;q=0.1",
        **headers,
    )

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the single check reached the API view")

    monkeypatch.setattr(LicenceCheckView, "post", refuse)
    direct = client.post(URL, body, content_type="application/json", **headers)

    assert direct.status_code == through_view.status_code == 200
    assert direct.content == through_view.content
    for header in ("Content-Type", "Vary", "Allow", "Content-Language"):
        assert direct.get(header) == through_view.get(header), header


def test_a_refusal_after_the_direct_path_counted_the_request_is_not_counted_again(
    world, active, monkeypatch
):
    """The direct path counts the request against the key's rate limit; when it hands the
    request to the view (here: a use the key's organisation may not ask about), the view
    uses that count rather than counting the request a second time."""
    from fundapp.api.throttling import ClientRateThrottle

    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "2/min"})
    client, headers = _bearer_client(world.licensee)
    not_own = json.dumps(ask_body(world, licensee=world.other.code))
    own = json.dumps(ask_body(world))

    answers = [
        client.post(URL, payload, content_type="application/json", **headers)
        for payload in (not_own, own, own)
    ]

    assert [a.status_code for a in answers] == [403, 200, 429]
    assert answers[0].json()["code"] == "check_not_own_use"


@pytest.mark.parametrize("change", ["revoked_at", "expires_at"])
def test_a_revoked_or_expired_key_stops_working_on_the_next_request(world, active, change):
    """The prepared key lookup reads the row on every request: nothing is cached."""
    client, headers = _bearer_client(world.licensee)
    _post_counting(client, headers, ask_body(world))
    _post_counting(client, headers, ask_body(world))

    ApiKey.objects.filter(organisation=world.licensee, name="partner system").update(
        **{change: datetime.now(UTC) - timedelta(seconds=1)}
    )
    response = client.post(
        URL, json.dumps(ask_body(world)), content_type="application/json", **headers
    )

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")


# --------------------------------------------------------------------------- rate limit


def _two_a_minute(monkeypatch) -> None:
    from fundapp.api.throttling import ClientRateThrottle

    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "2/min"})


def _post(client: Client, headers: dict[str, Any], body: object) -> int:
    return client.post(
        URL, json.dumps(body), content_type="application/json", **headers
    ).status_code


def test_a_wrong_secret_does_not_spend_the_keys_budget(world, active, monkeypatch):
    """The count is sent before the key is read, on a counter named by the presented key's
    id and secret: requests with the key's id and a wrong secret are refused (401) and
    count on a counter of their own, so the key keeps its whole limit."""
    _two_a_minute(monkeypatch)
    client, headers = _bearer_client(world.licensee)
    wrong = {"HTTP_AUTHORIZATION": headers["HTTP_AUTHORIZATION"][:-2] + "xx"}

    refused = [_post(client, wrong, ask_body(world)) for _ in range(3)]
    answered = [_post(client, headers, ask_body(world)) for _ in range(3)]

    assert refused == [401, 401, 401]
    assert answered == [200, 200, 429]


def test_a_key_without_the_scope_is_refused_without_being_counted(world, active, monkeypatch):
    """A key that authenticates but lacks ``licences:check`` is refused (403) before any rate
    limit, as by the API's view: the count the direct path sent is given back."""
    _two_a_minute(monkeypatch)
    client, headers = _bearer_client(world.licensee)
    key = ApiKey.objects.filter(organisation=world.licensee, name="partner system")
    key.update(scopes=["licences:read"])
    unscoped = [_post(client, headers, ask_body(world)) for _ in range(3)]
    key.update(scopes=["licences:check"])
    scoped = [_post(client, headers, ask_body(world)) for _ in range(3)]

    assert unscoped == [403, 403, 403]
    assert scoped == [200, 200, 429]


def test_the_check_and_the_other_endpoints_share_one_limit_per_key(world, active, monkeypatch):
    """§14: one limit per key across endpoints. The check counts before reading the key,
    the other endpoints after authenticating it; both count on the same counter."""
    from fundapp.api.throttling import ClientRateThrottle

    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "3/min"})
    client, headers = _bearer_client(world.licensee)
    ApiKey.objects.filter(organisation=world.licensee, name="partner system").update(
        scopes=["licences:check", "licences:read"]
    )

    listed = client.get("/api/v1/licences/", **headers).status_code
    checks = [_post(client, headers, ask_body(world)) for _ in range(2)]
    refused = client.get("/api/v1/licences/", **headers)

    assert (listed, checks) == (200, [200, 200])
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1


def test_a_script_redis_forgot_is_sent_again_and_counted_once(world, active, monkeypatch):
    """After a restart Redis no longer knows the counting script (NOSCRIPT, nothing
    counted): the check sends the script itself, and the request counts once."""
    from django.core.cache import cache

    _two_a_minute(monkeypatch)
    client, headers = _bearer_client(world.licensee)
    first = _post(client, headers, ask_body(world))
    cache._cache.get_client(write=True).script_flush()  # type: ignore[attr-defined]
    later = [_post(client, headers, ask_body(world)) for _ in range(2)]

    assert (first, later) == (200, [200, 429])


def test_every_redis_connection_of_the_check_goes_back_to_the_pool(world, active, monkeypatch):
    """The count is sent on the thread's own connection, not one lent by the pool:
    answered, refused by the limit, or refused for the key (its count given back through
    the pool's client), no pooled connection is left in use."""
    from django.core.cache import cache

    _two_a_minute(monkeypatch)
    client, headers = _bearer_client(world.licensee)
    wrong = {"HTTP_AUTHORIZATION": headers["HTTP_AUTHORIZATION"][:-2] + "xx"}
    statuses = [_post(client, h, ask_body(world)) for h in (headers, wrong, headers, headers)]
    pool = cache._cache._get_connection_pool(write=True)  # type: ignore[attr-defined]

    assert statuses == [200, 401, 200, 429]
    assert not pool._in_use_connections


def test_the_check_answers_503_while_redis_is_down(world, active, settings):
    """§17: with Redis unreachable the check cannot count, and answers 503 problem+json with
    Retry-After (never a 500, never an answer that skipped the limit)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    client, headers = _bearer_client(world.licensee)
    response = client.post(
        URL, json.dumps(ask_body(world)), content_type="application/json", **headers
    )

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) > 0


def test_a_single_check_hashes_the_secret_once_and_parses_the_check_once(
    world, active, monkeypatch
):
    """The direct path hashes the presented secret once (the rate limit's counter and the
    key's check share the hash) and answers the check it parsed for its statement without
    parsing it again."""
    from fundapp.accounts import models as account_models
    from fundapp.api import throttling
    from ip_licensing import api as licence_api
    from ip_licensing.services import check as check_service

    client, headers = _bearer_client(world.licensee)
    assert _post(client, headers, ask_body(world)) == 200  # warm up: the key's last-use stamp
    calls = {"hash": 0, "parse": 0}
    parse = check_service._WellFormed.parse

    def counting_hash(secret: str) -> str:
        calls["hash"] += 1
        return hash_secret(secret)

    def counting_parse(self: Any, item: Any) -> Any:
        calls["parse"] += 1
        return parse(self, item)

    for module in (licence_api, account_models, throttling):
        monkeypatch.setattr(module, "hash_secret", counting_hash, raising=False)
    monkeypatch.setattr(check_service._WellFormed, "parse", counting_parse)

    answered = _post(client, headers, ask_body(world))

    assert answered == 200
    assert calls == {"hash": 1, "parse": 1}
