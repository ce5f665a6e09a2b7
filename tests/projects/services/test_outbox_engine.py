"""Project, measurement, gate, tranche and payment events reach the outbox with the change
(§13.2): exactly one event of the right type, with the resource's data and the project's
organisations; a change that rolls back writes none; resource versions grow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from projects.models import KPI, Disbursement, MeasurementSource, ProjectOrganisation
from projects.services.measurements import measurement_record, measurement_reject
from projects.services.payments import disbursement_confirm
from projects.services.projects import project_resume, project_suspend, tokyo_today
from projects.services.tranches import tranche_release
from tests.factories.engine import (
    award,
    engine_proposal,
    evaluate,
    fund_pools,
    gate_of,
    make_staff,
    tranche,
)
from tests.outbox import events_of, the_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def awarded(staff):
    fund_pools(staff)
    proposal, c = engine_proposal()
    project = award(proposal, staff)
    organisations = list(
        ProjectOrganisation.objects.filter(project=project).values_list(
            "organisation_id", flat=True
        )
    )
    return project, c, organisations


def test_the_award_writes_project_created_for_the_projects_organisations(awarded):
    project, c, organisations = awarded

    data = the_event("project.created", project, organisations=organisations)

    assert {c.jp.pk, c.kr.pk} <= set(organisations)
    assert (data["id"], data["state"], data["proposal"]) == (
        project.pk,
        "active",
        project.proposal_id,
    )


def test_suspending_and_resuming_write_project_state_changed_with_growing_versions(staff, awarded):
    project, _c, organisations = awarded

    project_suspend(project=project, actor=staff.jp, reason="Screening finding")
    (suspended,) = events_of("project.state_changed", project)
    assert suspended.envelope()["data"]["state"] == "suspended"
    assert suspended.envelope()["data"]["previous_state"] == "active"
    project_resume(project=project, actor=staff.jp, reason="Resolved")

    changes = events_of("project.state_changed", project)
    assert [e.payload["state"] for e in changes] == ["suspended", "active"]
    versions = [e.envelope()["data"]["resource_version"] for e in changes]
    assert versions == sorted(versions) and len(set(versions)) == 2
    assert all(sorted(e.organisation_ids) == sorted(organisations) for e in changes)


def test_a_release_writes_tranche_released_in_its_statement_and_a_rollback_writes_none(
    awarded,
):
    project, _c, organisations = awarded
    first = tranche(project, 1, "JP")

    with pytest.raises(RuntimeError), transaction.atomic():
        tranche_release(tranche_id=first.pk)
        assert events_of("tranche.released", first)
        raise RuntimeError("the change fails after the release")
    assert events_of("tranche.released") == []

    tranche_release(tranche_id=first.pk)
    tranche_release(tranche_id=first.pk)  # idempotent: no second event

    data = the_event("tranche.released", first, organisations=organisations)
    first.refresh_from_db()
    assert (data["state"], data["released"], data["stage_number"]) == (
        "released",
        first.released,
        1,
    )
    assert data["released"] == 40_000_000 and data["currency"] == "JPY"


def test_confirming_a_payment_writes_disbursement_confirmed_for_the_paid_organisation(
    staff, awarded
):
    project, c, _organisations = awarded
    tranche_release(tranche_id=tranche(project, 1, "JP").pk)
    disbursement = Disbursement.objects.get(tranche=tranche(project, 1, "JP"))

    disbursement_confirm(
        disbursement=disbursement, actor=staff.finance_jp, paid_on=tokyo_today(), reference="B-1"
    )

    data = the_event(
        "disbursement.confirmed", disbursement, organisations=[disbursement.organisation_id]
    )
    assert (data["state"], data["reference"], data["amount"]) == (
        "paid",
        "B-1",
        disbursement.amount,
    )


def test_recording_and_rejecting_a_measurement_write_created_and_rejected(staff, awarded):
    project, c, organisations = awarded
    kpi = KPI.objects.get(stage__project=project, stage__number=1, code="K1A")

    measurement = measurement_record(
        kpi=kpi,
        actor=c.pi_jp,
        value="12.5",
        measured_at=timezone.now() - timedelta(hours=1),
        source=MeasurementSource.BROWSER,
    )
    created = the_event("measurement.created", measurement, organisations=organisations)
    assert (created["kpi"], created["value"], created["rejected"]) == (kpi.pk, "12.500000", False)

    measurement_reject(measurement=measurement, actor=staff.jp, reason="Wrong unit")

    rejected = the_event("measurement.rejected", measurement, organisations=organisations)
    assert rejected["rejected"] is True and rejected["rejection_reason"] == "Wrong unit"
    assert rejected["resource_version"] > created["resource_version"]


def test_an_automatic_decision_writes_gate_decided(awarded):
    project, _c, organisations = awarded
    gate = gate_of(project, 1)

    evaluate(gate, outcome="pass", score="1.0000")

    data = the_event("gate.decided", gate, organisations=organisations)
    assert data["decision"]["automatic"] is True and data["state"] == "decided"


def test_a_decision_left_to_officers_writes_gate_decision_needed(awarded):
    project, _c, organisations = awarded
    gate = gate_of(project, 1)

    evaluate(gate, outcome="conditional", score="0.8000")

    data = the_event("gate.decision_needed", gate, organisations=organisations)
    assert data["outcome"] == "conditional" and data["score"] == "0.8000"
    assert events_of("gate.decided") == []


def test_passing_the_last_gate_writes_project_state_changed_to_completed(staff, awarded):
    from ip_licensing.services.assets import asset_register

    project, _c, organisations = awarded
    evaluate(gate_of(project, 1), outcome="pass", score="1.0000")
    owner = project.organisations.order_by("order").first().organisation
    asset_register(
        actor=staff.jp,
        data={
            "kind": "software",
            "title_en": "Inference runtime",
            "owner": owner.code,
            "project": project.pk,
        },
    )

    evaluate(gate_of(project, 2), outcome="pass", score="1.0000")

    data = the_event("project.state_changed", project, organisations=organisations)
    assert (data["state"], data["previous_state"]) == ("completed", "active")
    assert data["ended_at"] is not None
