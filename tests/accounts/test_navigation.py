import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import translation

from fundapp.accounts.context_processors import navigation
from fundapp.accounts.models import Role
from tests.factories import UserFactory, officer

pytestmark = pytest.mark.django_db


def nav_for(user, path="/"):
    request = RequestFactory().get(path)
    request.user = user
    with translation.override("en"):
        context = navigation(request)
        return [(str(item.label), item.url, item.active) for item in context["nav_items"]]


@pytest.mark.urls("tests.accounts.nav_urls")
def test_anonymous_sees_public_calls():
    assert nav_for(AnonymousUser()) == [("Calls", "/", True)]
    assert nav_for(AnonymousUser(), path="/accounts/login/") == [("Calls", "/", False)]


@pytest.mark.urls("tests.accounts.nav_urls")
def test_researcher_sees_dashboard_and_own_proposals():
    labels = [label for label, _url, _active in nav_for(UserFactory.create(role=Role.RESEARCHER))]
    assert labels == ["Dashboard", "My proposals", "Calls"]


@pytest.mark.urls("tests.accounts.nav_urls")
def test_fund_officer_sees_management_links_and_the_current_one_is_active():
    items = nav_for(officer(), path="/accounts/api-keys/new/")
    assert items == [
        ("Dashboard", "/dashboard/", False),
        ("Calls", "/manage/calls/", False),
        ("Proposals", "/proposals/", False),
        ("API keys", "/accounts/api-keys/", True),
    ]


@pytest.mark.urls("tests.accounts.nav_urls")
def test_home_link_follows_the_home_route():
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert navigation(request)["nav_home_url"] == "/"


@pytest.mark.urls("tests.accounts.urls_accounts_only")
def test_links_to_pages_that_do_not_exist_yet_are_left_out():
    request = RequestFactory().get("/")
    request.user = officer()
    with translation.override("en"):
        items = navigation(request)["nav_items"]
    assert [str(item.label) for item in items] == ["API keys"]


def test_the_layout_shows_the_navigation_by_role(client):
    body = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/login/?next=' in body
    assert "/accounts/api-keys/" not in body

    client.force_login(officer())
    body = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/api-keys/"' in body
    assert 'action="/accounts/logout/"' in body
    assert 'action="/accounts/language/"' in body
    for code in ("ja", "ko", "en"):
        assert f'name="language" value="{code}"' in body
