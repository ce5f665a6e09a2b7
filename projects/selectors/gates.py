"""Reading gates, evaluations, measurements and import jobs (§7, §8, §15).

Every function answers in a fixed number of queries, whatever the number of gates, KPIs
or measurements; lists are filtered in SQL by the ids of the visible projects
(``restrict_to_visible_projects``: a semi-join, never a scan of the projects table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from fundapp.actors import Actor
from fundapp.errors import NotFound
from fundapp.kernel.approvals import LIVE_STATES
from projects.models import (
    KPI,
    Gate,
    GateDecision,
    GateEvaluation,
    GateState,
    ImportJob,
    Measurement,
    MeasurementEvidence,
    Project,
    ProjectState,
    Stage,
    StageState,
)
from projects.rules import gates as rules
from projects.selectors.projects import restrict_to_visible_projects
from projects.selectors.verification import verifiable_measurements


def _int(pk: object) -> int:
    try:
        return int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None


# --------------------------------------------------------------------------- gates


def gates_due(as_of: date) -> QuerySet[Gate]:
    """Gates past their day, of active projects with a running stage, that have neither a
    decision nor a snapshot for their current round. One query.

    A gate evaluated in its round is not picked again: it awaits its officers (or, on the
    final gate, the results list). The automatic decision runs inside the evaluation's
    transaction, so a failed one leaves no snapshot and the gate is picked again.
    """
    this_round = {"gate": OuterRef("pk"), "round": OuterRef("round")}
    decided = GateDecision.objects.filter(**this_round).filter(state__in=LIVE_STATES)
    evaluated = GateEvaluation.objects.filter(**this_round)
    return (
        Gate.objects.filter(
            due_on__lte=as_of,
            stage__state__in=(StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING),
            stage__started_on__isnull=False,
            stage__project__state=ProjectState.ACTIVE,
        )
        .exclude(state=GateState.DECIDED)
        .filter(~Exists(decided), ~Exists(evaluated))
        .order_by("due_on", "id")
    )


def gates_visible_to(actor: Actor | None) -> QuerySet[Gate]:
    return restrict_to_visible_projects(Gate.objects.all(), actor, via="stage__project_id")


def get_gate_for_actor(actor: Actor | None, pk: object) -> Gate:
    gate = (
        gates_visible_to(actor).select_related("stage__project__call").filter(pk=_int(pk)).first()
    )
    if gate is None:
        raise NotFound()
    return gate


def latest_evaluation(gate: Gate, *, round: int | None = None) -> GateEvaluation | None:
    """The snapshot a decision is taken on: the latest, of ``round`` if given. One query."""
    qs = GateEvaluation.objects.filter(gate=gate)
    if round is not None:
        qs = qs.filter(round=round)
    return qs.order_by("-id").first()


def evaluation_history(gate: Gate) -> QuerySet[GateEvaluation]:
    """Every snapshot of the gate, newest first, with who evaluated."""
    return (
        GateEvaluation.objects.filter(gate=gate)
        .select_related("evaluated_by", "evaluated_by_api_key")
        .order_by("-id")
    )


# --------------------------------------------------------------------------- measurements


def measurements_visible_to(actor: Actor | None) -> QuerySet[Measurement]:
    return restrict_to_visible_projects(Measurement.objects.all(), actor, via="project_id")


def kpis_visible_to(actor: Actor | None) -> QuerySet[KPI]:
    return restrict_to_visible_projects(KPI.objects.all(), actor, via="project_id")


def get_measurement_for_actor(actor: Actor | None, pk: object) -> Measurement:
    """Missing and not-yours are the same 404 (§2)."""
    measurement = (
        measurements_visible_to(actor)
        .select_related("kpi__stage", "project")
        .filter(pk=_int(pk))
        .first()
    )
    if measurement is None:
        raise NotFound()
    return measurement


def has_evidence_files() -> Exists:
    """Whether the measurement (the outer row) carries at least one evidence file: one
    probe of the evidence rows' measurement index."""
    return Exists(MeasurementEvidence.objects.filter(measurement_id=OuterRef("pk")))


