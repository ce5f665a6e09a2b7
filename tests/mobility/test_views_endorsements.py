"""The host organisation's endorsement page (§25, §15): its research office sees what
awaits it and endorses or returns each application; others see nothing of it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mobility.models import ApplicationState
from tests.factories import UserFactory, member_of
from tests.factories.mobility import exchange, submitted_application

pytestmark = pytest.mark.django_db


def test_the_host_office_sees_the_applications_awaiting_it_and_endorses_one(client):
    x = exchange()
    application = submitted_application(x)
    client.force_login(x.host_office)

    page = client.get(reverse("visit_applications:endorsements")).content.decode()
    assert f'data-application="{application.pk}"' in page
    response = client.post(
        reverse("visit_applications:endorse", args=[application.pk]),
        {f"e{application.pk}-comment": "Welcome"},
    )

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.state == ApplicationState.ENDORSED
    assert application.endorsement_comment == "Welcome"
    page = client.get(reverse("visit_applications:endorsements")).content.decode()
    assert f'data-application="{application.pk}"' not in page


def test_a_return_needs_a_translated_reason_and_keeps_the_application_waiting(client):
    x = exchange()
    application = submitted_application(x)
    office = x.host_office
    office.preferred_language = "ko"
    office.save(update_fields=["preferred_language"])
    client.force_login(office)
    url = reverse("visit_applications:return", args=[application.pk])

    refused = client.post(url, {f"r{application.pk}-reason": ""}, HTTP_ACCEPT_LANGUAGE="ko")

    assert refused.status_code == 422
    assert "This field is required." not in refused.content.decode()
    application.refresh_from_db()
    assert application.state == ApplicationState.SUBMITTED

    client.post(url, {f"r{application.pk}-reason": "Dates clash with our shutdown"})
    application.refresh_from_db()
    assert application.state == ApplicationState.DRAFT


@pytest.mark.parametrize("who", ["visitor", "home_office", "other_office", "stranger"])
def test_nobody_else_endorses_and_the_page_shows_them_nothing(client, who):
    x = exchange()
    application = submitted_application(x)
    actor = {
        "visitor": x.visitor,
        "home_office": x.home_office,
        "other_office": member_of(exchange().host, research_office=True),
        "stranger": UserFactory.create(),
    }[who]
    client.force_login(actor)

    page = client.get(reverse("visit_applications:endorsements")).content.decode()
    response = client.post(reverse("visit_applications:endorse", args=[application.pk]))

    assert f'data-application="{application.pk}"' not in page
    # Who may see the application hears the service's refusal; others, 404.
    assert response.status_code == (403 if who in ("visitor", "home_office") else 404)
    application.refresh_from_db()
    assert application.state == ApplicationState.SUBMITTED


@pytest.mark.parametrize("count", [1, 4])
def test_the_list_costs_a_fixed_number_of_queries(client, django_assert_max_num_queries, count):
    x = exchange()
    for _ in range(count):
        submitted_application(x, effort_percent=10)
    client.force_login(x.host_office)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("visit_applications:endorsements"))
    assert response.content.decode().count("data-endorse-form") == count


@pytest.mark.parametrize(
    ("language", "home", "host", "dates"),
    [
        ("ja", "所属機関", "受入機関", ("開始日", "終了日")),
        ("ko", "소속 기관", "수용 기관", ("시작일", "종료일")),
    ],
)
def test_the_page_names_the_home_and_the_host_organisation_as_such(
    client, language, home, host, dates
):
    """The two organisations of a visit are labelled as organisations, not as the start and
    end dates the words "From" and "To" translate to elsewhere."""
    x = exchange()
    application = submitted_application(x)
    client.force_login(x.host_office)

    page = client.get(
        reverse("visit_applications:endorsements"), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()

    assert f'data-application="{application.pk}"' in page
    assert home in page and host in page
    assert not any(word in page for word in dates)
