"""The gate review (§8, §15): the per-KPI table, charts, evidence and history; "Evaluate
now"; the decision form under the two-person rule, from the first approval to the release."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from pytest_django.asserts import assertContains, assertNotContains

from fundapp.accounts.templatetags.fund_format import format_local_date, local_dt
from fundapp.audit.models import AuditEvent
from fundapp.kernel.calendar import today_in_tokyo
from projects.models import (
    DecisionState,
    GateDecision,
    GateEvaluation,
    GateState,
    Measurement,
    StageState,
    TrancheState,
)
from projects.rules.gates import gate_cutoff
from projects.services.gates import gate_evaluate
from projects.services.measurements import measurement_record, measurement_reject
from tests.factories.pages import at_noon, build_world, pdf_upload

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "pages_urls", "eager_celery"),
]


@pytest.fixture
def world():
    return build_world()  # stage 1 passes; the call does not release automatically


def gate_url(world, name="projects:gate"):
    return reverse(name, args=[world.gate(1).pk])


def approve(client, user, world, **data):
    client.force_login(user)
    return client.post(gate_url(world, "projects:gate_decide"), data)


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("who", "status", "has_form"),
    [
        ("officer_jp", 200, True),
        ("finance_jp", 200, False),
        ("researcher", 200, False),
        ("stranger", 404, False),
        ("reviewer", 404, False),
    ],
)
def test_gate_review_by_role(client, world, who, status, has_form):
    client.force_login(getattr(world, who))
    response = client.get(gate_url(world))
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert ('id="decision-form"' in html) is has_form
        assert ('id="evaluate-form"' in html) is has_form
        assert ("data-read-only" in html) is (not has_form)


def test_gate_review_shows_the_latest_evaluations_kpis(client, world):
    client.force_login(world.officer_jp)
    html = client.get(gate_url(world)).content.decode()
    assert 'data-kpi="K1A" data-met="true" data-missing="false"' in html
    assert 'data-kpi="K1B" data-met="true" data-missing="false"' in html
    assert "120.0%" in html and "110.0%" in html  # (22−10)/(20−10), (21−10)/(20−10)
    assert 'data-outcome="pass"' in html and "1.1333" in html
    # Charts with the window marked, and the evidence notes.
    assert html.count('data-chart="kpi"') == 2
    assert 'data-role="window"' in html and 'data-role="target"' in html
    assert "Lab report for K1A" in html and "Lab report for K1B" in html
    # History: the one snapshot, with who evaluated.
    assert html.count("data-evaluation=") == 1
    assert str(world.officer_jp) in html


def test_the_form_offers_what_the_outcome_allows_and_marks_overrides(client, world):
    client.force_login(world.officer_jp)
    html = client.get(gate_url(world)).content.decode()
    # PASS: release and extend are §8's kinds; terminate and release_reduced are overrides.
    assert html.index('value="release"') < html.index('value="release_reduced"')
    assert "Release reduced — override, written justification required" in html
    assert "Terminate — override, written justification required" in html
    assert "Extend — override" not in html


def test_a_rejected_measurement_leaves_its_kpi_missing(client):
    world = build_world(evaluate=False)
    measurement_reject(
        measurement=Measurement.objects.get(kpi=world.kpi("K1B")),
        actor=world.officer_jp,
        reason="Wrong instrument",
    )
    gate_evaluate(gate=world.gate(1), actor=world.officer_jp)
    client.force_login(world.researcher)
    html = client.get(gate_url(world)).content.decode()
    assert 'data-kpi="K1B" data-met="false" data-missing="true"' in html
    assert "chart-point--rejected" in html and "Wrong instrument" in html


# --------------------------------------------------------------------------- evaluate now


def test_evaluate_now_stores_a_new_snapshot(client, world):
    client.force_login(world.officer_kr)
    response = client.post(gate_url(world, "projects:gate_evaluate"))
    assert response.status_code == 302
    assert GateEvaluation.objects.filter(gate=world.gate(1)).count() == 2
    html = client.get(gate_url(world)).content.decode()
    assert html.count("data-evaluation=") == 2
    assert str(world.officer_kr) in html


def test_evaluate_now_is_refused_to_researchers_with_the_reason(client, world):
    client.force_login(world.researcher)
    response = client.post(gate_url(world, "projects:gate_evaluate"))
    assert response.status_code == 403
    assertContains(response, "Only fund officers may evaluate a gate.", status_code=403)
    assert GateEvaluation.objects.filter(gate=world.gate(1)).count() == 1


def test_evaluate_now_answers_404_to_strangers(client, world):
    client.force_login(world.stranger)
    assert client.post(gate_url(world, "projects:gate_evaluate")).status_code == 404


# --------------------------------------------------------------------------- two-person rule


def test_first_approval_is_pending_and_says_what_is_still_needed(client, world):
    response = approve(client, world.officer_jp, world, kind="release")
    assert response.status_code == 302
    decision = GateDecision.objects.get(gate=world.gate(1))
    assert (decision.state, decision.first_officer, decision.first_side) == (
        DecisionState.PENDING,
        world.officer_jp,
        "JP",
    )
    page = client.get(gate_url(world))
    assertContains(page, 'data-pending="release" data-needed-side="KR"')
    assertContains(page, "Awaiting a fund officer from the Korean side.")
    assertContains(page, str(world.officer_jp))
    # The first officer cannot approve again: no form, the reason instead.
    assertNotContains(page, 'id="decision-form"')
    assertContains(page, "data-approve-reason")


def test_the_same_officer_approving_twice_is_refused_with_the_status(client, world):
    approve(client, world.officer_jp, world, kind="release")
    response = approve(client, world.officer_jp, world, kind="release")
    assert response.status_code == 403
    assertContains(response, "You have already approved this decision", status_code=403)
    assert GateDecision.objects.get(gate=world.gate(1)).state == DecisionState.PENDING


def test_a_second_officer_of_the_same_side_is_refused(client, world):
    approve(client, world.officer_jp, world, kind="release")
    response = approve(client, world.officer_jp2, world, kind="release")
    assert response.status_code == 403
    assertContains(
        response, "an officer of the Korea side must complete or decline it", status_code=403
    )


def test_the_other_sides_form_offers_only_the_pending_kind(client, world):
    approve(client, world.officer_jp, world, kind="release")
    client.force_login(world.officer_kr)
    html = client.get(gate_url(world)).content.decode()
    assert 'id="decision-form"' in html
    assert 'value="release"' in html and 'value="extend"' not in html
    assert "Approve as second officer" in html


def test_the_second_officer_of_the_other_side_completes_and_the_next_tranche_is_released(
    client, world, django_capture_on_commit_callbacks
):
    approve(client, world.officer_jp, world, kind="release")
    with django_capture_on_commit_callbacks(execute=True):
        response = approve(client, world.officer_kr, world, kind="release")
    assert response.status_code == 302
    decision = GateDecision.objects.get(gate=world.gate(1))
    assert decision.state == DecisionState.COMPLETED
    assert (decision.second_officer, decision.second_side) == (world.officer_kr, "KR")
    assert world.gate(1).state == GateState.DECIDED
    assert world.stage(1).state == StageState.PASSED
    assert world.stage(2).state == StageState.ACTIVE
    t2 = world.tranche(2, "JP")
    assert t2.state == TrancheState.RELEASED
    # S = 1.1333, m = 1 + 0.5 × 0.1333 = 1.06665 → floor(60,000,000 × 1.06665)
    assert t2.released == 63_999_000 and t2.from_reserve == 3_999_000

    page = client.get(gate_url(world))
    assertContains(page, 'data-decision-complete="release"')
    assertNotContains(page, 'id="decision-form"')
    assertContains(page, str(world.officer_kr))
    project_page = client.get(reverse("projects:project", args=[world.project.pk]))
    assertContains(
        project_page, f'data-tranche="{t2.pk}" data-side="JP" data-tranche-state="released"'
    )
    assertContains(project_page, "¥63,999,000")


def test_an_override_without_justification_is_refused_on_the_form(client, world):
    response = approve(client, world.officer_jp, world, kind="release_reduced")
    assert response.status_code == 422
    html = response.content.decode()
    assert "overrides the evaluation; write the justification." in html
    assert 'data-status="422"' in html
    assert not GateDecision.objects.exists()


def test_an_override_with_justification_is_recorded_as_one(client, world):
    response = approve(
        client,
        world.officer_jp,
        world,
        kind="release_reduced",
        justification="The KR partner's lab was closed for two months.",
    )
    assert response.status_code == 302
    decision = GateDecision.objects.get(gate=world.gate(1))
    assert decision.override and decision.kind == "release_reduced"
    assertContains(client.get(gate_url(world)), "The KR partner&#x27;s lab was closed")


def test_an_extension_needs_its_months(client, world):
    response = approve(client, world.officer_jp, world, kind="extend")
    assert response.status_code == 422
    assertContains(response, "Give the extension in whole months.", status_code=422)
    response = approve(client, world.officer_jp, world, kind="extend", extension_months="48")
    assert response.status_code == 422
    assertContains(response, "at most 6 months", status_code=422)
    assert not GateDecision.objects.exists()


def test_a_kind_the_form_does_not_offer_is_refused(client, world):
    response = approve(client, world.officer_jp, world, kind="pay-everyone")
    assert response.status_code == 422
    assert not GateDecision.objects.exists()


def test_researchers_cannot_decide(client, world):
    response = approve(client, world.researcher, world, kind="release")
    assert response.status_code == 403
    assertContains(response, "Only fund officers may decide a stage gate.", status_code=403)
    assert not GateDecision.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="gate_decision").exists()


def test_strangers_get_404_on_the_decision_too(client, world):
    assert approve(client, world.stranger, world, kind="release").status_code == 404
    assert approve(client, world.reviewer, world, kind="release").status_code == 404


def test_approving_a_decided_gate_is_a_conflict_shown_with_its_status(client, world):
    approve(client, world.officer_jp, world, kind="release")
    approve(client, world.officer_kr, world, kind="release")
    response = approve(client, world.officer_jp2, world, kind="release")
    assert response.status_code == 409
    assertContains(response, "This gate has already been decided.", status_code=409)
    assertContains(response, 'data-status="409"', status_code=409)


def test_an_automatic_pass_shows_the_decision_and_no_form(client):
    world = build_world(auto_release=True)
    client.force_login(world.officer_jp)
    response = client.get(gate_url(world))
    assertContains(response, 'data-decision-complete="release"')
    assertContains(response, "decided automatically on a pass")
    assertNotContains(response, 'id="decision-form"')
    assertNotContains(response, 'id="evaluate-form"')


def test_deciding_before_an_evaluation_says_to_evaluate_first(client):
    world = build_world(evaluate=False)
    response = approve(client, world.officer_jp, world, kind="release")
    assert response.status_code == 409
    assertContains(response, "Evaluate the gate first", status_code=409)
    assert not GateDecision.objects.exists()


def test_before_the_gate_day_evaluate_now_is_not_offered_and_the_day_is_said(client, world):
    gate = world.gate(1)
    gate.due_on = today_in_tokyo() + timedelta(days=3)
    gate.save(update_fields=["due_on"])
    client.force_login(world.officer_jp)

    html = client.get(gate_url(world)).content.decode()

    assert 'id="evaluate-form"' not in html
    assert 'id="evaluable-from"' in html
    with translation.override("ja"):
        day = format_local_date(gate.due_on, "ja")
    client.cookies["django_language"] = "ja"
    assert day in client.get(gate_url(world), HTTP_ACCEPT_LANGUAGE="ja").content.decode()


def test_on_the_gate_day_evaluate_now_is_offered(client, world):
    gate = world.gate(1)
    gate.due_on = today_in_tokyo()
    gate.save(update_fields=["due_on"])
    client.force_login(world.officer_jp)

    html = client.get(gate_url(world)).content.decode()

    assert 'id="evaluate-form"' in html and 'id="evaluable-from"' not in html


def test_a_gate_not_evaluated_in_its_round_shows_the_window_as_it_now_stands(client, world):
    """After an extension the gate has a later day and a new round; the last snapshot's
    window is the old one, the page shows the new."""
    gate = world.gate(1)
    old = GateEvaluation.objects.get(gate=gate)
    gate.due_on = gate.due_on + timedelta(days=90)
    gate.round = old.round + 1
    gate.save(update_fields=["due_on", "round"])
    client.force_login(world.officer_jp)

    html = client.get(gate_url(world)).content.decode()

    assert local_dt(gate_cutoff(gate.due_on)) in html
    assert local_dt(old.cutoff) not in html


def test_a_long_evidence_table_is_paged(client, world):
    stage = world.gate(1).stage
    assert stage.started_on is not None
    start = at_noon(stage.started_on + timedelta(days=40))
    Measurement.objects.bulk_create(
        Measurement(
            project=world.project,
            kpi=world.kpi("K1A"),
            value=Decimal(15),
            measured_at=start + timedelta(hours=i),
            source="api",
            note=f"row {i}",
        )
        for i in range(60)
    )
    client.force_login(world.officer_jp)

    first = client.get(gate_url(world)).content.decode()
    second = client.get(gate_url(world) + "?evidence_page=2").content.decode()

    evidence = re.compile(r'<tr data-measurement="\d+"')
    assert len(evidence.findall(first)) == 50
    assert len(evidence.findall(second)) == 12  # 62 in the window: 60 here, 2 from the world
    assert 'id="evidence-pages"' in first and "evidence_page=2" in first


# --------------------------------------------------------------------------- evidence (§22)


@pytest.mark.parametrize(
    ("language", "no_evidence", "rejected"),
    [
        (
            "en",
            "It has no evidence file, and this KPI counts only measurements with one.",
            "A fund officer rejected it.",
        ),
        (
            "ja",
            "根拠資料ファイルがなく、この成果指標 (KPI) は根拠資料ファイルのある測定値のみを算入します。",
            "プログラムオフィサーが却下しました。",
        ),
        (
            "ko",
            "증빙 파일이 없으며, 이 성과지표 (KPI)는 증빙 파일이 있는 측정값만 반영합니다.",
            "사업 담당관이 반려했습니다.",
        ),
    ],
)
def test_the_gate_page_says_which_measurements_were_left_out_and_why(
    client, world, language, no_evidence, rejected
):
    stage = world.gate(1).stage
    assert stage.started_on is not None
    unfiled = measurement_record(
        kpi=world.kpi("K1A"),
        actor=world.consortium.pi_jp,
        value="30",
        measured_at=at_noon(stage.started_on + timedelta(days=40)),
        source="browser",
    )
    measurement_reject(
        measurement=Measurement.objects.get(kpi=world.kpi("K1B")),
        actor=world.officer_jp,
        reason="Wrong instrument",
    )
    gate_evaluate(gate=world.gate(1), actor=world.officer_jp)
    client.force_login(world.researcher)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    html = client.get(gate_url(world), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert 'id="left-out-table"' in html
    assert f'data-left-out="{unfiled.pk}" data-reason="no_evidence"' in html
    assert no_evidence in html and rejected in html
    # K1A is mandatory, so it asks for a document; K1B asks for nothing.
    assert 'data-evidence="document"' in html and 'data-evidence="none"' in html


def test_the_gate_page_lists_nothing_left_out_when_everything_counted(client, world):
    client.force_login(world.officer_jp)
    html = client.get(gate_url(world)).content.decode()
    assert 'data-kpi="K1A" data-met="true"' in html
    assert 'id="left-out-table"' not in html


# --------------------------------------------------------------------------- anomaly flags


@pytest.mark.parametrize(
    ("language", "title", "label"),
    [
        ("en", "Anomaly flags", "The value that decides the KPI is exactly its target."),
        ("ja", "異常フラグ", "成果指標 (KPI) を決める値が目標値とちょうど同じです。"),
        ("ko", "이상 징후 플래그", "성과지표 (KPI)를 결정하는 값이 목표값과 정확히 같습니다."),
    ],
)
def test_the_gate_page_shows_each_flag_with_the_measurements_behind_it(
    client, language, title, label
):
    world = build_world(values=("20", "21"))  # K1A exactly at its target
    evaluation = GateEvaluation.objects.get(gate=world.gate(1))
    (flag,) = evaluation.anomaly_flags
    measurement = Measurement.objects.select_related("created_by").get(
        pk=flag["measurement_ids"][0]
    )
    client.force_login(world.researcher)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    html = client.get(gate_url(world), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert 'id="anomaly-flags"' in html and title in html and label in html
    section = html[html.index('id="anomaly-flags"') : html.index('id="gate-charts-title"')]
    assert 'data-flag="at_target" data-kpi="K1A"' in section
    assert f'data-flag-measurement="{measurement.pk}"' in section
    with translation.override(language):
        assert local_dt(measurement.created_at) in section
    assert str(measurement.created_by) in section


def test_a_gate_without_flags_shows_no_flag_section(client, world):
    client.force_login(world.officer_jp)
    assert 'id="anomaly-flags"' not in client.get(gate_url(world)).content.decode()


# --------------------------------------------------------------------------- forecast (§22)


def test_the_gate_page_forecasts_the_gate_until_it_is_decided_in_every_language(client, world):
    # A measurement recorded after the snapshot: the forecast counts it, the snapshot not.
    measurement_record(
        kpi=world.kpi("K1A"),
        actor=world.researcher,
        value="9",
        measured_at=at_noon(world.stage(1).started_on + timedelta(days=31)),
        source="browser",
        evidence=pdf_upload("rerun.pdf"),
    )
    client.force_login(world.researcher)
    for language, title in (
        ("en", "Gate forecast"),
        ("ja", "ステージゲートの予測"),
        ("ko", "예측"),
    ):
        with translation.override(language):
            html = client.get(gate_url(world), HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert 'id="gate-forecast"' in html and title in html
        forecast = html[html.index('id="gate-forecast"') :]
        forecast = forecast[: forecast.index("</section>")]
        assert forecast.count("data-met=") == world.stage(1).kpis.count()
        assert 'data-kpi="{}" data-met="false"'.format(world.kpi("K1A").pk) in forecast
    # The snapshot still says K1A was met.
    assert 'data-kpi="K1A" data-met="true"' in html

    approve(client, world.officer_jp, world, kind="release")
    approve(client, world.officer_kr, world, kind="release")
    assert world.gate(1).state == GateState.DECIDED
    client.force_login(world.researcher)
    assertNotContains(client.get(gate_url(world)), 'id="gate-forecast"')
