"""The visit application wizard (§25, §15): organisations → dates and plan → host
supervisor → review and submit; stale saves answer 409 keeping the input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from mobility.models import ApplicationState, VisitApplication
from tests.factories import UserFactory
from tests.factories.mobility import draft_application, exchange

pytestmark = pytest.mark.django_db


def test_a_researcher_applies_through_the_wizard_and_submits(client):
    x = exchange()
    client.force_login(x.visitor)
    call_page = client.get(reverse("calls_public_detail", args=[x.call.pk])).content.decode()
    assert reverse("mobility:apply", args=[x.call.pk]) in call_page

    response = client.post(
        reverse("mobility:apply", args=[x.call.pk]),
        {"home_organisation": x.home.pk, "host_organisation": x.host.pk},
    )
    application = VisitApplication.objects.get()
    assert response["Location"] == reverse("mobility:step", args=[application.pk, "plan"])
    start = (x.call.closes_at.date() + timedelta(days=60)).isoformat()
    response = client.post(
        reverse("mobility:step", args=[application.pk, "plan"]),
        {
            "version": application.version,
            "planned_start": start,
            "months": "6",
            "research_area": x.area.pk,
            "effort_percent": "50",
            "title_ko": "스핀 큐비트 측정",
            "plan_ko": "수용 기관의 장비로 공동 측정",
        },
    )
    assert response.status_code == 302
    application.refresh_from_db()
    response = client.post(
        reverse("mobility:step", args=[application.pk, "supervisor"]),
        {
            "version": application.version,
            "host_supervisor_name": "Kim Host",
            "host_supervisor_email": "kim@example.org",
        },
    )
    assert response["Location"] == reverse("mobility:application", args=[application.pk])
    client.post(reverse("mobility:submit", args=[application.pk]))

    application.refresh_from_db()
    assert application.state == ApplicationState.SUBMITTED
    mine = client.get(reverse("mobility:mine")).content.decode()
    assert f'data-application="{application.pk}"' in mine


def test_a_stale_save_answers_409_with_the_message_and_keeps_the_input(client):
    x = exchange()
    application = draft_application(x)
    client.force_login(x.visitor)

    response = client.post(
        reverse("mobility:step", args=[application.pk, "supervisor"]),
        {"version": application.version - 1, "host_supervisor_name": "Lee Typed"},
    )

    assert response.status_code == 409
    page = response.content.decode()
    assert 'value="Lee Typed"' in page
    application.refresh_from_db()
    assert application.host_supervisor_name == "Kim Host"


def test_field_errors_come_back_translated_on_the_fields(client):
    x = exchange(eligible_countries=["JP", "KR"])
    client.force_login(x.visitor)
    response = client.post(
        reverse("mobility:apply", args=[x.call.pk]),
        {"home_organisation": x.home.pk, "host_organisation": x.home.pk},
        HTTP_ACCEPT_LANGUAGE="ja",
    )
    assert response.status_code == 422
    assert "host_organisation" in response.context["form"].errors
    assert not VisitApplication.objects.exists()


def test_another_persons_application_answers_404(client):
    x = exchange()
    application = draft_application(x)
    client.force_login(UserFactory.create())
    for url in (
        reverse("mobility:application", args=[application.pk]),
        reverse("mobility:step", args=[application.pk, "plan"]),
    ):
        assert client.get(url).status_code == 404
    assert client.post(reverse("mobility:submit", args=[application.pk])).status_code == 404


@pytest.mark.parametrize("count", [1, 4])
def test_my_applications_costs_a_fixed_number_of_queries(
    client, django_assert_max_num_queries, count
):
    x = exchange()
    for _ in range(count):
        draft_application(x, effort_percent=10)
    client.force_login(x.visitor)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("mobility:mine"))
    assert response.content.decode().count("data-application=") == count
