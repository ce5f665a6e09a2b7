"""The portfolio dashboard (§15) and the researchers' "KPIs behind target" (§15)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from projects.models import Disbursement, Gate
from projects.selectors.portfolio import kpis_behind_target, portfolio_summary
from projects.services.forecast import gates_forecast
from projects.services.payments import disbursement_confirm
from tests.factories.pages import build_world

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "pages_urls", "eager_celery"),
]


# --------------------------------------------------------------------------- portfolio


@pytest.fixture
def world():
    return build_world(evaluate=False)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("officer_jp", 200),
        ("officer_kr", 200),
        ("finance_jp", 404),
        ("researcher", 404),
        ("stranger", 404),
        ("reviewer", 404),
    ],
)
def test_portfolio_by_role(client, world, who, status):
    client.force_login(getattr(world, who))
    assert client.get(reverse("portfolio:dashboard")).status_code == status


def test_portfolio_figures_per_side_area_and_call_never_mix_currencies(world):
    jp = Disbursement.objects.get(tranche__project=world.project, currency="JPY")
    assert jp.tranche.released_at is not None
    disbursement_confirm(
        disbursement=jp,
        actor=world.finance_jp,
        paid_on=jp.tranche.released_at.date(),
        reference="P-1",
    )
    summary = portfolio_summary()
    sides = {row.currency: row for row in summary.by_side}
    assert (sides["JPY"].committed, sides["JPY"].released, sides["JPY"].paid) == (
        100_000_000,
        40_000_000,
        40_000_000,
    )
    assert (sides["KRW"].committed, sides["KRW"].released, sides["KRW"].paid) == (
        1_000_000_000,
        400_000_000,
        0,
    )
    [area_jpy] = summary.by_area["JPY"]
    assert area_jpy.key == "semiconductor.ai" and area_jpy.committed == 100_000_000
    [call_krw] = summary.by_call["KRW"]
    assert call_krw.key == str(world.call.pk) and call_krw.released == 400_000_000
    assert {s: n for s, _label, n in summary.project_states}["active"] == 1


def test_portfolio_page_draws_bar_charts_with_tables_beside_them(client, world):
    client.force_login(world.officer_jp)
    response = client.get(reverse("portfolio:dashboard"))
    html = response.content.decode()
    assert html.count('data-chart="money"') == 6  # side, area, call × JPY, KRW
    assert 'data-currency="JPY"' in html and 'data-currency="KRW"' in html
    assert 'id="portfolio-area-JPY-table"' in html
    assert "¥100,000,000" in html and "₩1,000,000,000" in html
    assert "css/charts.css" in html
    # A JPY chart never shows won, and the other way round.
    jpy_section = html[
        html.index('data-currency-section="JPY"') : html.index('data-currency-section="KRW"')
    ]
    assert "₩" not in jpy_section


def test_portfolio_queries_are_constant(client, world):
    client.force_login(world.officer_jp)
    url = reverse("portfolio:dashboard")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    build_world(evaluate=False, area_code="quantum.comm")
    with CaptureQueriesContext(connection) as two:
        response = client.get(url)
    assertContains(response, "quantum.comm")
    assert len(two) == len(one) <= 10


# --------------------------------------------------------------------------- dashboard


def test_kpis_below_target_are_listed_for_the_researcher(client):
    world = build_world(values=("22", "12"), evaluate=False)  # K1B at 20%
    client.force_login(world.researcher)
    response = client.get(reverse("dashboard"))
    assertContains(response, "KPIs behind target")
    assertContains(response, 'data-kpi="K1B"')
    assertNotContains(response, 'data-kpi="K1A"')
    assertContains(response, "20.0%")
    assertContains(response, reverse("projects:project", args=[world.project.pk]))


def test_a_kpi_without_a_measurement_yet_is_behind():
    world = build_world(evaluate=False)  # both KPIs measured above target, 30 days in
    assert kpis_behind_target(world.researcher) == []
    ten_days_in = timezone.now() - timedelta(days=390)
    items = kpis_behind_target(world.researcher, now=ten_days_in)
    assert {item.kpi.code for item in items} == {"K1A", "K1B"}
    assert all(item.value is None and item.achievement == 0 for item in items)


def test_strangers_and_officers_see_no_behind_list(client):
    world = build_world(values=("22", "12"), evaluate=False)
    assert kpis_behind_target(world.stranger) == []
    client.force_login(world.officer_jp)
    assertNotContains(client.get(reverse("dashboard")), "KPIs behind target")


def test_behind_list_takes_two_queries(client):
    world = build_world(values=("12", "12"), evaluate=False)
    build_world(values=("12", "12"), evaluate=False)
    with CaptureQueriesContext(connection) as queries:
        items = kpis_behind_target(world.researcher)
    assert {item.kpi.code for item in items} == {"K1A", "K1B"}
    assert len(queries) == 2


def test_the_researchers_dashboard_forecasts_their_running_gates_in_every_language(client):
    world = build_world(values=("22", "12"), evaluate=False)
    client.force_login(world.researcher)
    for language, title in (
        ("en", "Gate forecast"),
        ("ja", "ステージゲートの予測"),
        ("ko", "예측"),
    ):
        response = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE=language)
        assertContains(response, title)
        assertContains(response, f'data-project="{world.project.pk}" data-forecast-outcome=')
    client.force_login(world.stranger)
    assertNotContains(client.get(reverse("dashboard")), 'id="gate-forecasts"')


def test_forecasts_take_the_same_queries_for_one_gate_and_three():
    worlds = [build_world(values=("12", "22"), evaluate=False) for _ in range(3)]
    gates = [Gate.objects.get(pk=w.stage(1).gate.pk) for w in worlds]
    counts = []
    for chosen in (gates[:1], gates):
        with CaptureQueriesContext(connection) as queries:
            found = gates_forecast(chosen)
        assert sorted(found) == sorted(g.pk for g in chosen)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 5
