from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fundapp.accounts.models import ApiKey, Organisation
from fundapp.accounts.services import api_key_revoke
from fundapp.audit.models import AuditEvent
from tests.accounts.conftest import bearer
from tests.factories import OrganisationFactory, UserFactory, kr_org

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/organisations/"
PROBLEM = "application/problem+json"
FIELDS = {"id", "code", "name_en", "name_ja", "name_ko", "country", "kind", "side"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


# --- API keys against the API --------------------------------------------------------------


def test_an_issued_key_authenticates(api_client, issued_key, org):
    key, full_key = issued_key

    response = api_client.get(LIST_URL, **bearer(full_key))

    assert response.status_code == 200
    assert [o["code"] for o in response.json()["results"]] == ["JP-OSK-01"]
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_a_revoked_key_answers_401(api_client, issued_key, fund_officer):
    key, full_key = issued_key
    api_key_revoke(key=key, actor=fund_officer)

    body = assert_problem(api_client.get(LIST_URL, **bearer(full_key)), 401)
    assert "revoked" in body["detail"]


def test_an_expired_key_answers_401(api_client, issued_key):
    key, full_key = issued_key
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    body = assert_problem(api_client.get(LIST_URL, **bearer(full_key)), 401)
    assert "expired" in body["detail"]


def test_a_wrong_secret_answers_401(api_client, issued_key):
    _key, full_key = issued_key
    assert_problem(api_client.get(LIST_URL, **bearer(full_key[:-2] + "xx")), 401)


def test_anonymous_answers_401(api_client, org):
    response = api_client.get(LIST_URL)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- Reading ------------------------------------------------------------------------------


def test_list_fields_and_order_by_code(api_client, org):
    kr_org(code="KR-SNU-01")
    OrganisationFactory.create(code="US-MIT-01", country="US", kind=Organisation.Kind.UNIVERSITY)
    api_client.force_authenticate(UserFactory.create())

    body = api_client.get(LIST_URL).json()

    assert body["count"] == 3
    assert [o["code"] for o in body["results"]] == ["JP-OSK-01", "KR-SNU-01", "US-MIT-01"]
    assert set(body["results"][0]) == FIELDS
    assert [o["side"] for o in body["results"]] == ["JP", "KR", "OTHER"]


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("country=kr", ["KR-SNU-01"]),
        ("side=OTHER", ["US-MIT-01"]),
        ("kind=company", ["KR-SNU-01"]),
        ("side=JP&kind=university", ["JP-OSK-01"]),
    ],
)
def test_list_filters(api_client, org, query, codes):
    kr_org(code="KR-SNU-01", kind=Organisation.Kind.COMPANY)
    OrganisationFactory.create(code="US-MIT-01", country="US")
    api_client.force_authenticate(UserFactory.create())

    body = api_client.get(f"{LIST_URL}?{query}").json()

    assert [o["code"] for o in body["results"]] == codes


def test_an_invalid_filter_value_is_a_400_problem(api_client, org):
    api_client.force_authenticate(UserFactory.create())
    body = assert_problem(api_client.get(f"{LIST_URL}?side=MARS"), 400)
    assert "side" in body["errors"]


def test_retrieve_by_id_and_by_code(api_client, org, issued_key):
    _key, full_key = issued_key

    by_id = api_client.get(f"{LIST_URL}{org.pk}/", **bearer(full_key))
    by_code = api_client.get(f"{LIST_URL}JP-OSK-01/", **bearer(full_key))

    assert by_id.status_code == by_code.status_code == 200
    assert by_id.json() == by_code.json()
    assert by_code.json()["id"] == org.pk
    assert set(by_code.json()) == FIELDS


def test_an_all_digit_code_is_found_when_no_id_matches(api_client, org):
    numeric = OrganisationFactory.create(code="990001", country="JP")
    api_client.force_authenticate(UserFactory.create())

    response = api_client.get(f"{LIST_URL}990001/")

    assert response.status_code == 200 and response.json()["id"] == numeric.pk


def test_unknown_code_is_a_404_problem(api_client, org):
    api_client.force_authenticate(UserFactory.create())
    assert_problem(api_client.get(f"{LIST_URL}XX-NOPE-99/"), 404)
    assert_problem(api_client.get(f"{LIST_URL}987654321/"), 404)


@pytest.mark.parametrize("page_size", [5, 50])
def test_list_query_count_does_not_grow_with_page_size(
    api_client, issued_key, page_size, django_assert_max_num_queries
):
    _key, full_key = issued_key
    for n in range(60):
        OrganisationFactory.create(code=f"JP-Q{n:03d}")
    api_client.get(LIST_URL, **bearer(full_key))  # marks the key as used: no update next time

    # key lookup, count, page
    with django_assert_max_num_queries(3):
        response = api_client.get(f"{LIST_URL}?page_size={page_size}", **bearer(full_key))

    assert len(response.json()["results"]) == page_size


