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


def _names(user, **kwargs):
    from fundapp.accounts.context_processors import nav_entries

    return [name for _label, name in nav_entries(user, **kwargs)]


def test_a_researcher_sees_their_visit_applications_beside_their_visits():
    names = _names(UserFactory.create(role=Role.RESEARCHER))
    assert names.index("mobility:mine") == names.index("visits:mine") - 1
    assert "visit_applications:endorsements" not in names
    assert "visits:hosted" not in names
    assert names[0] == "dashboard" and names[-1] == "home"


def test_a_research_office_also_sees_the_endorsements_and_hosted_visits():
    names = _names(UserFactory.create(role=Role.RESEARCHER), research_office=True)
    assert {"visit_applications:endorsements", "visits:hosted", "mobility:mine"} <= set(names)
    assert names[-1] == "home"


def test_a_reviewer_sees_the_proposal_and_the_exchange_reviews():
    assert _names(UserFactory.create(role=Role.REVIEWER)) == [
        "dashboard",
        "reviews:queue",
        "visit_reviews:queue",
    ]
    assert "visit_reviews:queue" not in _names(officer())


def test_sign_in_remembers_a_research_office_and_the_pages_cost_no_query_for_it(
    client, django_assert_num_queries
):
    from fundapp.accounts.models import Membership
    from tests.factories import OrganisationFactory

    office = UserFactory.create(role=Role.RESEARCHER)
    Membership.objects.create(
        user=office, organisation=OrganisationFactory.create(), research_office=True
    )
    plain = UserFactory.create(role=Role.RESEARCHER)

    client.force_login(office)
    body = client.get("/accounts/login/").content.decode()
    assert 'href="/visit-applications/endorsements/"' in body
    assert 'href="/visits/hosted/"' in body
    assert 'href="/visit-applications/mine/"' in body
    request = RequestFactory().get("/")
    request.user = office
    request.session = client.session
    assert request.session["research_office"] is True  # the session itself is read once
    with django_assert_num_queries(0), translation.override("en"):
        labels = [str(item.label) for item in navigation(request)["nav_items"]]
    assert "Visit applications to endorse" in labels

    client.force_login(plain)
    body = client.get("/accounts/login/").content.decode()
    assert 'href="/visit-applications/endorsements/"' not in body
    assert 'href="/visit-applications/mine/"' in body


def test_a_reviewer_finds_the_exchange_reviews_in_the_layout(client):
    client.force_login(UserFactory.create(role=Role.REVIEWER))
    body = client.get("/accounts/login/").content.decode()
    assert 'href="/visit-applications/reviews/"' in body
    assert 'href="/reviews/"' in body
