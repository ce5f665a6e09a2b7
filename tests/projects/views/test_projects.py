"""The project list and the project page (§7, §15): who sees what, the timeline, the
charts, the links, and a query count that does not grow with the list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from pytest_django.asserts import assertContains, assertNotContains

from projects.models import ProjectState
from projects.services.measurements import measurement_record
from tests.factories.pages import at_noon, build_world
from tests.workflow_states import force_state

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "pages_urls", "eager_celery"),
]


@pytest.fixture
def world():
    return build_world()


def page_of(client, user, url):
    client.force_login(user)
    return client.get(url)


# --------------------------------------------------------------------------- who sees it


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("officer_jp", 200),
        ("finance_jp", 200),
        ("researcher", 200),
        ("stranger", 404),
        ("reviewer", 404),
    ],
)
def test_project_page_by_role(client, world, who, status):
    response = page_of(
        client, getattr(world, who), reverse("projects:project", args=[world.project.pk])
    )
    assert response.status_code == status


def test_a_missing_project_is_the_same_404(client, world):
    assert (
        page_of(client, world.officer_jp, reverse("projects:project", args=[999999])).status_code
        == 404
    )


def test_anonymous_people_are_sent_to_log_in(client, world):
    response = client.get(reverse("projects:project", args=[world.project.pk]))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("officer_jp", True),
        ("finance_jp", True),
        ("researcher", True),
        ("stranger", False),
        ("reviewer", False),
    ],
)
def test_the_list_shows_only_visible_projects(client, world, who, sees):
    response = page_of(client, getattr(world, who), reverse("projects:list"))
    assert response.status_code == 200
    assert (f'data-project="{world.project.pk}"' in response.content.decode()) is sees


def test_the_list_filters_by_state_and_call(client, world):
    client.force_login(world.officer_jp)
    url = reverse("projects:list")
    row = f'data-project="{world.project.pk}"'
    assertContains(client.get(url, {"state": ProjectState.ACTIVE}), row)
    assertNotContains(client.get(url, {"state": ProjectState.TERMINATED}), row)
    assertContains(client.get(url, {"call": world.call.pk}), row)
    assertNotContains(client.get(url, {"call": world.call.pk + 1000}), row)
    # Nonsense filters are ignored, not errors.
    assertContains(client.get(url, {"state": "nonsense", "call": "x", "page": "zz"}), row)


def test_list_queries_do_not_grow_with_the_number_of_projects(client, world):
    client.force_login(world.officer_jp)
    url = reverse("projects:list")
    client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    build_world(area_code="quantum.comm")
    build_world(area_code="green.tech")
    with CaptureQueriesContext(connection) as three:
        response = client.get(url)
    assert response.content.decode().count("data-project=") == 3
    assert len(three) == len(one)
    # Pinned: session, user, count, page (call, area, stage and gate joined), calls.
    assert len(one) <= 6, [q["sql"] for q in one.captured_queries]


def test_a_researchers_list_is_filtered_in_sql_with_the_same_query_count(client, world):
    client.force_login(world.researcher)
    url = reverse("projects:list")
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assertContains(response, f'data-project="{world.project.pk}"')
    assert len(queries) <= 6


# --------------------------------------------------------------------------- the page


def test_project_page_shows_header_consortium_timeline_tranches_and_disbursements(client, world):
    response = page_of(
        client, world.officer_jp, reverse("projects:project", args=[world.project.pk])
    )
    html = response.content.decode()
    c = world.consortium
    assert world.project.title in html
    assert f'data-organisation="{c.jp.code}"' in html and f'data-organisation="{c.kr.code}"' in html
    assert "100.0%" in html  # each lead holds its whole side's budget
    assert 'data-stage="1" data-stage-state="gate_pending"' in html
    assert 'data-stage="2" data-stage-state="planned"' in html
    t1 = world.tranche(1, "JP")
    assert f'data-tranche="{t1.pk}" data-side="JP" data-tranche-state="released"' in html
    assert "¥40,000,000" in html and "₩400,000,000" in html  # stage 1 released
    assert "¥60,000,000" in html and "₩600,000,000" in html  # stage 2 planned
    assert 'data-outcome="pass"' in html  # the latest evaluation of gate 1
    assert reverse("projects:gate", args=[world.gate(1).pk]) in html
    assert html.count("data-disbursement=") == 2


def test_project_page_charts_the_running_stages_kpis_with_baseline_and_target(client, world):
    response = page_of(
        client, world.researcher, reverse("projects:project", args=[world.project.pk])
    )
    html = response.content.decode()
    assert html.count('data-chart="kpi"') == 2  # K1A and K1B of stage 1
    assert 'data-role="baseline"' in html and 'data-role="target"' in html
    assert 'data-role="point"' in html
    assert "css/charts.css" in html


def test_project_page_links_to_the_measurement_pages_when_they_exist(client, world):
    html = page_of(
        client, world.researcher, reverse("projects:project", args=[world.project.pk])
    ).content.decode()
    assert reverse("measurements:list", args=[world.project.pk]) in html
    assert reverse("measurements:import", args=[world.project.pk]) in html


def test_officers_see_the_audit_history_and_researchers_do_not(client, world):
    url = reverse("projects:project", args=[world.project.pk])
    assertContains(page_of(client, world.officer_jp, url), "project.created")
    assertNotContains(page_of(client, world.researcher, url), "project.created")


def test_project_page_in_japanese_and_korean(client, world):
    client.force_login(world.researcher)
    url = reverse("projects:project", args=[world.project.pk])
    for language, yen, word in (("ja", "¥40,000,000", "2025年"), ("ko", "₩400,000,000", "2025년")):
        with translation.override(language):
            response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        html = response.content.decode()
        assert yen in html and word in html


def test_project_page_queries_do_not_grow_with_measurements(client, world):
    client.force_login(world.officer_jp)
    url = reverse("projects:project", args=[world.project.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    kpi = world.kpi("K1A")
    for day in range(5):
        measurement_record(
            kpi=kpi,
            actor=world.researcher,
            value=str(15 + day),
            measured_at=at_noon(world.stage(1).started_on + timedelta(days=40 + day)),
            source="browser",
        )
    with CaptureQueriesContext(connection) as after:
        client.get(url)
    # The audit history grows by rows, not by queries.
    assert len(after) == len(before)


@pytest.mark.parametrize(
    ("who", "offered"),
    [("researcher", True), ("officer_jp", True), ("finance_jp", False)],
)
def test_the_csv_import_is_offered_only_to_those_who_may_record(client, world, who, offered):
    """A finance officer sees the project but may not record measurements: no link that
    would answer 403."""
    url = reverse("projects:project", args=[world.project.pk])
    html = page_of(client, getattr(world, who), url).content.decode()
    assert reverse("measurements:list", args=[world.project.pk]) in html
    assert (reverse("measurements:import", args=[world.project.pk]) in html) is offered


def test_a_terminated_project_has_no_next_gate_in_the_list(client, world):
    gate_url = reverse("projects:gate", args=[world.gate(1).pk])
    listed = page_of(client, world.officer_jp, reverse("projects:list")).content.decode()
    assert gate_url in listed
    force_state(world.project, ProjectState.TERMINATED)

    listed = page_of(client, world.officer_jp, reverse("projects:list")).content.decode()

    assert gate_url not in listed


def test_the_project_page_shows_each_kpis_evidence_level_and_means_of_verification(client, world):
    kpi = world.kpi("K1A")
    type(kpi).objects.filter(pk=kpi.pk).update(
        means_of_verification_en="Test report of an accredited laboratory",
        means_of_verification_ko="공인 시험기관의 시험 성적서",
    )
    url = reverse("projects:project", args=[world.project.pk])
    client.force_login(world.researcher)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"

    html = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert 'data-evidence="document"' in html  # K1A, mandatory
    assert 'data-evidence="none"' in html  # K1B
    assert "공인 시험기관의 시험 성적서" in html
    assert "Test report of an accredited laboratory" not in html


def test_the_project_page_forecasts_the_running_stages_gate_in_every_language(client, world):
    client.force_login(world.researcher)
    url = reverse("projects:project", args=[world.project.pk])
    for language, title in (
        ("en", "Gate forecast"),
        ("ja", "ステージゲートの予測"),
        ("ko", "예측"),
    ):
        with translation.override(language):
            response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'id="gate-forecast"' in html and title in html
        assert html.count("data-met=") == world.stage(1).kpis.count()
