"""Calls in the browser: the public list and detail, and officers' call management (§15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from projects.models import Call, CallState, ReviewCriterion
from projects.services.calls import CallData, CriterionData, call_create
from tests.factories import CallFactory, FundFactory, ResearchAreaFactory, UserFactory, officer

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer_client(client):
    client.force_login(officer("JP"))
    return client


@pytest.fixture
def researcher_client(client):
    client.force_login(UserFactory.create())
    return client


# --- public -------------------------------------------------------------------------------


def test_the_home_page_lists_only_calls_open_now_with_areas_and_deadlines(client):
    now = timezone.now()
    area = ResearchAreaFactory.create(code="quantum.comm", name_en="Quantum communication")
    shown = CallFactory.create(
        title_en="Quantum links",
        research_areas=[area],
        closes_at=datetime(2099, 1, 1, 4, 30, tzinfo=UTC),  # 13:30 in Tokyo
    )
    CallFactory.create(title_en="Drafted", state=CallState.DRAFT)
    CallFactory.create(title_en="Finished", state=CallState.CLOSED)
    CallFactory.create(title_en="Shelved", state=CallState.ARCHIVED)
    CallFactory.create(title_en="Overdue", closes_at=now - timedelta(minutes=1))  # beat not run yet

    response = client.get(reverse("home"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Quantum links" in page
    for hidden in ("Drafted", "Finished", "Shelved", "Overdue"):
        assert hidden not in page
    assert "Quantum communication" in page
    assert reverse("calls_public_detail", args=[shown.pk]) in page
    assert "1 Jan 2099 13:30 JST" in page
    assert "left" in page  # time remaining


def test_the_home_page_shows_titles_in_the_visitors_language(client):
    CallFactory.create(title_en="Green steel", title_ja="グリーン製鉄")
    client.cookies["jkfund_language"] = "ja"
    assert "グリーン製鉄" in client.get(reverse("home")).content.decode()


def test_the_home_page_queries_do_not_grow_with_the_number_of_calls(
    client, django_assert_max_num_queries
):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("home")).status_code == 200
        return len(ctx.captured_queries)

    CallFactory.create(research_areas=[ResearchAreaFactory.create(), ResearchAreaFactory.create()])
    one = count()
    for _ in range(10):
        CallFactory.create(
            research_areas=[ResearchAreaFactory.create(), ResearchAreaFactory.create()]
        )
    assert count() == one
    with django_assert_max_num_queries(2):  # the calls, their areas
        client.get(reverse("home"))


def test_the_public_detail_shows_the_call(client):
    call = CallFactory.create(
        title_en="AI chips",
        description_en="Edge inference.",
        max_budget_jpy=12_000_000,
        max_budget_krw=120_000_000,
        min_stages=3,
        max_stages=4,
    )
    ReviewCriterion.objects.create(
        call=call, name_en="Scientific merit", weight=Decimal("2"), order=0
    )

    page = client.get(reverse("calls_public_detail", args=[call.pk])).content.decode()

    for text in ("AI chips", "Edge inference.", "¥12,000,000", "₩120,000,000", "Scientific merit"):
        assert text in page
    assert "3 to 4 stages" in page
    assert "semiconductor.ai" in page


def test_a_draft_has_no_public_page_except_for_officers(client, officer_client):
    draft = CallFactory.create(state=CallState.DRAFT)
    url = reverse("calls_public_detail", args=[draft.pk])
    assert Client().get(url).status_code == 404
    assert officer_client.get(url).status_code == 200


# --- officers only ------------------------------------------------------------------------


def management_urls(call: Call) -> list[tuple[str, str]]:
    return [
        ("get", reverse("calls_manage_list")),
        ("get", reverse("calls_manage_create")),
        ("get", reverse("calls_manage_edit", args=[call.pk])),
        ("post", reverse("calls_manage_transition", args=[call.pk, "close"])),
    ]


@pytest.mark.parametrize("who", ["anonymous", "researcher", "finance_officer"])
def test_management_pages_answer_404_to_everyone_but_fund_officers(client, who):
    if who != "anonymous":
        client.force_login(UserFactory.create(role=who))
    call = CallFactory.create()
    for method, url in management_urls(call):
        assert getattr(client, method)(url).status_code == 404, url
    call.refresh_from_db()
    assert call.state == CallState.OPEN


def test_the_management_list_shows_every_state_and_filters(officer_client):
    CallFactory.create(title_en="Drafted", state=CallState.DRAFT)
    CallFactory.create(title_en="Running")

    everything = officer_client.get(reverse("calls_manage_list")).content.decode()
    drafts = officer_client.get(reverse("calls_manage_list") + "?state=draft").content.decode()

    assert "Drafted" in everything and "Running" in everything
    assert "Drafted" in drafts and "Running" not in drafts


def form_body(**overrides: Any) -> dict[str, str | list[str]]:
    area = ResearchAreaFactory.create(code="green.hydrogen")
    body: dict[str, str | list[str]] = {
        "fund": str(FundFactory.create().pk),
        "title_en": "Green hydrogen",
        "title_ja": "グリーン水素",
        "title_ko": "그린 수소",
        "description_en": "Electrolysers.",
        "research_areas": [str(area.pk)],
        "opens_at": "2099-04-01T09:00",
        "closes_at": "2099-06-30T17:00",
        "max_budget_jpy": "100000000",
        "max_budget_krw": "900000000",
        "min_stages": "2",
        "max_stages": "4",
        "max_project_months": "48",
        "pass_threshold": "1.0",
        "conditional_threshold": "0.8",
        "conditional_floor": "0.8",
        "bonus_rate": "0.5",
        "max_multiplier": "1.2",
        "conditional_rate": "0.8",
        "max_extensions": "1",
        "max_extension_months": "6",
        "auto_release_on_pass": "on",
        "criteria-TOTAL_FORMS": "2",
        "criteria-INITIAL_FORMS": "0",
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "20",
        "criteria-0-name_en": "Scientific merit",
        "criteria-0-weight": "2",
        "criteria-1-name_en": "",
        "criteria-1-weight": "",
    }
    body.update(overrides)
    return body


def test_an_officer_creates_a_call_in_the_browser(officer_client):
    response = officer_client.post(reverse("calls_manage_create"), form_body())

    call = Call.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("calls_manage_edit", args=[call.pk])
    assert call.state == CallState.DRAFT
    assert call.opens_at == datetime(2099, 4, 1, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert [c.name_en for c in call.criteria.all()] == ["Scientific merit"]
    assert call.auto_release_on_pass is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"closes_at": "2099-03-01T09:00"}, "The call must close after it opens."),
        ({"max_budget_jpy": "1000.5"}, "Enter a whole number."),
        ({"min_stages": "4", "max_stages": "3"}, "cannot be below the minimum"),
        ({"criteria-0-weight": "0"}, "Ensure this value is greater than or equal to 0.001."),
        ({"criteria-0-name_en": "", "criteria-0-weight": ""}, "Add at least one review criterion."),
        ({"conditional_threshold": "1.2"}, "up to the pass threshold"),
    ],
)
def test_a_refused_form_shows_the_error_and_saves_nothing(officer_client, overrides, message):
    response = officer_client.post(reverse("calls_manage_create"), form_body(**overrides))

    assert response.status_code == 422
    assert message in response.content.decode()
    assert Call.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def make_draft(**overrides: Any) -> Call:
    now = timezone.now()
    values: dict[str, Any] = {
        "title_en": "Green hydrogen",
        "research_areas": [ResearchAreaFactory.create(code="green.hydrogen")],
        "opens_at": now - timedelta(hours=1),
        "closes_at": now + timedelta(days=30),
        "max_budget_jpy": 100_000_000,
        "max_budget_krw": 900_000_000,
    }
    values.update(overrides)
    return call_create(
        actor=officer(),
        fund=FundFactory.create(),
        data=CallData(**values, criteria=[CriterionData(name_en="Merit", weight=Decimal(1))]),
    )


def test_the_edit_page_shows_the_form_and_the_history(officer_client):
    call = make_draft()

    page = officer_client.get(reverse("calls_manage_edit", args=[call.pk])).content.decode()

    assert 'value="Green hydrogen"' in page
    assert "call.created" in page
    assert reverse("calls_manage_transition", args=[call.pk, "open"]) in page


def test_an_officer_edits_a_draft(officer_client):
    call = make_draft()
    criterion = call.criteria.get()
    body = form_body(
        **{
            "title_en": "Green hydrogen (revised)",
            "research_areas": [str(a.pk) for a in call.research_areas.all()],
            "opens_at": timezone.localtime(call.opens_at).strftime("%Y-%m-%dT%H:%M"),
            "closes_at": timezone.localtime(call.closes_at).strftime("%Y-%m-%dT%H:%M"),
            "criteria-TOTAL_FORMS": "1",
            "criteria-INITIAL_FORMS": "1",
            "criteria-0-id": str(criterion.pk),
            "criteria-0-name_en": "Merit",
            "criteria-0-weight": "3",
        }
    )
    body.pop("criteria-1-name_en")
    body.pop("criteria-1-weight")

    response = officer_client.post(reverse("calls_manage_edit", args=[call.pk]), body)

    assert response.status_code == 302, response.content.decode()
    call.refresh_from_db()
    assert call.title_en == "Green hydrogen (revised)"
    assert call.criteria.get().weight == Decimal("3.000")
    assert AuditEvent.objects.filter(action="call.updated").count() == 1


def test_an_officer_opens_a_call_with_the_button(officer_client):
    call = make_draft()

    response = officer_client.post(reverse("calls_manage_transition", args=[call.pk, "open"]))

    assert response.status_code == 302
    call.refresh_from_db()
    assert call.state == CallState.OPEN
    page = officer_client.get(response["Location"]).content.decode()
    assert "call.opened" in page


def test_a_refused_transition_is_explained(officer_client):
    call = make_draft()

    response = officer_client.post(
        reverse("calls_manage_transition", args=[call.pk, "archive"]), follow=True
    )

    assert "Only a closed call can be archived" in response.content.decode()
    call.refresh_from_db()
    assert call.state == CallState.DRAFT


def test_transitions_take_post_only(officer_client):
    call = make_draft()
    url = reverse("calls_manage_transition", args=[call.pk, "open"])
    assert officer_client.get(url).status_code == 405
    assert (
        officer_client.post(
            reverse("calls_manage_transition", args=[call.pk, "explode"])
        ).status_code
        == 404
    )


def test_an_open_call_is_reworded_in_the_browser_while_its_rules_stay(officer_client):
    call = make_draft()
    officer_client.post(reverse("calls_manage_transition", args=[call.pk, "open"]))
    criterion = call.criteria.get()
    page = officer_client.get(reverse("calls_manage_edit", args=[call.pk])).content.decode()
    assert 'name="max_budget_jpy"' in page and "disabled" in page
    body = {
        "title_en": "Green hydrogen (reworded)",
        "closes_at": timezone.localtime(call.closes_at + timedelta(days=3)).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        "max_budget_jpy": "1",  # disabled: ignored
        "criteria-TOTAL_FORMS": "1",
        "criteria-INITIAL_FORMS": "1",
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "20",
        "criteria-0-id": str(criterion.pk),
        "criteria-0-name_en": "Merit",
        "criteria-0-name_ja": "メリット",
        "criteria-0-weight": "9",  # disabled: ignored
    }

    response = officer_client.post(reverse("calls_manage_edit", args=[call.pk]), body)

    assert response.status_code == 302, response.content.decode()
    call.refresh_from_db()
    assert call.title_en == "Green hydrogen (reworded)"
    assert call.max_budget_jpy == 100_000_000
    criterion.refresh_from_db()
    assert (criterion.name_ja, criterion.weight) == ("メリット", Decimal("1.000"))
