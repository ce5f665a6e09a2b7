"""/api/v1/projects/{id}/reports/ (§24): a project's stage reports with their financial
statements (spent against budget and released, per organisation and budget category).

Seeing a report is seeing its project: a project the caller may not see answers 404,
whatever the method. Keys read with ``projects:read``; a consortium organisation's key
with ``kpi:write`` enters its own organisation's spending lines. The narrative, opening and
submitting are the PIs' (browser session); accepting and returning are fund officers'.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import ViewSet

from fundapp.accounts.models import Scope
from fundapp.api.permissions import HasScope, actor_of
from fundapp.errors import ValidationFailed
from fundapp.ledger.models import Currency
from projects.models import BudgetCategory, Project, ReportState, Stage, StageReport
from projects.selectors.projects import get_project_for_actor
from projects.selectors.reports import (
    Statement,
    get_report_for_actor,
    project_reports,
    report_due_on,
    statement,
)
from projects.services import reports as svc

from .engine import example, problems

PROJECTS_READ = Scope.PROJECTS_READ.value
KPI_WRITE = Scope.KPI_WRITE.value

PROJECT_ID = OpenApiParameter(
    "project_pk", int, OpenApiParameter.PATH, description="The project's id."
)
REPORT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The report's id.")

REPORT_EXAMPLE: dict[str, Any] = {
    "id": 4,
    "project": 3,
    "stage": 11,
    "stage_number": 1,
    "gate_day": "2026-12-15",
    "due_on": "2026-12-01",
    "state": "submitted",
    "narrative_en": "Stage one went to plan.",
    "narrative_ja": "",
    "narrative_ko": "",
    "version": 3,
    "submitted_at": "2026-11-28T01:00:00Z",
    "decided_at": None,
    "return_reason": "",
    "statement": {
        "organisations": [
            {
                "organisation": 8,
                "code": "JP-OSK-01",
                "side": "JP",
                "currency": "JPY",
                "budget": 70_000_000,
                "released": 28_000_000,
                "spent": 24_000_000,
                "lines": [
                    {
                        "category": "personnel",
                        "budget": 50_000_000,
                        "released": 20_000_000,
                        "spent": 15_000_000,
                    },
                    {
                        "category": "equipment",
                        "budget": 20_000_000,
                        "released": 8_000_000,
                        "spent": 9_000_000,
                    },
                ],
            }
        ],
        "sides": [
            {
                "side": "JP",
                "currency": "JPY",
                "budget": 70_000_000,
                "released": 28_000_000,
                "spent": 24_000_000,
            }
        ],
    },
}


# --------------------------------------------------------------------------- serializers


class LineSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=BudgetCategory.choices)
    budget = serializers.IntegerField(help_text="Whole yen or won: the award's budget line.")
    released = serializers.IntegerField(
        help_text="Whole yen or won released to the organisation by the tranches of this and "
        "earlier stages, split over its categories by budget share (largest remainder)."
    )
    spent = serializers.IntegerField(help_text="Whole yen or won, cumulative, as entered.")


class OrganisationStatementSerializer(serializers.Serializer):
    organisation = serializers.IntegerField()
    code = serializers.CharField()
    side = serializers.CharField(help_text="JP or KR.")
    currency = serializers.ChoiceField(choices=Currency.choices)
    budget = serializers.IntegerField()
    released = serializers.IntegerField()
    spent = serializers.IntegerField()
    lines = LineSerializer(many=True)


class SideTotalsSerializer(serializers.Serializer):
    side = serializers.CharField(help_text="JP or KR.")
    currency = serializers.ChoiceField(choices=Currency.choices)
    budget = serializers.IntegerField()
    released = serializers.IntegerField()
    spent = serializers.IntegerField()


class StatementSerializer(serializers.Serializer):
    organisations = OrganisationStatementSerializer(many=True)
    sides = SideTotalsSerializer(many=True)


class ReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    stage = serializers.IntegerField()
    stage_number = serializers.IntegerField()
    gate_day = serializers.DateField()
    due_on = serializers.DateField()
    state = serializers.ChoiceField(choices=ReportState.choices)
    narrative_en = serializers.CharField(allow_blank=True)
    narrative_ja = serializers.CharField(allow_blank=True)
    narrative_ko = serializers.CharField(allow_blank=True)
    version = serializers.IntegerField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    return_reason = serializers.CharField(allow_blank=True)
    statement = StatementSerializer(required=False)


class ReportCreateSerializer(serializers.Serializer):
    stage = serializers.IntegerField(min_value=1, help_text="A stage of the project (its id).")
    narrative_en = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    narrative_ja = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    narrative_ko = serializers.CharField(required=False, allow_blank=True, max_length=20_000)


class ReportUpdateSerializer(serializers.Serializer):
    narrative_en = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    narrative_ja = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    narrative_ko = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version read; an older one answers 409."
    )


class LineInputSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(min_value=1)
    category = serializers.ChoiceField(choices=BudgetCategory.choices)
    spent = serializers.IntegerField(min_value=0, max_value=10**15)


class LinesSerializer(serializers.Serializer):
    lines = serializers.ListField(child=LineInputSerializer(), max_length=svc.MAX_LINES)


class ReportReturnSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=svc.REASON_MAX_LENGTH, allow_blank=True)


def statement_data(found: Statement) -> dict[str, Any]:
    organisations = []
    for block in found.organisations:
        totals = block.totals
        assert totals is not None
        organisations.append(
            {
                "organisation": block.organisation.pk,
                "code": block.organisation.code,
                "side": block.side,
                "currency": block.currency,
                "budget": totals.budget,
                "released": totals.released,
                "spent": totals.spent,
                "lines": [
                    {
                        "category": row.category,
                        "budget": row.budget,
                        "released": row.released,
                        "spent": row.spent,
                    }
                    for row in block.rows
                ],
            }
        )
    sides = [
        {
            "side": "JP" if t.currency == "JPY" else "KR",
            "currency": t.currency,
            "budget": t.budget,
            "released": t.released,
            "spent": t.spent,
        }
        for t in found.sides
    ]
    return {"organisations": organisations, "sides": sides}


def report_data(report: StageReport, *, with_statement: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": report.pk,
        "project": report.project_id,
        "stage": report.stage_id,
        "stage_number": report.stage.number,
        "gate_day": report.stage.gate.due_on,
        "due_on": report_due_on(report.stage.gate.due_on),
        "state": report.state,
        "narrative_en": report.narrative_en,
        "narrative_ja": report.narrative_ja,
        "narrative_ko": report.narrative_ko,
        "version": report.version,
        "submitted_at": report.submitted_at,
        "decided_at": report.decided_at,
        "return_reason": report.return_reason,
    }
    if with_statement:
        data["statement"] = statement_data(statement(report))
    return ReportSerializer(data).data


# --------------------------------------------------------------------------- views


@extend_schema_view(
    list=extend_schema(
        summary="List a project's stage reports",
        description="By stage, without their statements. Keys need projects:read.",
        parameters=[PROJECT_ID],
        examples=[
            example("Reports", [{k: v for k, v in REPORT_EXAMPLE.items() if k != "statement"}])
        ],
        responses={200: ReportSerializer(many=True), **problems(403, 404)},
    ),
    retrieve=extend_schema(
        summary="Read a stage report with its financial statement",
        description="Per organisation and budget category: budget (the award's budget line), "
        "released (this and earlier stages' tranches released to the organisation) and spent "
        "(as the consortium entered it), in whole yen or won of the organisation's side; "
        "totals per organisation and per side.",
        parameters=[PROJECT_ID, REPORT_ID],
        examples=[example("A report", REPORT_EXAMPLE)],
        responses={200: ReportSerializer, **problems(403, 404)},
    ),
    create=extend_schema(
        summary="Start the report on a stage (the project's PIs)",
        description="One report per stage, before its gate is decided; due 14 days before "
        "the gate day.",
        parameters=[PROJECT_ID],
        request=ReportCreateSerializer,
        examples=[
            example("Start", {"stage": 11, "narrative_en": "Stage one went to plan."}, request=True)
        ],
        responses={201: ReportSerializer, **problems(400, 403, 404, 409, 422)},
    ),
    partial_update=extend_schema(
        summary="Edit the narrative (the project's PIs)",
        description="Only while the report is a draft or returned for changes. With "
        "`version`, a report changed since answers 409.",
        parameters=[PROJECT_ID, REPORT_ID],
        request=ReportUpdateSerializer,
        responses={200: ReportSerializer, **problems(400, 403, 404, 409, 422)},
    ),
)
class ProjectReportViewSet(ViewSet):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {
        "list": PROJECTS_READ,
        "retrieve": PROJECTS_READ,
        "lines": KPI_WRITE,
        # Keys never open, write or submit a report: the PIs do (the service says so).
        "create": KPI_WRITE,
        "partial_update": KPI_WRITE,
        "submit": KPI_WRITE,
    }
    lookup_value_regex = "[0-9]+"

    def check_permissions(self, request: Request) -> None:
        # A project the caller may not see is a 404 before any scope or role check (§2).
        if request.user and request.user.is_authenticated:
            self.project()
        super().check_permissions(request)

    def project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = get_project_for_actor(
                actor_of(self.request), self.kwargs.get("project_pk")
            )
        return self._project

    def get_object(self) -> StageReport:
        return get_report_for_actor(actor_of(self.request), self.project(), self.kwargs["pk"])

    def list(self, request: Request, project_pk: str | None = None) -> Response:
        reports = project_reports(self.project())
        return Response([report_data(r, with_statement=False) for r in reports])

    def retrieve(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        return Response(report_data(self.get_object()))

    def create(self, request: Request, project_pk: str | None = None) -> Response:
        body = ReportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        project = self.project()
        stage = (
            Stage.objects.select_related("gate").filter(pk=data["stage"], project=project).first()
        )
        if stage is None:
            message = _("Choose a stage of this project.")
            raise ValidationFailed(message, errors={"stage": [message]})
        report = svc.report_open(
            project=project,
            stage=stage,
            actor=actor_of(request),
            narrative={k: v for k, v in data.items() if k.startswith("narrative_")},
        )
        found = get_report_for_actor(actor_of(request), project, report.pk)
        return Response(report_data(found), status=status.HTTP_201_CREATED)

    def partial_update(
        self, request: Request, project_pk: str | None = None, pk: str | None = None
    ) -> Response:
        report = self.get_object()
        body = ReportUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        version = data.pop("version", None)
        svc.report_update(
            report=report, actor=actor_of(request), narrative=data, expected_version=version
        )
        return Response(report_data(self.get_object()))

    @extend_schema(
        summary="Enter spending lines",
        description="Each line sets what an organisation spent in a budget category "
        "(cumulative, whole yen or won of its side); lines not given stay. The PIs enter any "
        "organisation's lines; the other researchers and a consortium organisation's key "
        "with kpi:write their own organisation's. Only while the report is a draft or "
        "returned for changes.",
        parameters=[PROJECT_ID, REPORT_ID],
        request=LinesSerializer,
        examples=[
            example(
                "Lines",
                {"lines": [{"organisation": 8, "category": "personnel", "spent": 15_000_000}]},
                request=True,
            )
        ],
        responses={200: ReportSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["put"])
    def lines(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        report = self.get_object()
        body = LinesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        svc.statement_lines_set(
            report=report, actor=actor_of(request), lines=body.validated_data["lines"]
        )
        return Response(report_data(self.get_object()))

    @extend_schema(
        summary="Submit the report (the project's PIs)",
        description="Needs a narrative in at least one language and a line for every "
        "budgeted category of every funded organisation (0 where nothing was spent); 422 "
        "lists what is missing. The fund officers are told.",
        parameters=[PROJECT_ID, REPORT_ID],
        request=None,
        responses={200: ReportSerializer, **problems(403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        svc.report_submit(report=self.get_object(), actor=actor_of(request))
        return Response(report_data(self.get_object()))

    @extend_schema(
        summary="Accept a submitted report (fund officers)",
        parameters=[PROJECT_ID, REPORT_ID],
        request=None,
        responses={200: ReportSerializer, **problems(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        svc.report_accept(report=self.get_object(), actor=actor_of(request))
        return Response(report_data(self.get_object()))

    @extend_schema(
        summary="Return a submitted report for changes (fund officers)",
        description="With a reason, which the PIs are told.",
        parameters=[PROJECT_ID, REPORT_ID],
        request=ReportReturnSerializer,
        examples=[example("Return", {"reason": "Equipment is under-spent."}, request=True)],
        responses={200: ReportSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"], url_path="return")
    def return_(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        body = ReportReturnSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        svc.report_return(
            report=self.get_object(), actor=actor_of(request), reason=body.validated_data["reason"]
        )
        return Response(report_data(self.get_object()))


def register(router: DefaultRouter) -> None:
    router.register(
        r"projects/(?P<project_pk>[0-9]+)/reports", ProjectReportViewSet, basename="project-report"
    )
