"""The published schema is exact (§14): JSON bodies, problem+json errors on every
operation, integer ids, bounded pages, the Idempotency-Key header, nullable fields."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from fundapp.accounts.models import Role
from fundapp.api.pagination import CursorPagination
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _officer_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory.create(role=Role.FUND_OFFICER, side="JP"))
    return client


def test_every_operation_documents_its_errors_as_problem_json(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        expected = {"400", "401", "403", "404", "405", "429", "503"}
        if method != "get":
            expected.add("409")
        if "requestBody" in operation:
            expected |= {"413", "415"}
        assert expected <= set(responses), (method, path, expected - set(responses))
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM], (method, path, status)
                assert response["content"][PROBLEM]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
        for status in ("429", "503"):
            assert responses[status]["headers"]["Retry-After"]["required"] is True


def test_the_problem_component_is_what_the_errors_answer(schema):
    problem = schema["components"]["schemas"]["Problem"]

    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert problem["properties"]["errors"]["additionalProperties"]["type"] == "array"
    assert "ProposalProblem" not in schema["components"]["schemas"]


def test_request_bodies_are_json_except_the_uploads(schema):
    media = {
        (method, path): list(operation["requestBody"]["content"])
        for path, method, operation in operations(schema)
        if "requestBody" in operation
    }

    upload = ("post", "/api/v1/proposals/{id}/attachments/")
    assert media.pop(upload) == ["multipart/form-data"]
    # Evidence files (§22): an upload ahead of its measurement, and the two writes that take
    # files either by reference (JSON) or as parts.
    assert media.pop(("post", "/api/v1/projects/{id}/evidence/")) == ["multipart/form-data"]
    for both in ("/api/v1/measurements/", "/api/v1/measurements/{id}/evidence/"):
        assert media.pop(("post", both)) == ["application/json", "multipart/form-data"]
    # A deliverable's files (§24) are uploaded too.
    submit = ("post", "/api/v1/projects/{project_pk}/deliverables/{id}/submit/")
    assert media.pop(submit) == ["multipart/form-data"]
    assert media
    assert {tuple(types) for types in media.values()} == {("application/json",)}


def test_id_filters_are_integers_and_pages_start_at_one(schema):
    ids = 0
    for _path, _method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            kind = parameter["schema"].get("type")
            assert kind != "number", parameter
            if parameter["name"] in ("page", "page_size"):
                assert parameter["schema"]["minimum"] == 1
            if parameter.get("description", "").endswith(" id.") or parameter["name"] in (
                "project",
                "call",
                "kpi",
                "stage",
                "licence",
                "asset",
                "proposal",
                "parent",
                "subject_id",
            ):
                ids += 1
                assert kind == "integer", parameter
                assert parameter["schema"]["minimum"] == 1
    assert ids >= 20


def test_idempotent_writes_document_the_header_and_422(schema):
    idempotent = {
        ("post", "/api/v1/measurements/"),
        ("post", "/api/v1/measurements/{id}/evidence/"),
        ("post", "/api/v1/measurements/{id}/attest/"),
        ("post", "/api/v1/measurements/{id}/dispute/"),
        ("post", "/api/v1/disbursements/{id}/confirm/"),
        ("post", "/api/v1/royalty-reports/"),
        ("post", "/api/v1/visits/{id}/arrival/"),
        ("post", "/api/v1/visits/{id}/departure/"),
    }
    for path, method, operation in operations(schema):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        names = [p["name"] for p in headers]
        if (method, path) in idempotent:
            assert names.count("Idempotency-Key") == 1
            assert headers[names.index("Idempotency-Key")]["required"] is True
            assert "422" in operation["responses"]
        else:
            assert "Idempotency-Key" not in names, (method, path)


def test_nullable_and_required_fields(schema):
    components = schema["components"]["schemas"]

    assert components["ProjectList"]["properties"]["research_area"]["nullable"] is True
    assert set(components["MeasurementCreateRequest"]["required"]) == {
        "kpi",
        "value",
        "measured_at",
    }


def test_cursor_pattern_matches_the_cursors_the_api_writes(schema):
    cursor = schema["paths"]["/api/v1/measurements/"]["get"]["parameters"][0]
    assert cursor["name"] == "cursor"
    pattern = re.compile(cursor["schema"]["pattern"])

    for written in ("f", "fp12", "ro3p12", "fo1"):
        assert pattern.match(written)
    for refused in ("", "p12", "cD0xMg==", "fp1.5", "fpabc"):
        assert not pattern.match(refused)
    assert cursor["schema"]["pattern"] == CursorPagination().cursor_pattern


def test_research_area_codes_allow_digit_led_segments(schema):
    pattern = re.compile(
        schema["components"]["schemas"]["ResearchArea"]["properties"]["code"]["pattern"]
    )

    assert pattern.match("materials.2d")
    assert not pattern.match("2d.materials")


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page_size=0"])
def test_page_zero_answers_400_problem(query):
    response = _officer_client().get(f"/api/v1/projects/?{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert query.split("=")[0] in response.json()["errors"]


@pytest.mark.parametrize("cursor", ["x", "f p1", "fp", "cD0xMg==", "fo-1"])
def test_a_bad_cursor_answers_400_problem(cursor):
    response = _officer_client().get("/api/v1/measurements/", {"cursor": cursor})

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "cursor" in response.json()["errors"]


@pytest.mark.parametrize("value", ["maybe", "yes", "2", "tru"])
def test_a_boolean_filter_refuses_anything_but_true_or_false(value):
    response = _officer_client().get("/api/v1/royalty-reports/", {"current": value})

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "current" in response.json()["errors"]


@pytest.mark.parametrize("value", ["true", "false", "1", "0"])
def test_a_boolean_filter_reads_true_and_false(value):
    assert _officer_client().get("/api/v1/royalty-reports/", {"current": value}).status_code == 200


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "9223372036854775808"])
def test_an_id_filter_out_of_range_answers_400(value):
    response = _officer_client().get("/api/v1/tranches/", {"project": value})

    assert response.status_code == 400
    assert "project" in response.json()["errors"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/projects/1/"),
        ("put", "/api/v1/tranches/1/"),
        ("post", "/api/v1/ledger/accounts/"),
        ("delete", "/api/v1/research-areas/"),
    ],
)
def test_an_unsupported_method_answers_405_before_any_permission_check(method, path):
    anonymous = getattr(APIClient(), method)(path)
    researcher = APIClient()
    researcher.force_authenticate(UserFactory.create())
    signed_in = getattr(researcher, method)(path)

    for response in (anonymous, signed_in):
        assert response.status_code == 405, response.content
        assert response["Content-Type"] == PROBLEM
        assert response.json()["status"] == 405
        assert method.upper() not in response["Allow"]


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_an_unknown_api_url_is_a_problem_404_for_every_method(method):
    response = getattr(_officer_client(), method)("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_text_with_a_nul_character_is_a_field_error():
    organisation = OrganisationFactory.create()

    response = _officer_client().patch(
        f"/api/v1/organisations/{organisation.code}/", {"name_en": "a\x00b"}, format="json"
    )

    assert response.status_code == 400
    assert "name_en" in response.json()["errors"]


def test_a_number_for_a_text_field_is_a_field_error():
    organisation = OrganisationFactory.create()

    response = _officer_client().patch(
        f"/api/v1/organisations/{organisation.code}/", {"name_en": 12}, format="json"
    )

    assert response.status_code == 400
    assert "name_en" in response.json()["errors"]
