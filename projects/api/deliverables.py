"""Deliverables over the REST API (§24): ``/api/v1/projects/{id}/deliverables/``.

A project the caller may not see answers 404 (``get_project_for_actor``), whatever it asks.
Reading needs ``projects:read`` for keys; submitting (multipart: ``files`` and ``note``)
is for the project's researchers and its organisations' keys with ``kpi:write``; accepting
and requesting changes are fund officers' (browser session), no scope grants them to a key.
Thin views: the services check who may act and what is valid.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.routers import DefaultRouter

from fundapp.accounts.models import Scope
from fundapp.api.parsers import MultiPartParser
from fundapp.api.permissions import actor_of
from fundapp.api.renderers import FileDownloadRenderer
from fundapp.errors import NotFound, PermissionDenied
from projects import permissions as perms
from projects.models import Deliverable, DeliverableFile, Project
from projects.selectors.deliverables import (
    deliverable_queryset,
    deliverables_visible_to,
    get_deliverable_for_actor,
)
from projects.services import deliverables as svc

from .engine import ERROR_RESPONSES, PROBLEM, example, page, problem
from .project_scoped import PROJECT_ID, ProjectScopedViewSet
from .serializers_engine import PassThroughField

DELIVERABLE_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The deliverable's id."
)
FILE_ID = OpenApiParameter(
    "file_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The file's id."
)


RESPONSES = {
    **ERROR_RESPONSES,
    413: problem("A file is larger than 20 MB."),
    415: problem("A file is none of the kinds accepted (checked by content)."),
}


def problems(*codes: int) -> dict[Any, OpenApiResponse]:
    return {(code, PROBLEM): RESPONSES[code] for code in codes}


class DeliverableFileSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DeliverableFile
        fields = ["id", "submission", "name", "content_type", "size", "sha256", "download_url"]

    def get_download_url(self, obj: DeliverableFile) -> str:
        path = reverse(
            "deliverable-file",
            kwargs={
                "project_pk": obj.deliverable.project_id,
                "pk": obj.deliverable_id,
                "file_id": obj.pk,
            },
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class DeliverableSerializer(serializers.ModelSerializer):
    """Reads ``files`` from the prefetch cache (``deliverable_queryset``)."""

    project = serializers.IntegerField(source="project_id", read_only=True)
    stage = serializers.IntegerField(source="stage_id", read_only=True)
    stage_number = serializers.IntegerField(source="stage.number", read_only=True)
    title = serializers.CharField(
        read_only=True, help_text="In the reader's language, else any language it has."
    )
    files = DeliverableFileSerializer(many=True, read_only=True)

    class Meta:
        model = Deliverable
        fields = [
            "id",
            "project",
            "stage",
            "stage_number",
            "title",
            "title_en",
            "title_ja",
            "title_ko",
            "kind",
            "due_on",
            "mandatory",
            "state",
            "submissions",
            "note",
            "submitted_at",
            "decided_at",
            "reason",
            "files",
        ]


class DeliverableSubmitSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(),
        help_text="One or more files (PDF, PNG, JPEG, ZIP or UTF-8 text), ≤ 20 MB each.",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")


class DeliverableReasonSerializer(serializers.Serializer):
    reason = PassThroughField(required=False, default="", help_text="What needs to change.")


DELIVERABLE_EXAMPLE = {
    "id": 21,
    "project": 3,
    "stage": 11,
    "stage_number": 1,
    "title": "Test-chip characterisation report",
    "title_en": "Test-chip characterisation report",
    "title_ja": "テストチップ評価報告書",
    "title_ko": "테스트 칩 특성 평가 보고서",
    "kind": "report",
    "due_on": "2026-11-01",
    "mandatory": True,
    "state": "submitted",
    "submissions": 1,
    "note": "Measured on the 28 nm shuttle run.",
    "submitted_at": "2026-10-20T01:00:00Z",
    "decided_at": None,
    "reason": "",
    "files": [
        {
            "id": 40,
            "submission": 1,
            "name": "characterisation.pdf",
            "content_type": "application/pdf",
            "size": 182044,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "download_url": "https://fund.example/api/v1/projects/3/deliverables/21/files/40/",
        }
    ],
}


@extend_schema_view(
    list=extend_schema(
        summary="List a project's deliverables",
        description="By stage and due date. Keys need projects:read; a project the caller may "
        "not see answers 404.",
        parameters=[PROJECT_ID],
        examples=[example("Deliverables", page(DELIVERABLE_EXAMPLE))],
        responses={200: DeliverableSerializer(many=True), **problems(403, 404)},
    ),
    retrieve=extend_schema(
        summary="Read a deliverable",
        parameters=[PROJECT_ID, DELIVERABLE_ID],
        examples=[example("A deliverable", DELIVERABLE_EXAMPLE)],
        responses={200: DeliverableSerializer, **problems(403, 404)},
    ),
)
class DeliverableViewSet(ProjectScopedViewSet):
    serializer_class = DeliverableSerializer
    queryset = Deliverable.objects.none()
    required_scopes = {
        "list": Scope.PROJECTS_READ.value,
        "retrieve": Scope.PROJECTS_READ.value,
        "file": Scope.PROJECTS_READ.value,
        "submit": Scope.KPI_WRITE.value,
        # "accept", "request_changes": officers in the browser session only.
    }

    def project_rows(self, project: Project) -> QuerySet[Deliverable]:
        rows = deliverables_visible_to(actor_of(self.request)).filter(project=project)
        return deliverable_queryset(rows).order_by("stage__number", "due_on", "id")

    def project_row(self, project: Project, pk: object) -> Deliverable:
        return get_deliverable_for_actor(actor_of(self.request), project, pk)

    def read_back(self, row: Deliverable) -> Deliverable:
        return deliverable_queryset().get(pk=row.pk)

    @extend_schema(
        summary="Submit a deliverable (the project's researchers, keys with kpi:write)",
        description="Multipart with one or more `files` and an optional `note`; again after "
        "an officer requested changes. Files are checked by content (415), ≤ 20 MB each "
        "(413), stored with their SHA-256.",
        parameters=[PROJECT_ID, DELIVERABLE_ID],
        request={"multipart/form-data": DeliverableSubmitSerializer},
        responses={200: DeliverableSerializer, **problems(400, 403, 404, 409, 413, 415, 422)},
        examples=[example("Submitted", DELIVERABLE_EXAMPLE)],
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def submit(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        deliverable = self.get_object()
        allowed, reason = perms.can_submit_deliverable(actor_of(request), deliverable.project)
        if not allowed:
            raise PermissionDenied(reason)
        files = request.FILES.getlist("files")
        if not files:
            raise ValidationError({"files": [_("Attach at least one file.")]})
        moved = svc.deliverable_submit(
            deliverable=deliverable,
            actor=actor_of(request),
            note=request.data.get("note", ""),
            files=files,
        )
        return self.row_response(moved)

    @extend_schema(
        summary="Accept a submitted deliverable (fund officers)",
        parameters=[PROJECT_ID, DELIVERABLE_ID],
        request=None,
        responses={200: DeliverableSerializer, **problems(403, 404, 409)},
        examples=[example("Accepted", {**DELIVERABLE_EXAMPLE, "state": "accepted"})],
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        moved = svc.deliverable_accept(deliverable=self.get_object(), actor=actor_of(request))
        return self.row_response(moved)

    @extend_schema(
        summary="Request changes to a submitted deliverable (fund officers)",
        description="With a reason (422 without one); the consortium submits again.",
        parameters=[PROJECT_ID, DELIVERABLE_ID],
        request=DeliverableReasonSerializer,
        responses={200: DeliverableSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Request changes", {"reason": "Add the bench logs."}, request=True),
            example(
                "Changes requested",
                {
                    **DELIVERABLE_EXAMPLE,
                    "state": "changes_requested",
                    "reason": "Add the bench logs.",
                },
            ),
        ],
    )
    @action(detail=True, methods=["post"], url_path="request-changes")
    def request_changes(
        self, request: Request, project_pk: str | None = None, pk: str | None = None
    ):
        body = DeliverableReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        moved = svc.deliverable_request_changes(
            deliverable=self.get_object(),
            actor=actor_of(request),
            reason=body.validated_data["reason"],
        )
        return self.row_response(moved)

    @extend_schema(
        summary="Download a submitted file",
        description="The file's bytes as `application/octet-stream`; its kind is the "
        "`content_type` of the deliverable's `files`.",
        parameters=[PROJECT_ID, DELIVERABLE_ID, FILE_ID],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment."
            ),
            **problems(403, 404),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"files/(?P<file_id>[0-9]+)",
        url_name="file",
        renderer_classes=[JSONRenderer, FileDownloadRenderer],
    )
    def file(
        self,
        request: Request,
        project_pk: str | None = None,
        pk: str | None = None,
        file_id: str | None = None,
    ) -> FileResponse:
        deliverable = self.get_object()
        found = DeliverableFile.objects.filter(deliverable=deliverable, pk=str(file_id)).first()
        if found is None:
            raise NotFound()
        try:
            handle = svc.deliverable_file_path(found).open("rb")
        except FileNotFoundError:
            raise NotFound() from None
        # The bytes as sent; what they are is the file's ``content_type`` in the JSON.
        return FileResponse(
            handle,
            as_attachment=True,
            filename=found.name,
            content_type=FileDownloadRenderer.media_type,
        )


def register(router: DefaultRouter) -> None:
    router.register(
        r"projects/(?P<project_pk>[0-9]+)/deliverables",
        DeliverableViewSet,
        basename="deliverable",
    )


__all__ = ["DeliverableViewSet", "register"]
