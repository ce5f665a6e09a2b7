"""Visit pages (§15, §25): "My visits", "Hosted visits" and a visit's page, their forms,
404 for visits one may not see, and pinned query counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

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


# --------------------------------------------------------------------------- report PDF

SCRIPTED_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _ended_visit():
    visit = awarded_visit()
    day = today_in_tokyo()
    visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=day)
    visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=day)
    return visit


def _upload(content: bytes, name: str = "report.pdf"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.mark.usefixtures("private_media")
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("visitor", 200),
        ("host_office", 200),
        ("fund_officer", 200),
        ("home_office", 404),
        ("host_member", 404),
        ("finance_officer", 404),
        ("stranger", 404),
    ],
)
def test_the_report_pdf_is_filed_and_offered_only_to_the_visitor_host_office_and_officers(
    who, status
):
    from fundapp.accounts.models import Role
    from tests.factories.evidence import PDF

    visit = _ended_visit()
    application = visit.application
    sent = client_for(application.visitor).post(
        reverse("visits:report", args=[visit.pk]),
        {"report_en": "Done.", "report_pdf": _upload(PDF, "final.pdf")},
    )
    assert sent.status_code == 302
    visit.refresh_from_db()
    assert visit.state == VisitState.CLOSED
    assert visit.report_pdf_name == "final.pdf" and visit.report_pdf_size == len(PDF)
    person = {
        "visitor": application.visitor,
        "host_office": member_of(application.host_organisation, research_office=True),
        "fund_officer": officer("JP"),
        "home_office": member_of(application.home_organisation, research_office=True),
        "host_member": member_of(application.host_organisation),
        "finance_officer": UserFactory.create(role=Role.FINANCE_OFFICER),
        "stranger": UserFactory.create(),
    }[who]
    client = client_for(person)
    url = reverse("visits:report_pdf", args=[visit.pk])

    response = client.get(url)

    assert response.status_code == status
    if status == 200:
        assert b"".join(cast(Iterator[bytes], cast(Any, response).streaming_content)) == PDF
        assert response["Content-Type"] == "application/pdf"
        assert "attachment" in response["Content-Disposition"]
    detail = client.get(reverse("visits:detail", args=[visit.pk]))
    if detail.status_code == 200:
        assert ("data-report-pdf" in detail.content.decode()) == (status == 200)


@pytest.mark.usefixtures("private_media")
def test_a_pdf_with_a_script_is_refused_on_its_field_in_japanese_and_nothing_is_kept(
    private_media,
):
    visit = _ended_visit()
    client = client_for(visit.application.visitor)

    refused = client.post(
        reverse("visits:report", args=[visit.pk]),
        {"report_en": "Done.", "report_pdf": _upload(SCRIPTED_PDF)},
        HTTP_ACCEPT_LANGUAGE="ja",
    )

    assert refused.status_code == 422
    assert "report_pdf" in refused.context["report_form"].errors
    assert "このPDFにはJavaScriptが含まれています" in refused.content.decode()
    visit.refresh_from_db()
    assert visit.state == VisitState.ENDED and not visit.report_pdf_storage
    assert not private_media.exists() or not any(private_media.rglob("*.pdf"))


@pytest.mark.usefixtures("private_media")
def test_a_file_that_is_not_a_pdf_is_refused_by_its_content():
    from tests.factories.evidence import png

    visit = _ended_visit()
    refused = client_for(visit.application.visitor).post(
        reverse("visits:report", args=[visit.pk]),
        {"report_en": "Done.", "report_pdf": _upload(png(), "report.pdf")},
    )
    assert refused.status_code == 415
    assert "report_pdf" in refused.context["report_form"].errors
    assert Visit.objects.get(pk=visit.pk).state == VisitState.ENDED


@pytest.mark.usefixtures("private_media")
def test_a_report_without_a_pdf_has_no_download():
    visit = _ended_visit()
    client = client_for(visit.application.visitor)
    client.post(reverse("visits:report", args=[visit.pk]), {"report_en": "Done."})
    assert Visit.objects.get(pk=visit.pk).state == VisitState.CLOSED
    assert client.get(reverse("visits:report_pdf", args=[visit.pk])).status_code == 404
    page = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert "data-report-pdf" not in page
