"""The funding engine over the REST API (§7–§9, §14, §21): projects, stages, KPIs,
measurements, gates (+ evaluations, decisions), tranches and disbursements (+ confirm).

Thin views: select what the actor may see (``projects_visible_to``; anything else is 404,
never 403), check the request's shape with a serializer, call one service, serialize the
result. Reporting a measurement and confirming a payment need an ``Idempotency-Key``
(``fundapp.api.idempotency``). API keys need the scope of each action (``HasScope``);
actions no scope covers (rejecting a measurement, deciding a gate) are for officers in the
browser session only.

Every list answers in a constant number of queries whatever the page size (pinned by the
tests): rows come with ``select_related`` and ``Prefetch``; the latest evaluation of each
gate is chosen in SQL with a window function.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import F, Prefetch, Q, QuerySet, Window, prefetch_related_objects
from django.db.models.functions import RowNumber
from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.api import ProblemSerializer
from fundapp.accounts.models import Scope
from fundapp.actors import Actor
from fundapp.api.approvals import DECISION_BLOCK_EXAMPLE, DeclineSerializer
from fundapp.api.filters import IdFilter
from fundapp.api.idempotency import IDEMPOTENCY_KEY, idempotent
from fundapp.api.pagination import CursorPagination
from fundapp.api.parsers import JSONParser, MultiPartParser
from fundapp.api.permissions import HasScope, actor_of
from fundapp.api.renderers import FileDownloadRenderer
from fundapp.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundapp.kernel.decisions import require as _require
from projects.models import (
    KPI,
    AttestationVerdict,
    Disbursement,
    DisbursementState,
    Gate,
    GateDecision,
    GateEvaluation,
    GateState,
    Measurement,
    MeasurementAttestation,
    MeasurementEvidence,
    MeasurementSource,
    Project,
    ProjectOrganisation,
    ProjectState,
    Stage,
    StageState,
    Tranche,
    TrancheState,
)
from projects.permissions import can_confirm_disbursement, can_decide_gate
from projects.selectors.gates import get_evidence_file_for_actor, measurements_visible_to
from projects.selectors.projects import (
    get_project_for_actor,
    projects_visible_to,
    restrict_to_visible_projects,
)
from projects.selectors.tranches import disbursements_visible_to
from projects.selectors.verification import verifiable_measurements

from .serializers_engine import (
    DecisionCreateSerializer,
    DecisionSerializer,
    DisbursementConfirmSerializer,
    DisbursementSerializer,
    EvaluationDetailSerializer,
    EvidenceAddSerializer,
    EvidenceAddUploadSerializer,
    EvidenceFileUploadSerializer,
    EvidenceUploadSerializer,
    GateForecastSerializer,
    GateSerializer,
    MeasurementCreateSerializer,
    MeasurementSerializer,
    MeasurementUploadSerializer,
    ProjectDetailSerializer,
    ProjectKpiSerializer,
    ProjectListSerializer,
    ProjectStageSerializer,
    ProjectTrancheSerializer,
    ReasonSerializer,
    VerdictNoteSerializer,
)

PROJECTS_READ = Scope.PROJECTS_READ.value
KPI_WRITE = Scope.KPI_WRITE.value
GATES_READ = Scope.GATES_READ.value
GATES_WRITE = Scope.GATES_WRITE.value
PAYMENTS_WRITE = Scope.PAYMENTS_WRITE.value
KPI_ATTEST = Scope.KPI_ATTEST.value

PROBLEM = "application/problem+json"


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- querysets


def visible_projects(actor: Actor | None) -> QuerySet[Project]:
    return projects_visible_to(actor)


def measurement_queryset(qs: QuerySet[Measurement]) -> QuerySet[Measurement]:
    """Measurements with their KPI, verdicts and evidence files: three queries for a page of
    any size."""
    return qs.select_related("kpi").prefetch_related(
        Prefetch("attestations", queryset=MeasurementAttestation.objects.order_by("id")),
        Prefetch("evidence_files", queryset=MeasurementEvidence.objects.order_by("id")),
    )


def kpi_queryset() -> QuerySet[KPI]:
    return KPI.objects.order_by("stage__number", "id")


def stage_queryset() -> QuerySet[Stage]:
    """Stages with their gate, KPIs and planned tranches: three queries for any number."""
    return (
        Stage.objects.select_related("gate")
        .prefetch_related(
            # One stage's KPIs share its number: ordering them by id needs no join.
            Prefetch("kpis", queryset=KPI.objects.order_by("id")),
            Prefetch("tranches", queryset=Tranche.objects.order_by("side")),
        )
        .order_by("project_id", "number")
    )


def latest_evaluation_prefetch() -> Prefetch:
    """Each gate's newest snapshot (``evaluated_at``, ties by ``id``), one query for a page."""
    ranked = GateEvaluation.objects.annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("gate_id")],
            order_by=[F("evaluated_at").desc(), F("id").desc()],
        )
    ).filter(rank=1)
    return Prefetch("evaluations", queryset=ranked, to_attr="latest_evaluations")


def gate_queryset() -> QuerySet[Gate]:
    return (
        Gate.objects.select_related("stage")
        .prefetch_related(latest_evaluation_prefetch())
        .order_by("due_on", "id")
    )


def tranche_queryset() -> QuerySet[Tranche]:
    return Tranche.objects.select_related("stage").order_by("project_id", "stage__number", "side")