def test_list_query_count_is_the_same_for_small_and_large_pages(api_client, fund_officer):
    for n in range(60):
        OrganisationFactory.create(code=f"JP-Q{n:03d}")
    api_client.force_login(fund_officer)

    counts = []
    for size in (2, 60):
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get(f"{LIST_URL}?page_size={size}").status_code == 200
        counts.append(len(ctx.captured_queries))

    assert counts[0] == counts[1]


# --- Writing ------------------------------------------------------------------------------

NEW_ORG = {
    "code": "KR-KAIST-01",
    "name_en": "Korea Institute of Semiconductors",
    "name_ko": "한국반도체연구원",
    "country": "kr",
    "kind": "institute",
}


def test_officer_creates_an_organisation_with_audit(api_client, fund_officer):
    api_client.force_authenticate(fund_officer)

    response = api_client.post(LIST_URL, NEW_ORG, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["country"] == "KR" and body["side"] == "KR" and body["name_ja"] == ""
    event = AuditEvent.objects.get(action="organisation.created")
    assert event.object_id == str(body["id"]) and event.actor_user_id == fund_officer.pk
    assert event.after is not None
    assert event.after["code"] == "KR-KAIST-01"


def test_a_bad_post_body_is_a_400_problem_with_field_errors(api_client, fund_officer, org):
    api_client.force_authenticate(fund_officer)

    response = api_client.post(
        LIST_URL,
        {"code": "JP-OSK-01", "country": "Japan", "kind": "club"},
        format="json",
    )

    body = assert_problem(response, 400)
    assert {"code", "country", "kind", "name_en"} <= set(body["errors"])
    assert all(isinstance(m, str) for msgs in body["errors"].values() for m in msgs)
    assert Organisation.objects.count() == 1
    assert not AuditEvent.objects.filter(action="organisation.created").exists()


def test_a_malformed_json_body_is_a_400_problem(api_client, fund_officer):
    api_client.force_authenticate(fund_officer)
    response = api_client.post(LIST_URL, "{not json", content_type="application/json")
    assert_problem(response, 400)


def test_officer_patches_by_code_and_side_follows_country(api_client, fund_officer, org):
    api_client.force_authenticate(fund_officer)

    response = api_client.patch(
        f"{LIST_URL}JP-OSK-01/", {"name_en": "Osaka Photonics", "country": "US"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["side"] == "OTHER"
    org.refresh_from_db()
    assert (org.name_en, org.country, org.side) == ("Osaka Photonics", "US", "OTHER")
    event = AuditEvent.objects.get(action="organisation.updated")
    assert event.before == {
        "name_en": "Osaka Institute of Photonics",
        "country": "JP",
        "side": "JP",
    }
    assert event.after == {"name_en": "Osaka Photonics", "country": "US", "side": "OTHER"}


def test_the_code_cannot_be_changed(api_client, fund_officer, org):
    api_client.force_authenticate(fund_officer)

    body = assert_problem(
        api_client.patch(f"{LIST_URL}{org.pk}/", {"code": "JP-NEW-01"}, format="json"), 400
    )

    assert "code" in body["errors"]
    org.refresh_from_db()
    assert org.code == "JP-OSK-01"


def test_a_patch_that_changes_nothing_writes_no_event(api_client, fund_officer, org):
    api_client.force_authenticate(fund_officer)
    response = api_client.patch(f"{LIST_URL}{org.pk}/", {"country": "JP"}, format="json")
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="organisation.updated").exists()


def test_put_and_delete_are_not_allowed(api_client, fund_officer, org):
    api_client.force_authenticate(fund_officer)
    assert_problem(api_client.put(f"{LIST_URL}{org.pk}/", NEW_ORG, format="json"), 405)
    assert_problem(api_client.delete(f"{LIST_URL}{org.pk}/"), 405)


def test_keys_may_not_write(api_client, issued_key, org):
    _key, full_key = issued_key

    assert_problem(api_client.post(LIST_URL, NEW_ORG, format="json", **bearer(full_key)), 403)
    assert_problem(
        api_client.patch(
            f"{LIST_URL}{org.pk}/", {"name_en": "Hijacked"}, format="json", **bearer(full_key)
        ),
        403,
    )
    org.refresh_from_db()
    assert org.name_en == "Osaka Institute of Photonics"


def test_researchers_may_read_but_not_write(api_client, org):
    api_client.force_authenticate(UserFactory.create())
    assert api_client.get(f"{LIST_URL}{org.pk}/").status_code == 200
    assert_problem(api_client.post(LIST_URL, NEW_ORG, format="json"), 403)


def test_session_writes_need_csrf(fund_officer):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(fund_officer)
    assert_problem(client.post(LIST_URL, NEW_ORG, format="json"), 403)
    assert not Organisation.objects.filter(code="KR-KAIST-01").exists()


def test_the_schema_documents_organisations(api_client, fund_officer):
    api_client.force_authenticate(fund_officer)
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/organisations/"])
    detail = paths["/api/v1/organisations/{id_or_code}/"]
    assert {"get", "patch"} <= set(detail)
    assert "404" in detail["get"]["responses"]
