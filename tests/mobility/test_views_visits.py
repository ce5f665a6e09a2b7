"""Visit pages (§15, §25): "My visits", "Hosted visits" and a visit's page, their forms,
404 for visits one may not see, and pinned query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fundapp.kernel.calendar import today_in_tokyo
from mobility.models import Visit, VisitState
from mobility.services.stipends import stipends_release
from mobility.services.visits import visit_confirm_arrival, visit_confirm_departure
from tests.factories import UserFactory, member_of, officer
from tests.factories.mobility import VisitApplicationFactory, awarded_visit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueued_release(monkeypatch):
    monkeypatch.setattr("mobility.services.visits._enqueue_stipends", lambda visit_id: None)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_my_visits_shows_the_stipends_month_by_month_and_the_report_form_once_ended():
    visit = awarded_visit(months=3)
    day = today_in_tokyo()
    visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=day)
    stipends_release(today=day)
    visitor = client_for(visit.application.visitor)

    page = visitor.get(reverse("visits:mine"))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'data-visit="{visit.pk}"' in html
    assert 'data-month="1"' in html
    assert "data-report-form" not in html
    assert "data-arrival-form" not in html

    visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=day)
    assert "data-report-form" in visitor.get(reverse("visits:mine")).content.decode()
    sent = visitor.post(reverse("visits:report", args=[visit.pk]), {"report_ko": "보고서"})
    assert sent.status_code == 302
    assert Visit.objects.get(pk=visit.pk).state == VisitState.CLOSED


def test_an_empty_report_shows_the_field_error():
    visit = awarded_visit()
    day = today_in_tokyo()
    visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=day)
    visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=day)
    page = client_for(visit.application.visitor).post(reverse("visits:report", args=[visit.pk]))
    assert page.status_code == 422
    assert "field-errors" in page.content.decode()


def test_the_host_office_confirms_arrival_and_departure_in_the_browser():
    visit = awarded_visit()
    office = client_for(member_of(visit.application.host_organisation, research_office=True))
    hosted = office.get(reverse("visits:hosted")).content.decode()
    assert "data-arrival-form" in hosted
    day = today_in_tokyo().isoformat()
    assert (
        office.post(reverse("visits:arrival", args=[visit.pk]), {"arrived_on": day}).status_code
        == 302
    )
    assert Visit.objects.get(pk=visit.pk).state == VisitState.ACTIVE
    assert "data-departure-form" in office.get(reverse("visits:hosted")).content.decode()
    refused = office.post(reverse("visits:arrival", args=[visit.pk]), {"arrived_on": day})
    assert refused.status_code == 409
    assert (
        office.post(reverse("visits:departure", args=[visit.pk]), {"ended_on": day}).status_code
        == 302
    )
    assert Visit.objects.get(pk=visit.pk).state == VisitState.ENDED


def test_a_member_without_the_office_gets_no_form_and_a_refusal():
    visit = awarded_visit()
    member = client_for(member_of(visit.application.host_organisation))
    page = member.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert "data-arrival-form" not in page
    answer = member.post(
        reverse("visits:arrival", args=[visit.pk]), {"arrived_on": today_in_tokyo().isoformat()}
    )
    assert answer.status_code == 403
    assert Visit.objects.get(pk=visit.pk).state == VisitState.AWARDED


def test_a_visit_one_may_not_see_answers_404():
    visit = awarded_visit()
    stranger = client_for(UserFactory.create())
    assert stranger.get(reverse("visits:detail", args=[visit.pk])).status_code == 404
    assert stranger.post(reverse("visits:arrival", args=[visit.pk]), {}).status_code == 404


def test_the_visit_page_reads_its_history_in_sentences():
    visit = awarded_visit()
    visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=today_in_tokyo())
    page = client_for(officer("JP")).get(reverse("visits:detail", args=[visit.pk]))
    assert 'data-action="visit.arrived"' in page.content.decode()


@pytest.mark.parametrize("name", ["visits:mine", "visits:hosted"])
def test_the_lists_take_the_same_queries_for_one_and_for_six_visits(name):
    visitor = UserFactory.create()
    host = VisitApplicationFactory.create().host_organisation
    office = member_of(host, research_office=True)
    reader = visitor if name == "visits:mine" else office
    client = client_for(reader)

    def add(count: int) -> None:
        for _ in range(count):
            application = VisitApplicationFactory.create(
                visitor=visitor, host_organisation=host, state="awarded"
            )
            visit = awarded_visit(application=application)
            visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=today_in_tokyo())

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(name)).status_code == 200
        return len(queries)

    add(1)
    small = count()
    add(5)
    assert count() == small