def disbursement_queryset(rows: QuerySet[Disbursement] | None = None) -> QuerySet[Disbursement]:
    rows = Disbursement.objects.all() if rows is None else rows
    return rows.select_related("tranche__stage", "organisation").order_by(
        "tranche__project_id", "tranche__stage__number", "tranche__side", "id"
    )


# --------------------------------------------------------------------------- filters


class ProjectFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ProjectState.choices)
    call = IdFilter(field_name="call_id", help_text="Call id.")

    class Meta:
        model = Project
        fields = ["state", "call"]


class StageFilter(django_filters.FilterSet):
    project = IdFilter(field_name="project_id", help_text="Project id.")
    state = django_filters.ChoiceFilter(choices=StageState.choices)

    class Meta:
        model = Stage
        fields = ["project", "state"]


class KpiFilter(django_filters.FilterSet):
    project = IdFilter(field_name="project_id", help_text="Project id.")
    stage = IdFilter(field_name="stage_id", help_text="Stage id.")

    class Meta:
        model = KPI
        fields = ["project", "stage"]


class MeasurementFilter(django_filters.FilterSet):
    project = IdFilter(field_name="project_id", help_text="Project id.")
    kpi = IdFilter(field_name="kpi_id", help_text="KPI id.")

    class Meta:
        model = Measurement
        fields = ["project", "kpi"]


class GateFilter(django_filters.FilterSet):
    project = IdFilter(field_name="stage__project_id", help_text="Project id.")
    state = django_filters.ChoiceFilter(choices=GateState.choices)

    class Meta:
        model = Gate
        fields = ["project", "state"]


class TrancheFilter(django_filters.FilterSet):
    project = IdFilter(field_name="project_id", help_text="Project id.")
    state = django_filters.ChoiceFilter(choices=TrancheState.choices)
    side = django_filters.ChoiceFilter(choices=[("JP", "JP"), ("KR", "KR")])

    class Meta:
        model = Tranche
        fields = ["project", "state", "side"]


class DisbursementFilter(django_filters.FilterSet):
    project = IdFilter(field_name="tranche__project_id", help_text="Project id.")
    state = django_filters.ChoiceFilter(choices=DisbursementState.choices)
    organisation = django_filters.CharFilter(
        method="filter_organisation", help_text="Organisation id or code (e.g. JP-OSK-01)."
    )

    class Meta:
        model = Disbursement
        fields = ["project", "state", "organisation"]

    def filter_organisation(self, queryset, name, value):
        value = value.strip()
        if value.isdigit():
            return queryset.filter(organisation_id=int(value))
        return queryset.filter(organisation__code=value)


# --------------------------------------------------------------------------- documentation


def problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description)


ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    400: problem("Malformed body, a missing Idempotency-Key, or a bad filter value."),
    403: problem("Visible, but the caller may not do this (or the key lacks the scope)."),
    404: problem("Missing or not visible to the caller (the same answer for both)."),
    409: problem("The object's state does not allow this now."),
    413: problem("The body or one of its files is too large (files: at most 20 MB each)."),
    415: problem("A file is not one of the accepted kinds (PDF, CSV, PNG, JPEG), by content."),
    422: problem("Field errors, or an Idempotency-Key reused with another body."),
}


def problems(*codes: int) -> dict[Any, OpenApiResponse]:
    return {(code, PROBLEM): ERROR_RESPONSES[code] for code in codes}


def example(name: str, value: Any, *, request: bool = False) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=request, response_only=not request)


def page(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(rows), "next": None, "previous": None, "results": list(rows)}


def cursor_page(*rows: dict[str, Any]) -> dict[str, Any]:
    return {
        "next": "https://fund.example/api/v1/measurements/?cursor=cD0yMDI1",
        "previous": None,
        "results": list(rows),
    }