def with_evidence_files(qs: QuerySet[Measurement]) -> QuerySet[Measurement]:
    """``qs`` with each measurement's evidence files (``evidence_files.all()``) in one
    more query, whatever the number of rows."""
    return qs.prefetch_related(
        Prefetch("evidence_files", queryset=MeasurementEvidence.objects.order_by("id"))
    )


def get_evidence_file_for_actor(
    actor: Actor | None, measurement_pk: object, file_pk: object
) -> MeasurementEvidence:
    """An evidence file for someone who may see its measurement: whoever sees the project
    (its people, its organisations' offices and keys, officers) or a verifier whose live
    designation covers the measurement's KPI (§22). Missing and not-yours are the same 404."""
    measurement_id = _int(measurement_pk)
    allowed = Q(measurement_id__in=measurements_visible_to(actor).values("pk")) | Q(
        measurement_id__in=verifiable_measurements(actor).values("pk")
    )
    found = (
        MeasurementEvidence.objects.filter(pk=_int(file_pk), measurement_id=measurement_id)
        .filter(allowed)
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def get_kpi_for_actor(actor: Actor | None, pk: object) -> KPI:
    kpi = kpis_visible_to(actor).select_related("project", "stage").filter(pk=_int(pk)).first()
    if kpi is None:
        raise NotFound()
    return kpi


def project_measurements(project: Project) -> QuerySet[Measurement]:
    """The project's measurements, newest first, ready for a table."""
    return (
        Measurement.objects.filter(project=project)
        .select_related("kpi__stage", "created_by", "created_by_api_key", "rejected_by")
        .order_by("-measured_at", "-id")
    )


@dataclass
class ProgressPoint:
    id: int
    measured_at: datetime
    value: Decimal
    rejected: bool
    has_evidence: bool = False


@dataclass
class KpiSeries:
    """One KPI's measurements in time order, with its baseline and target (§15 charts)."""

    kpi: KPI
    stage_number: int
    baseline: Decimal
    target: Decimal
    points: list[ProgressPoint] = field(default_factory=list)

    @property
    def latest(self) -> ProgressPoint | None:
        """The latest measurement that counts: not rejected, and meeting the KPI's evidence
        level (§22; no verdicts exist yet, so nothing is attested)."""
        counted = [
            p
            for p in self.points
            if not p.rejected
            and rules.evidence_shortfall(
                self.kpi.evidence, has_evidence=p.has_evidence, verdict=None
            )
            is None
        ]
        return counted[-1] if counted else None


def kpi_progress(project: Project, *, stage: Stage | None = None) -> list[KpiSeries]:
    """Per KPI (of the project, or of one stage): its measurements in order. Two queries."""
    kpis = KPI.objects.filter(project=project).select_related("stage")
    if stage is not None:
        kpis = kpis.filter(stage=stage)
    series = {
        k.pk: KpiSeries(kpi=k, stage_number=k.stage.number, baseline=k.baseline, target=k.target)
        for k in kpis.order_by("stage__number", "id")
    }
    rows = (
        Measurement.objects.filter(kpi_id__in=list(series))
        .annotate(documented=has_evidence_files())
        .order_by("measured_at", "id")
        .values_list("id", "kpi_id", "measured_at", "value", "rejected_at", "documented")
    )
    for m_id, kpi_id, at, value, rejected_at, documented in rows:
        series[kpi_id].points.append(
            ProgressPoint(
                id=m_id,
                measured_at=at,
                value=value,
                rejected=rejected_at is not None,
                has_evidence=documented,
            )
        )
    return list(series.values())


# --------------------------------------------------------------------------- imports


def get_import_job_for_actor(actor: Actor | None, project: Project, pk: object) -> ImportJob:
    """An import job of a project the actor sees."""
    job = (
        restrict_to_visible_projects(
            ImportJob.objects.filter(project=project), actor, via="project_id"
        )
        .filter(pk=_int(pk))
        .first()
    )
    if job is None:
        raise NotFound()
    return job
