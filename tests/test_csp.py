"""Every page sends the Content-Security-Policy (§17): this origin only, no inline script
or style, no eval, never framed; the JSON API is left alone (fundapp.csp)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import clear_url_caches, include, path

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [
    path("csp-forbidden/", forbidden),
    path("csp-broken/", broken),
    path("", include("fundapp.urls")),
]


@pytest.fixture(autouse=True)
def _error_routes(settings) -> Iterator[None]:
    settings.ROOT_URLCONF = __name__
    clear_url_caches()
    yield
    clear_url_caches()


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives
        directives[name] = sources
    return directives


def assert_strict(response) -> None:
    assert policy_of(response) == POLICY
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    assert "http:" not in header and "https:" not in header and "*" not in header


def test_a_page_for_an_anonymous_visitor(client):
    response = client.get("/")
    assert response.status_code == 200
    assert_strict(response)
    assert_strict(client.get("/accounts/login/"))


def test_a_page_for_a_signed_in_user(client):
    client.force_login(UserFactory.create())
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert_strict(response)


def test_error_pages():
    client = Client(raise_request_exception=False)
    for url, status in (
        ("/no-such-page/", 404),
        ("/csp-forbidden/", 403),
        ("/csp-broken/", 500),
    ):
        response = client.get(url)
        assert response.status_code == status, url
        assert_strict(response)


def test_the_json_api_gets_no_policy(client):
    response = client.get("/api/v1/calls/")
    assert response["Content-Type"].startswith("application/")
    assert "Content-Security-Policy" not in response
    assert "Content-Security-Policy" not in client.get("/api/schema/")


def test_the_api_docs_relax_only_what_their_viewers_need(client):
    swagger = policy_of(client.get("/api/docs/"))
    assert swagger == {**POLICY, "img-src": ["'self'", "data:"]}
    redoc = policy_of(client.get("/api/redoc/"))
    assert redoc == {
        **POLICY,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "worker-src": ["blob:"],
    }
    for page in ("/api/docs/", "/api/redoc/"):
        body = client.get(page).content.decode()
        assert "<script>" not in body and "<style" not in body and "googleapis" not in body
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