KPI_EXAMPLE = {
    "id": 31,
    "project": 12,
    "stage": 40,
    "code": "K1",
    "name": "Energy efficiency",
    "name_en": "Energy efficiency",
    "name_ja": "エネルギー効率",
    "name_ko": "에너지 효율",
    "unit": "TOPS/W",
    "direction": "higher_is_better",
    "baseline": "10.000000",
    "target": "20.000000",
    "weight": "1.0000",
    "mandatory": True,
    "aggregation": "latest",
}
STAGE_EXAMPLE = {
    "id": 40,
    "project": 12,
    "number": 1,
    "title": "Prototype",
    "months": 12,
    "deliverable": "A working prototype",
    "state": "active",
    "started_on": "2025-04-01",
    "extensions_used": 0,
    "gate": {"id": 55, "due_on": "2026-03-31", "state": "pending", "round": 1},
    "kpis": [KPI_EXAMPLE],
    "planned_tranche": {"JPY": 40000000, "KRW": 400000000},
}
PROJECT_EXAMPLE = {
    "id": 12,
    "title": "Edge AI accelerators",
    "title_en": "Edge AI accelerators",
    "title_ja": "エッジAIアクセラレータ",
    "title_ko": "엣지 AI 가속기",
    "state": "active",
    "call": 3,
    "proposal": 42,
    "research_area": "semiconductor.ai",
    "current_stage": 40,
    "current_stage_number": 1,
    "awarded_at": "2025-03-20T02:00:00Z",
    "started_on": "2025-04-01",
    "ended_at": None,
}
PROJECT_DETAIL_EXAMPLE = {
    **PROJECT_EXAMPLE,
    "end_reason": "",
    "organisations": [
        {
            "organisation": 7,
            "code": "JP-OSK-01",
            "role": "lead_jp",
            "side": "JP",
            "currency": "JPY",
            "budget": 100000000,
        }
    ],
    "stages": [STAGE_EXAMPLE],
}
MEASUREMENT_EXAMPLE = {
    "id": 901,
    "project": 12,
    "kpi": 31,
    "kpi_code": "K1",
    "value": "18.500000",
    "measured_at": "2025-09-30T06:00:00Z",
    "note": "Bench run 14",
    "evidence_files": [
        {
            "id": 55,
            "name": "bench-run-14.pdf",
            "content_type": "application/pdf",
            "size": 182044,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "download_url": "https://fund.example/api/v1/measurements/901/evidence/55/",
        }
    ],
    "source": "api",
    "created_at": "2025-10-01T01:00:00Z",
    "rejected": False,
    "rejected_at": None,
    "rejection_reason": "",
    "verification": "unverified",
    "attestations": [],
}
EVIDENCE_UPLOAD_EXAMPLE = {
    "id": 56,
    "project": 12,
    "name": "chart-14.png",
    "content_type": "image/png",
    "size": 48211,
    "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "expires_at": "2025-10-02T01:00:00Z",
}
EVIDENCE_MEDIA_TYPES = ("application/pdf", "text/csv", "image/png", "image/jpeg")
EVIDENCE_FILE_ID = OpenApiParameter(
    "file_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The evidence file's id."
)


ATTESTATION_EXAMPLE = {
    "id": 14,
    "verdict": "attested",
    "note": "Bench log checked against our run.",
    "verifier": None,
    "verifier_organisation": 8,
    "created_at": "2025-10-02T01:00:00Z",
}
EVALUATION_EXAMPLE = {
    "id": 77,
    "round": 1,
    "score": "1.2000",
    "outcome": "pass",
    "evaluated_at": "2026-04-01T00:15:00Z",
    "as_of": "2026-03-31",
    "kpis": [
        {
            "code": "K1",
            "kpi": 31,
            "value": "22.000000",
            "achievement": "1.2000",
            "met": True,
            "missing": False,
        },
        {
            "code": "K2",
            "kpi": 32,
            "value": None,
            "achievement": "0.0000",
            "met": False,
            "missing": True,
        },
    ],
    # Anomaly flags (§22): any keeps a PASS from being released automatically.
    "anomaly_flags": [
        {
            "kind": "late_decisive",
            "kpi_id": 31,
            "code": "K1",
            "measurement_ids": [912],
            "detail": {
                "entered_since": "2026-03-24T23:59:59.999999+09:00",
                "value": "22.000000",
                "value_without": "18.000000",
            },
        }
    ],
}
GATE_EXAMPLE = {
    "id": 55,
    "project": 12,
    "stage": 40,
    "stage_number": 1,
    "state": "evaluated",
    "due_on": "2026-03-31",
    "round": 1,
    "latest_evaluation": EVALUATION_EXAMPLE,
}
DECISION_EXAMPLE = {
    "id": 5,
    "gate": 55,
    "round": 1,
    "evaluation": 77,
    "kind": "release_reduced",
    "state": "pending",
    "first_officer": 3,
    "first_side": "JP",
    "first_at": "2026-04-02T01:00:00Z",
    "second_officer": None,
    "second_side": "",
    "second_at": None,
    "automatic": False,
    "override": False,
    "justification": "",
    "extension_months": None,
    "multiplier": None,
    "completed_at": None,
    "two_person": DECISION_BLOCK_EXAMPLE,
}
TRANCHE_EXAMPLE = {
    "id": 81,
    "project": 12,
    "stage": 41,
    "stage_number": 2,
    "side": "JP",
    "currency": "JPY",
    "planned": 40000000,
    "multiplier": "1.1000000000",
    "released": 44000000,
    "from_reserve": 4000000,
    "returned_to_pool": 0,
    "state": "released",
    "decision": 5,
    "decided_at": "2026-04-01T00:15:00Z",
    "released_at": "2026-04-01T00:15:02Z",
}
DISBURSEMENT_EXAMPLE = {
    "id": 140,
    "tranche": 81,
    "project": 12,
    "stage_number": 2,
    "side": "JP",
    "organisation": 7,
    "organisation_code": "JP-OSK-01",
    "currency": "JPY",
    "amount": 44000000,
    "state": "paid",
    "paid_on": "2026-04-10",
    "reference": "JST-2026-0410-17",
    "confirmed_at": "2026-04-10T05:00:00Z",
}


# --------------------------------------------------------------------------- views


class EngineViewSet(GenericViewSet):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes: dict[str, str | tuple[str, ...]] = {}

    @property
    def actor(self) -> Actor:
        return actor_of(self.request)


@extend_schema_view(
    list=extend_schema(
        summary="List the projects visible to the caller",
        description="Paginated; filter by state and call. Keys need projects:read.",
        examples=[example("A page of projects", page(PROJECT_EXAMPLE))],
        responses={200: ProjectListSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a project with its stages, gates, KPIs and planned tranches",
        examples=[example("A project", PROJECT_DETAIL_EXAMPLE)],
        responses={200: ProjectDetailSerializer, **problems(403, 404)},
    ),
)
class ProjectViewSet(mixins.ListModelMixin, EngineViewSet):
    """Projects of the caller's consortia (researchers, partner systems), or all (staff)."""

    queryset = Project.objects.none()
    serializer_class = ProjectListSerializer
    filterset_class = ProjectFilter
    required_scopes = {"list": PROJECTS_READ, "retrieve": PROJECTS_READ, "evidence": KPI_WRITE}

    def get_queryset(self) -> QuerySet[Project]:
        return visible_projects(self.actor).select_related("current_stage", "research_area")

    @extend_schema(
        summary="Upload an evidence file ahead of its measurement",
        description="Multipart with `file`: a PDF, CSV, PNG or JPEG of at most 20 MB, checked "
        "by content (415 for another kind, 422 for a refused PDF or a damaged image, 413 over "
        "20 MB). Needs kpi:write for keys. The upload is held for the caller alone (the same "
        "person or key) until `expires_at` (24 hours): report the measurement with its `id` "
        "in `evidence_ids`, or add it to a measurement with "
        "`POST /api/v1/measurements/{id}/evidence/`. An upload serves one measurement; "
        "unreferenced uploads are deleted when they expire.",
        request={"multipart/form-data": EvidenceFileUploadSerializer},
        responses={201: EvidenceUploadSerializer, **problems(400, 403, 404, 409, 413, 415, 422)},
        examples=[example("Uploaded", EVIDENCE_UPLOAD_EXAMPLE)],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="evidence",
        url_name="evidence-upload",
        parser_classes=[MultiPartParser],
    )
    def evidence(self, request: Request, pk: str | None = None) -> Response:
        from projects.services.measurements import can_record_measurement, evidence_upload

        project = get_project_for_actor(self.actor, pk)
        # Refuse before the body is parsed: no one may make us store what they can't report.
        _require(can_record_measurement(self.actor, project))
        upload = evidence_upload(
            project=project, actor=self.actor, upload=request.FILES.get("file")
        )
        return Response(EvidenceUploadSerializer(upload).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        project = get_project_for_actor(self.actor, pk)
        prefetch_related_objects(
            [project],
            Prefetch("stages", queryset=stage_queryset()),
            Prefetch(
                "organisations",
                queryset=ProjectOrganisation.objects.select_related("organisation"),
            ),
        )
        return Response(ProjectDetailSerializer(project).data)


@extend_schema_view(
    list=extend_schema(
        summary="List stages",
        description="Of the projects visible to the caller; filter by project and state.",
        examples=[example("A page of stages", page(STAGE_EXAMPLE))],
        responses={200: ProjectStageSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a stage",
        examples=[example("A stage", STAGE_EXAMPLE)],
        responses={200: ProjectStageSerializer, **problems(403, 404)},
    ),
)
class StageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, EngineViewSet):
    queryset = Stage.objects.none()
    serializer_class = ProjectStageSerializer
    filterset_class = StageFilter
    required_scopes = {"list": PROJECTS_READ, "retrieve": PROJECTS_READ}

    def get_queryset(self) -> QuerySet[Stage]:
        return restrict_to_visible_projects(stage_queryset(), self.actor, via="project_id")


@extend_schema_view(
    list=extend_schema(
        summary="List KPIs",
        description="Of the projects visible to the caller; filter by project and stage.",
        examples=[example("A page of KPIs", page(KPI_EXAMPLE))],
        responses={200: ProjectKpiSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a KPI",
        examples=[example("A KPI", KPI_EXAMPLE)],
        responses={200: ProjectKpiSerializer, **problems(403, 404)},
    ),
)
class KpiViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, EngineViewSet):
    queryset = KPI.objects.none()
    serializer_class = ProjectKpiSerializer
    filterset_class = KpiFilter
    required_scopes = {"list": PROJECTS_READ, "retrieve": PROJECTS_READ}

    def get_queryset(self) -> QuerySet[KPI]:
        return restrict_to_visible_projects(kpi_queryset(), self.actor, via="project_id")


@extend_schema_view(
    list=extend_schema(
        summary="List measurements (cursor pagination)",
        description="Newest first; filter by project and kpi. Follow `next` for older ones.",
        examples=[example("A page of measurements", cursor_page(MEASUREMENT_EXAMPLE))],
        responses={200: MeasurementSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a measurement",
        examples=[example("A measurement", MEASUREMENT_EXAMPLE)],
        responses={200: MeasurementSerializer, **problems(403, 404)},
    ),
)
class MeasurementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, EngineViewSet):
    queryset = Measurement.objects.none()
    serializer_class = MeasurementSerializer
    filterset_class = MeasurementFilter
    pagination_class = CursorPagination
    required_scopes = {
        "list": PROJECTS_READ,
        "retrieve": PROJECTS_READ,
        "create": KPI_WRITE,
        "evidence": KPI_WRITE,
        # Verifier organisations' keys read the files of what they judge (§22).
        "evidence_file": (PROJECTS_READ, KPI_ATTEST),
        # "reject": officers in the browser only; no scope grants it to a key.
        "attest": KPI_ATTEST,
        "dispute": KPI_ATTEST,
    }

    # JSON everywhere; reporting a measurement and adding evidence also take multipart (the
    # files as ``evidence`` parts). Actions that take JSON only say so themselves.
    parser_classes = [JSONParser, MultiPartParser]

    def get_queryset(self) -> QuerySet[Measurement]:
        visible = measurements_visible_to(self.actor)
        if self.action in ("attest", "dispute"):
            # A verifier judges measurements of projects it cannot otherwise see (§22).
            verifiable = verifiable_measurements(self.actor).values("pk")
            visible = Measurement.objects.filter(
                Q(pk__in=visible.values("pk")) | Q(pk__in=verifiable)
            )
        return measurement_queryset(visible)

    def _response(self, measurement_id: int, status_code: int = 200, **headers) -> Response:
        measurement = measurement_queryset(Measurement.objects.all()).get(pk=measurement_id)
        return Response(
            MeasurementSerializer(measurement, context=self.get_serializer_context()).data,
            status=status_code,
            headers=headers,
        )

    @extend_schema(
        summary="Report a KPI measurement",
        description="Needs kpi:write for keys and an Idempotency-Key: the same key and body "
        "return the first response again (`Idempotent-Replayed: true`); the same key with "
        "another body answers 422. Evidence files come either by reference (`evidence_ids`, "
        "files uploaded before with `POST /api/v1/projects/{id}/evidence/`) or with the "
        "report itself as multipart (`evidence` parts, each a PDF, CSV, PNG or JPEG of at "
        "most 20 MB, checked by content; the whole body at most 21 MB: upload larger sets "
        "by reference). The response lists each file with its SHA-256.",
        request={
            "application/json": MeasurementCreateSerializer,
            "multipart/form-data": MeasurementUploadSerializer,
        },
        parameters=[IDEMPOTENCY_KEY],
        responses={201: MeasurementSerializer, **problems(400, 403, 409, 413, 415, 422)},
        examples=[
            example(
                "Report a value",
                {
                    "kpi": 31,
                    "value": "18.5",
                    "measured_at": "2025-09-30T15:00:00+09:00",
                    "note": "Bench run 14",
                    "evidence_ids": [55],
                },
                request=True,
            ),
            example("Recorded", MEASUREMENT_EXAMPLE),
        ],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        from projects.services.measurements import measurement_record

        body = MeasurementCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        kpi = (
            kpi_queryset()
            .select_related("project", "stage")
            .filter(pk=data["kpi"], project__in=visible_projects(self.actor))
            .first()
        )
        if kpi is None:
            message = _("Unknown KPI.")
            raise ValidationFailed(message, errors={"kpi": [message]})
        measurement = measurement_record(
            kpi=kpi,
            actor=self.actor,
            value=data["value"],
            measured_at=data["measured_at"],
            note=data["note"],
            source=MeasurementSource.API,
            evidence=request.FILES.getlist("evidence"),
            evidence_ids=data["evidence_ids"],
        )
        location = request.build_absolute_uri(reverse("measurement-detail", args=[measurement.pk]))
        return self._response(measurement.pk, status.HTTP_201_CREATED, Location=location)

    @extend_schema(
        summary="Add evidence files to a measurement",
        description="For whoever may report the project's measurements (kpi:write for keys), "
        "until the gate whose window holds the measurement is decided; not for a rejected "
        "measurement (409). JSON with `evidence_ids` (files uploaded before) or multipart "
        "with `evidence` parts, as when reporting. The files join those already there; none "
        "is ever removed or replaced. Needs an Idempotency-Key. Answers the measurement.",
        request={
            "application/json": EvidenceAddSerializer,
            "multipart/form-data": EvidenceAddUploadSerializer,
        },
        parameters=[IDEMPOTENCY_KEY],
        responses={201: MeasurementSerializer, **problems(400, 403, 404, 409, 413, 415, 422)},
        examples=[
            example("Add an uploaded file", {"evidence_ids": [56]}, request=True),
            example("Added", MEASUREMENT_EXAMPLE),
        ],
    )
    @action(detail=True, methods=["post"], url_path="evidence")
    @idempotent
    def evidence(self, request: Request, pk: str | None = None) -> Response:
        from projects.services.measurements import measurement_evidence_add

        measurement = self.get_object()
        body = EvidenceAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        measurement_evidence_add(
            measurement=measurement,
            actor=self.actor,
            evidence=request.FILES.getlist("evidence"),
            evidence_ids=body.validated_data["evidence_ids"],
        )
        return self._response(measurement.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Download an evidence file",
        description="For whoever may see the measurement: the project's people and "
        "organisations' keys, fund officers, and verifiers designated for its KPI. Anyone "
        "else, and a file of another measurement, gets 404.",
        parameters=[EVIDENCE_FILE_ID],
        responses={
            **{
                (200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")
                for media in EVIDENCE_MEDIA_TYPES
            },
            **problems(403, 404),
        },
        examples=[
            OpenApiExample(
                "Not yours to see",
                value={
                    "type": "https://jk-fund.example/problems/not_found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "Not found.",
                    "code": "not_found",
                },
                response_only=True,
                status_codes=["404"],
                media_type="application/problem+json",
            )
        ],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"evidence/(?P<file_id>[0-9]+)",
        url_name="evidence-file",
        renderer_classes=[JSONRenderer, FileDownloadRenderer],
    )
    def evidence_file(
        self, request: Request, pk: str | None = None, file_id: str | None = None
    ) -> FileResponse:
        from projects.services.measurements import evidence_file_path

        evidence = get_evidence_file_for_actor(self.actor, pk, file_id)
        path = evidence_file_path(evidence)
        if path is None:
            raise NotFound()
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=evidence.name,
            content_type=evidence.content_type or "application/octet-stream",
        )

    @extend_schema(
        summary="Reject a measurement (fund officers)",
        description="With a reason, before the gate is decided; a rejected measurement no "
        "longer counts. Browser session only.",
        request=ReasonSerializer,
        responses={200: MeasurementSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Reject", {"reason": "The bench log does not match."}, request=True),
            example(
                "Rejected",
                {
                    **MEASUREMENT_EXAMPLE,
                    "rejected": True,
                    "rejected_at": "2026-03-20T02:00:00Z",
                    "rejection_reason": "The bench log does not match.",
                },
            ),
        ],
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        from projects.services.measurements import measurement_reject

        measurement = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # The service checks who may reject and what a reason must be (403, 422).
        measurement_reject(
            measurement=measurement, actor=self.actor, reason=body.validated_data["reason"]
        )
        return self._response(measurement.pk)

    def _verdict(self, request: Request, verdict: str) -> Response:
        from projects.services.verification import measurement_attest

        measurement = self.get_object()
        body = VerdictNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not verifiable_measurements(self.actor).filter(pk=measurement.pk).exists():
            # Visible to the caller (the project's own people, officers), but not theirs
            # to judge.
            raise PermissionDenied(
                _("Only a verifier designated for this KPI may attest or dispute its measurements.")
            )
        measurement_attest(
            measurement=measurement,
            actor=self.actor,
            verdict=verdict,
            note=body.validated_data["note"],
        )
        return self._response(measurement.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Attest a measurement (designated verifiers)",
        description="A verifier designated for the measurement's KPI (a person in the browser "
        "session, or a verifier organisation's key with kpi:attest) attests it, with an "
        "optional note. One verdict per verifier and measurement, never changed (a second "
        "answers 409). Other measurements answer 404. Needs an Idempotency-Key.",
        request=VerdictNoteSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: MeasurementSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Attest", {"note": "Bench log checked against our run."}, request=True),
            example(
                "Attested",
                {
                    **MEASUREMENT_EXAMPLE,
                    "verification": "attested",
                    "attestations": [ATTESTATION_EXAMPLE],
                },
            ),
        ],
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    @idempotent
    def attest(self, request: Request, pk: str | None = None) -> Response:
        return self._verdict(request, AttestationVerdict.ATTESTED)

    @extend_schema(
        summary="Dispute a measurement (designated verifiers)",
        description="As attest, with a note saying why (required). A disputed measurement "
        "stays disputed whatever other verifiers say. Needs an Idempotency-Key.",
        request=VerdictNoteSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: MeasurementSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Dispute", {"note": "The log shows another chip revision."}, request=True),
            example(
                "Disputed",
                {
                    **MEASUREMENT_EXAMPLE,
                    "verification": "disputed",
                    "attestations": [
                        {
                            **ATTESTATION_EXAMPLE,
                            "verdict": "disputed",
                            "note": "The log shows another chip revision.",
                        }
                    ],
                },
            ),
        ],
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    @idempotent
    def dispute(self, request: Request, pk: str | None = None) -> Response:
        return self._verdict(request, AttestationVerdict.DISPUTED)


@extend_schema_view(
    list=extend_schema(
        summary="List gates",
        description="Of the projects visible to the caller, each with its latest evaluation; "
        "filter by project and state. Keys need gates:read.",
        examples=[example("A page of gates", page(GATE_EXAMPLE))],
        responses={200: GateSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a gate with its latest evaluation",
        examples=[example("A gate", GATE_EXAMPLE)],
        responses={200: GateSerializer, **problems(403, 404)},
    ),
)
class GateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, EngineViewSet):
    queryset = Gate.objects.none()
    serializer_class = GateSerializer
    filterset_class = GateFilter
    required_scopes = {
        "list": GATES_READ,
        "retrieve": GATES_READ,
        "evaluations": GATES_READ,
        "decisions": GATES_READ,
        "forecast": GATES_READ,
        "evaluate": GATES_WRITE,
        # "decide": fund officers in the browser only (two-person rule, §2).
    }

    def get_queryset(self) -> QuerySet[Gate]:
        return restrict_to_visible_projects(gate_queryset(), self.actor, via="stage__project_id")

    def _gate_response(self, gate_id: int) -> Response:
        return Response(GateSerializer(gate_queryset().get(pk=gate_id)).data)

    @extend_schema(
        summary="List a gate's evaluations, newest first",
        description="Each is an immutable snapshot with its window, policy and inputs (§8).",
        filters=False,
        responses={200: EvaluationDetailSerializer(many=True), **problems(403, 404)},
        examples=[
            example(
                "Evaluations",
                page(
                    {
                        **EVALUATION_EXAMPLE,
                        "gate": 55,
                        "window_start": "2025-03-31T15:00:00Z",
                        "cutoff": "2026-03-31T14:59:59.999999Z",
                        "policy": {"pass_threshold": "1.0", "auto_release_on_pass": True},
                        "inputs": {
                            "kpis": [
                                {
                                    "id": 31,
                                    "code": "ACC",
                                    "direction": "higher_is_better",
                                    "baseline": "10.000000",
                                    "target": "20.000000",
                                    "weight": "1.0000",
                                    "mandatory": True,
                                    "aggregation": "latest",
                                }
                            ],
                            "measurements": [
                                {
                                    "id": 901,
                                    "kpi_id": 31,
                                    "value": "22.000000",
                                    "measured_at": "2026-03-20T01:00:00+00:00",
                                }
                            ],
                        },
                    }
                ),
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def evaluations(self, request: Request, pk: str | None = None) -> Response:
        gate = self.get_object()
        evaluations = gate.evaluations.order_by("-evaluated_at", "-id")
        rows = self.paginate_queryset(evaluations)
        return self.get_paginated_response(EvaluationDetailSerializer(rows, many=True).data)

    @extend_schema(
        summary="Forecast a gate: its outcome if evaluated now",
        description="Read-only (§22): the outcome and score a real evaluation would store "
        "today, each KPI's current value and the value needed to meet it, and the tranches "
        "the outcome would release, with the bonus the reserve could pay. Nothing is "
        "stored. 409 when the stage is not running or has no KPIs.",
        filters=False,
        responses={200: GateForecastSerializer, **problems(403, 404, 409)},
        examples=[
            example(
                "A PASS with a bonus",
                {
                    "gate": 55,
                    "as_of": "2026-03-20",
                    "window_start": "2025-03-31T15:00:00Z",
                    "cutoff": "2026-03-31T14:59:59.999999Z",
                    "score": "1.1000",
                    "outcome": "pass",
                    "decision": "release",
                    "automatic": True,
                    "multiplier": "1.0500000000",
                    "kpis": [
                        {
                            "kpi_id": 31,
                            "code": "ACC",
                            "direction": "higher_is_better",
                            "aggregation": "latest",
                            "mandatory": True,
                            "value": "22.0000000000",
                            "achievement": "1.2000",
                            "met": True,
                            "missing": False,
                            "needed": "20.0000000000",
                            "gap": "0E-10",
                        }
                    ],
                    "tranches": [
                        {
                            "tranche_id": 71,
                            "side": "JP",
                            "currency": "JPY",
                            "planned": 10000000,
                            "released": 10500000,
                            "from_reserve": 500000,
                            "bonus_cut": 0,
                            "returned_to_pool": 0,
                        }
                    ],
                },
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def forecast(self, request: Request, pk: str | None = None) -> Response:
        from projects.services.forecast import gate_forecast

        gate = self.get_object()
        found = gate_forecast(gate)
        if found is None:
            raise Conflict(
                _("This gate's stage is not running or has no KPIs; nothing to forecast."),
                code="not_forecast",
            )
        return Response(GateForecastSerializer(found).data)

    @extend_schema(
        summary="Evaluate a gate now",
        description="Fund officers, or keys with gates:write. Stores a new snapshot "
        "synchronously (automatic decisions follow as §8 allows) and returns the gate.",
        request=None,
        responses={200: GateSerializer, **problems(403, 404, 409)},
        examples=[example("Evaluated", GATE_EXAMPLE)],
    )
    @action(detail=True, methods=["post"])
    def evaluate(self, request: Request, pk: str | None = None) -> Response:
        from projects.services.gates import gate_evaluate

        gate = self.get_object()
        # The service checks who may evaluate (officers; keys of the consortium) and when.
        gate_evaluate(gate=gate, actor=self.actor)
        return self._gate_response(gate.pk)

    @extend_schema(
        summary="List a gate's decisions, newest first",
        filters=False,
        responses={200: DecisionSerializer(many=True), **problems(403, 404)},
        examples=[example("Decisions", page(DECISION_EXAMPLE))],
    )
    @action(detail=True, methods=["get"])
    def decisions(self, request: Request, pk: str | None = None) -> Response:
        gate = self.get_object()
        decisions = gate.decisions.order_by("-first_at", "-id")
        rows = self.paginate_queryset(decisions)
        return self.get_paginated_response(DecisionSerializer(rows, many=True).data)

    @extend_schema(
        summary="Approve a gate decision (fund officers, two-person rule)",
        description="The first approval is recorded as pending (201); the second, by an "
        "officer of the other side with the same kind, completes it (200). An override of an "
        "automatic outcome needs a justification. Browser session only.",
        request=DecisionCreateSerializer,
        filters=False,
        responses={
            201: DecisionSerializer,
            200: DecisionSerializer,
            **problems(400, 403, 404, 409, 422),
        },
        examples=[
            example(
                "Release a reduced tranche",
                {"kind": "release_reduced", "justification": "", "extension_months": None},
                request=True,
            ),
            example("Pending the second officer", DECISION_EXAMPLE),
        ],
    )
    @decisions.mapping.post
    def decide(self, request: Request, pk: str | None = None) -> Response:
        from projects.services.decisions import gate_decision_approve

        gate = self.get_object()
        _require(can_decide_gate(self.actor))
        body = DecisionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        decision = gate_decision_approve(
            gate=gate,
            actor=self.actor,
            kind=data["kind"],
            justification=data["justification"],
            extension_months=data["extension_months"],
        )
        decision = GateDecision.objects.get(pk=decision.pk)
        created = decision.first_officer_id == self.actor.pk and decision.second_officer_id is None
        return Response(
            DecisionSerializer(decision).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def _decision_of(self, decision_id: str | None) -> GateDecision:
        gate = self.get_object()
        decision = GateDecision.objects.filter(gate=gate, pk=int(decision_id or 0)).first()
        if decision is None:
            raise NotFound(_("No such decision at this gate."))
        return decision

    @extend_schema(
        summary="Withdraw your pending approval of a gate decision or override",
        description="Only the officer who approved first, while it is pending (403 for "
        "anyone else, 409 once it is no longer pending). The decision ends; a new one can be "
        "started. Browser session only.",
        request=None,
        filters=False,
        responses={200: DecisionSerializer, **problems(403, 404, 409)},
        examples=[example("Withdrawn", {**DECISION_EXAMPLE, "state": "withdrawn"})],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"decisions/(?P<decision_id>[0-9]+)/withdraw",
        url_name="decision-withdraw",
    )
    def withdraw_decision(
        self, request: Request, pk: str | None = None, decision_id: str | None = None
    ) -> Response:
        from projects.services.decisions import gate_decision_withdraw

        decision = gate_decision_withdraw(decision=self._decision_of(decision_id), actor=self.actor)
        return Response(DecisionSerializer(decision).data)

    @extend_schema(
        summary="Decline a pending gate decision or override (an officer of the other side)",
        description="A fund officer of the other side than the first approval, with a reason "
        "(422 without). The decision ends; the gate stays evaluated and a new decision can be "
        "started. Browser session only.",
        request=DeclineSerializer,
        filters=False,
        responses={200: DecisionSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[example("Decline", {"reason": "The evidence is incomplete."}, request=True)],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"decisions/(?P<decision_id>[0-9]+)/decline",
        url_name="decision-decline",
    )
    def decline_decision(
        self, request: Request, pk: str | None = None, decision_id: str | None = None
    ) -> Response:
        from projects.services.decisions import gate_decision_decline

        decision = self._decision_of(decision_id)
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = gate_decision_decline(
            decision=decision, actor=self.actor, reason=body.validated_data["reason"]
        )
        return Response(DecisionSerializer(decision).data)


@extend_schema_view(
    list=extend_schema(
        summary="List tranches",
        description="Planned and released money per stage and side; filter by project, "
        "state and side. Keys need projects:read.",
        examples=[example("Tranches of a project", page(TRANCHE_EXAMPLE))],
        responses={200: ProjectTrancheSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a tranche",
        examples=[example("A tranche", TRANCHE_EXAMPLE)],
        responses={200: ProjectTrancheSerializer, **problems(403, 404)},
    ),
)
class TrancheViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, EngineViewSet):
    queryset = Tranche.objects.none()
    serializer_class = ProjectTrancheSerializer
    filterset_class = TrancheFilter
    required_scopes = {"list": PROJECTS_READ, "retrieve": PROJECTS_READ}

    def get_queryset(self) -> QuerySet[Tranche]:
        return restrict_to_visible_projects(tranche_queryset(), self.actor, via="project_id")


@extend_schema_view(
    list=extend_schema(
        summary="List disbursements",
        description="Each organisation's part of a released tranche; filter by project, "
        "state and organisation (id or code). Keys need projects:read.",
        examples=[example("Disbursements", page(DISBURSEMENT_EXAMPLE))],
        responses={200: DisbursementSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a disbursement",
        examples=[example("A disbursement", DISBURSEMENT_EXAMPLE)],
        responses={200: DisbursementSerializer, **problems(403, 404)},
    ),
)
class DisbursementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, EngineViewSet):
    queryset = Disbursement.objects.none()
    serializer_class = DisbursementSerializer
    filterset_class = DisbursementFilter
    required_scopes = {
        "list": PROJECTS_READ,
        "retrieve": PROJECTS_READ,
        "confirm": PAYMENTS_WRITE,
    }

    def get_queryset(self) -> QuerySet[Disbursement]:
        return disbursement_queryset(disbursements_visible_to(self.actor))

    @extend_schema(
        summary="Confirm that a disbursement was paid",
        description="Finance officers, or keys with payments:write; needs an Idempotency-Key. "
        "Posts the payment to the ledger exactly once, whatever the retries.",
        request=DisbursementConfirmSerializer,
        parameters=[IDEMPOTENCY_KEY],
        filters=False,
        responses={200: DisbursementSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example(
                "Confirm", {"paid_on": "2026-04-10", "reference": "JST-2026-0410-17"}, request=True
            ),
            example("Paid", DISBURSEMENT_EXAMPLE),
        ],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        from projects.services.payments import disbursement_confirm

        disbursement = self.get_object()
        _require(can_confirm_disbursement(self.actor, disbursement))
        body = DisbursementConfirmSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        disbursement_confirm(
            disbursement=disbursement,
            actor=self.actor,
            paid_on=body.validated_data["paid_on"],
            reference=body.validated_data["reference"],
        )
        return Response(
            DisbursementSerializer(disbursement_queryset().get(pk=disbursement.pk)).data
        )


def register(router: DefaultRouter) -> None:
    """Register this module's viewsets on the /api/v1/ router."""
    router.register("projects", ProjectViewSet, basename="project")
    router.register("stages", StageViewSet, basename="stage")
    router.register("kpis", KpiViewSet, basename="kpi")
    router.register("measurements", MeasurementViewSet, basename="measurement")
    router.register("gates", GateViewSet, basename="gate")
    router.register("tranches", TrancheViewSet, basename="tranche")
    router.register("disbursements", DisbursementViewSet, basename="disbursement")
    # §24: a project's amendments, with their two-person approval.
    from projects.api import amendments

    amendments.register(router)
