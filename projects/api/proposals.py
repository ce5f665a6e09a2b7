"""Proposals over the REST API (§5, §14, §21).

Thin views: authorise with the selectors and permission functions, check the request's
shape with a serializer, call one service from ``projects.services.proposals``, serialize
the result. Views never save a model. Not visible answers 404 (never 403); visible but not
allowed answers 403; a stale version 409; invalid content 422 with field paths.
"""

from __future__ import annotations

import json
import re
from typing import Any

import django_filters
from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
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
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.models import Organisation, Scope
from fundapp.api.filters import IdFilter
from fundapp.api.parsers import MultiPartParser
from fundapp.api.permissions import HasScope, actor_of
from fundapp.errors import NotFound, PayloadTooLarge, PermissionDenied, ValidationFailed
from projects import permissions
from projects.models import (
    Attachment,
    BackgroundIP,
    BudgetLine,
    Call,
    ConsortiumMember,
    Endorsement,
    Proposal,
    ProposalDeliverable,
    ProposalKPI,
    ProposalPerson,
    ProposalStage,
    ProposalState,
)
from projects.selectors.proposals import get_proposal_for_actor, proposals_visible_to
from projects.services import proposals as svc

from .serializers_proposals import (
    AttachmentSerializer,
    AttachmentUploadSerializer,
    EndorseSerializer,
    ProblemSerializer,
    ProposalChangesRequestSerializer,
    ProposalChangesSerializer,
    ProposalCreateSerializer,
    ProposalDetailSerializer,
    ProposalListSerializer,
    ReturnSerializer,
    WithdrawSerializer,
)

READ = Scope.PROPOSALS_READ.value
WRITE = Scope.PROPOSALS_WRITE.value

# A multipart body carries a few hundred bytes around the file; anything this much larger
# than the attachment limit is refused from its Content-Length before a byte is parsed.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

IF_MATCH_RE = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


# --------------------------------------------------------------------------- querysets


def list_queryset(qs: QuerySet[Proposal]) -> QuerySet[Proposal]:
    """Three queries per page whatever its size: count, rows, lead organisations."""
    return qs.select_related("research_area").prefetch_related(
        Prefetch(
            "members",
            queryset=ConsortiumMember.objects.filter(role__in=permissions.LEAD_ROLES)
            .select_related("organisation")
            .order_by("order", "id"),
            to_attr="lead_members",
        )
    )


def detail_prefetch() -> list[Prefetch]:
    return [
        Prefetch("members", queryset=ConsortiumMember.objects.select_related("organisation")),
        Prefetch(
            "people",
            queryset=ProposalPerson.objects.select_related("user", "member__organisation"),
        ),
        Prefetch(
            "stages",
            queryset=ProposalStage.objects.order_by("number").prefetch_related(
                Prefetch("kpis", queryset=ProposalKPI.objects.order_by("id")),
                Prefetch("deliverables", queryset=ProposalDeliverable.objects.order_by("id")),
            ),
        ),
        Prefetch("budget_lines", queryset=BudgetLine.objects.select_related("organisation")),
        Prefetch("background_ip", queryset=BackgroundIP.objects.select_related("owner")),
        Prefetch("attachments", queryset=Attachment.objects.order_by("uploaded_at", "id")),
        Prefetch(
            "endorsements",
            queryset=Endorsement.objects.select_related("organisation").order_by("endorsed_at"),
        ),
    ]


# --------------------------------------------------------------------------- filters


class ProposalFilter(django_filters.FilterSet):
    call = IdFilter(field_name="call_id", help_text="Call id.")
    state = django_filters.ChoiceFilter(choices=ProposalState.choices)
    research_area = django_filters.CharFilter(
        field_name="research_area__code", help_text="Research area code, e.g. semiconductor.ai."
    )

    class Meta:
        model = Proposal
        fields = ["call", "state", "research_area"]


# --------------------------------------------------------------------------- helpers


class PdfRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: application/pdf`` on a download; errors stay JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return json.dumps(data, ensure_ascii=False).encode()


def expected_version(request: Request, body_version: int | None) -> int:
    """The version the change is based on: the body's ``version`` or ``If-Match: "<n>"``."""
    header = request.headers.get("If-Match")
    header_version = None
    if header:
        match = IF_MATCH_RE.match(header)
        if match is None:
            raise serializers.ValidationError(
                {"If-Match": [_('Send the proposal\'s version, e.g. If-Match: "3".')]}
            )
        header_version = int(match.group(1))
    if body_version is not None and header_version is not None and body_version != header_version:
        raise serializers.ValidationError(
            {"version": [_("The version in the body differs from the If-Match header.")]}
        )
    version = body_version if body_version is not None else header_version
    if version is None:
        raise serializers.ValidationError(
            {"version": [_("This field is required (or send the If-Match header).")]}
        )
    return version


def refuse_oversized_body(request: Request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.MAX_ATTACHMENT_BYTES + MULTIPART_OVERHEAD_BYTES:
        message = _("The file is larger than 20 MB.")
        raise PayloadTooLarge(message, errors={"file": [message]})


def etag(proposal: Proposal) -> dict[str, str]:
    return {"ETag": f'"{proposal.version}"'}


# --------------------------------------------------------------------------- documentation

PROBLEM = "application/problem+json"


def problem(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description, examples=list(examples))


NOT_FOUND = problem(
    "Missing or not visible to the caller (the same answer for both).",
    OpenApiExample(
        "Not found",
        value={
            "type": "https://jk-fund.example/problems/not_found",
            "title": "Not found",
            "status": 404,
            "detail": "Not found.",
            "code": "not_found",
        },
        response_only=True,
    ),
)
FORBIDDEN = problem(
    "Visible, but the caller may not do this (or the key lacks the scope).",
    OpenApiExample(
        "Forbidden",
        value={
            "type": "https://jk-fund.example/problems/forbidden",
            "title": "Forbidden",
            "status": 403,
            "detail": "Only the principal investigators may edit this proposal.",
            "code": "forbidden",
        },
        response_only=True,
    ),
)
BAD_REQUEST = problem(
    "Malformed JSON or a wrong top-level type.",
    OpenApiExample(
        "Bad request",
        value={
            "type": "https://jk-fund.example/problems/invalid",
            "title": "Bad request",
            "status": 400,
            "detail": "The request has invalid fields.",
            "code": "invalid",
            "errors": {"stages": ['Expected a list of items but got type "dict".']},
        },
        response_only=True,
    ),
)
CONFLICT = problem(
    "Stale version, or the proposal's state does not allow this.",
    OpenApiExample(
        "Stale version",
        value={
            "type": "https://jk-fund.example/problems/stale_version",
            "title": "Conflict",
            "status": 409,
            "detail": "Someone saved this proposal after you opened it (version 4, yours 3).",
            "code": "stale_version",
            "errors": {"version": ["This version is out of date; the current version is 4."]},
        },
        response_only=True,
    ),
)
UNPROCESSABLE = problem(
    "Field errors, keyed by path.",
    OpenApiExample(
        "Field errors",
        value={
            "type": "https://jk-fund.example/problems/validation_failed",
            "title": "Unprocessable content",
            "status": 422,
            "detail": "The proposal has errors; see the fields.",
            "code": "validation_failed",
            "errors": {
                "stages.0.kpis.1.target": ["The target must differ from the baseline."],
                "budget.0.amount": ["Amounts in yen and won have no fractions."],
            },
        },
        response_only=True,
    ),
)

ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    400: BAD_REQUEST,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: CONFLICT,
    413: problem("Larger than 20 MB."),
    415: problem("Not a PDF (by content, whatever its name)."),
    422: UNPROCESSABLE,
}


def problems(*codes: int) -> dict[Any, OpenApiResponse]:
    """Error responses, documented as application/problem+json."""
    return {(code, PROBLEM): ERROR_RESPONSES[code] for code in codes}


LIST_EXAMPLE = OpenApiExample(
    "A page of proposals",
    value={
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": 42,
                "call": 3,
                "state": "submitted",
                "version": 5,
                "title": "Edge AI accelerators",
                "title_en": "Edge AI accelerators",
                "title_ja": "エッジAIアクセラレータ",
                "title_ko": "엣지 AI 가속기",
                "research_area": "semiconductor.ai",
                "submitted_at": "2025-05-01T03:00:00Z",
                "updated_at": "2025-05-01T03:00:00Z",
                "lead_organisations": ["JP-OSK-01", "KR-SNU-01"],
            }
        ],
    },
    response_only=True,
)

DETAIL_EXAMPLE = OpenApiExample(
    "A proposal",
    value={
        "id": 42,
        "call": 3,
        "state": "draft",
        "version": 5,
        "title": "Edge AI accelerators",
        "title_en": "Edge AI accelerators",
        "title_ja": "エッジAIアクセラレータ",
        "title_ko": "엣지 AI 가속기",
        "research_area": "semiconductor.ai",
        "submitted_at": None,
        "updated_at": "2025-04-20T08:00:00Z",
        "lead_organisations": ["JP-OSK-01", "KR-SNU-01"],
        "abstract": "Low-power inference chips.",
        "abstract_en": "Low-power inference chips.",
        "abstract_ja": "",
        "abstract_ko": "",
        "keywords": ["edge", "ai"],
        "trl_now": 3,
        "trl_target": 6,
        "created_at": "2025-04-01T08:00:00Z",
        "withdrawn_at": None,
        "consortium": {
            "members": [
                {"organisation": "JP-OSK-01", "role": "lead_jp"},
                {"organisation": "KR-SNU-01", "role": "lead_kr"},
            ],
            "people": [
                {
                    "user": 7,
                    "username": "tanaka",
                    "organisation": "JP-OSK-01",
                    "role": "pi",
                    "effort_percent": 30,
                }
            ],
        },
        "stages": [
            {
                "number": 1,
                "title": "Prototype",
                "months": 12,
                "deliverable": "A working prototype",
                "planned_tranche": {"JPY": 40000000, "KRW": 400000000},
                "planned_jpy": 40000000,
                "planned_krw": 400000000,
                "kpis": [
                    {
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
                        "evidence": "document",
                        "means_of_verification": "Test report of an accredited laboratory",
                        "means_of_verification_en": "Test report of an accredited laboratory",
                        "means_of_verification_ja": "",
                        "means_of_verification_ko": "",
                    }
                ],
                "deliverables": [
                    {
                        "title": "Test-chip characterisation report",
                        "title_en": "Test-chip characterisation report",
                        "title_ja": "テストチップ評価報告書",
                        "title_ko": "테스트 칩 특성 평가 보고서",
                        "kind": "report",
                        "due_month": 10,
                        "mandatory": True,
                    }
                ],
            }
        ],
        "budget": [
            {
                "organisation": "JP-OSK-01",
                "category": "personnel",
                "currency": "JPY",
                "amount": 40000000,
            }
        ],
        "ip_plan": {
            "background_ip": [
                {"title": "Sparse compiler", "owner": "JP-OSK-01", "description": ""}
            ],
            "licence_terms": "Non-exclusive research licences.",
        },
        "security": {"dual_use": False, "controlled_categories": [], "notes": ""},
        "attachments": [
            {
                "id": 9,
                "kind": "research_plan",
                "name": "plan.pdf",
                "size": 182044,
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "uploaded_at": "2025-04-20T08:00:00Z",
                "download_url": "https://fund.example/api/v1/proposals/42/attachments/9/",
            }
        ],
        "endorsements": [],
        "eligibility_reasons": [],
    },
    response_only=True,
)

CHANGES_EXAMPLE = OpenApiExample(
    "Save the basics and the stage plan",
    value={
        "version": 4,
        "basics": {"title_en": "Edge AI accelerators", "research_area": "semiconductor.ai"},
        "stages": [
            {
                "title": "Prototype",
                "months": 12,
                "deliverable": "A working prototype",
                "planned_jpy": 40000000,
                "planned_krw": 400000000,
                "kpis": [
                    {
                        "code": "K1",
                        "name_ja": "エネルギー効率",
                        "direction": "higher_is_better",
                        "baseline": "10",
                        "target": "20",
                        "weight": "1",
                        "mandatory": True,
                        "aggregation": "latest",
                        "evidence": "document",
                        "means_of_verification_ja": "認定試験所の試験報告書",
                    }
                ],
            }
        ],
    },
    request_only=True,
)

ATTACHMENT_ID = OpenApiParameter("attachment_id", OpenApiTypes.INT, OpenApiParameter.PATH)


# --------------------------------------------------------------------------- views


def _office_organisation(code: str | None) -> Organisation | None:
    """The organisation an endorsement or a return is given for, by its code (none given:
    the service takes the caller's own); an unknown code is a field error."""
    code = (code or "").strip()
    if not code:
        return None
    organisation = Organisation.objects.filter(code=code).first()
    if organisation is None:
        message = _("Unknown organisation.")
        raise ValidationFailed(message, errors={"organisation": [message]})
    return organisation


@extend_schema_view(
    list=extend_schema(
        summary="List the proposals visible to the caller",
        description="Paginated; filter by call, state and research_area (code).",
        responses={200: ProposalListSerializer(many=True)},
        examples=[LIST_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Read a proposal with all its sections",
        responses={200: ProposalDetailSerializer, **problems(404)},
        examples=[DETAIL_EXAMPLE],
    ),
    create=extend_schema(
        summary="Start a draft in an open call",
        description="The caller's organisation becomes a lead; any sections given are saved "
        "in the same transaction (all or nothing).",
        request=ProposalCreateSerializer,
        responses={
            201: ProposalDetailSerializer,
            **problems(400, 403, 422),
        },
        examples=[
            OpenApiExample(
                "Start a draft",
                value={"call": 3, "basics": {"title_en": "Edge AI accelerators"}},
                request_only=True,
            ),
            DETAIL_EXAMPLE,
        ],
    ),
    partial_update=extend_schema(
        summary="Save sections of a draft",
        description="Each section given replaces that section. `version` must be the current "
        'version: a stale one answers 409 and changes nothing. (An `If-Match: "<version>"` '
        "header is understood as well; sent with the body's `version`, the two must agree.)",
        request=ProposalChangesRequestSerializer,
        responses={
            200: ProposalDetailSerializer,
            **problems(400, 403, 404, 409, 422),
        },
        examples=[CHANGES_EXAMPLE, DETAIL_EXAMPLE],
    ),
)
class ProposalViewSet(GenericViewSet):
    """Proposals of the caller's consortia (researchers, research offices, partner systems)
    and of the whole fund (officers)."""

    queryset = Proposal.objects.none()  # the real one is per actor: get_queryset
    serializer_class = ProposalDetailSerializer
    filterset_class = ProposalFilter
    permission_classes = [IsAuthenticated, HasScope]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "attachment": READ,
        "create": WRITE,
        "partial_update": WRITE,
        "submit": WRITE,
        "withdraw": WRITE,
        "endorse": WRITE,
        "return_to_pis": WRITE,
        "attachments": WRITE,
        "attachment_delete": WRITE,
    }

    def get_queryset(self) -> QuerySet[Proposal]:
        return list_queryset(proposals_visible_to(actor_of(self.request)))

    def get_serializer_class(self):
        return ProposalListSerializer if self.action == "list" else ProposalDetailSerializer

    # -- reading

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        serializer = ProposalListSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        proposal = self._visible(pk)
        prefetch_related_objects([proposal], *detail_prefetch())
        return Response(self._detail_data(proposal), headers=etag(proposal))

    def _visible(self, pk: Any) -> Proposal:
        return get_proposal_for_actor(actor_of(self.request), pk)

    def _detail_data(self, proposal: Proposal) -> dict[str, Any]:
        return ProposalDetailSerializer(proposal, context=self.get_serializer_context()).data

    def _detail_response(self, proposal_id: int, status_code: int = 200, **headers) -> Response:
        # Read back after the service: the actor saw it a moment ago, and the service's
        # change (e.g. a withdrawal) must not turn a successful write into a 404.
        proposal = (
            Proposal.objects.select_related("research_area")
            .prefetch_related(*detail_prefetch())
            .get(pk=proposal_id)
        )
        return Response(
            self._detail_data(proposal), status=status_code, headers={**etag(proposal), **headers}
        )

    # -- writing

    def create(self, request: Request) -> Response:
        actor = actor_of(request)
        body = ProposalCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        call = Call.objects.filter(pk=body.validated_data["call"]).first()
        if call is None:
            message = _("Unknown call.")
            raise ValidationFailed(message, errors={"call": [message]})
        sections = body.sections()
        # One transaction: refused sections leave no half-made draft behind (§17).
        with transaction.atomic():
            proposal = svc.proposal_create(actor=actor, call=call)
            if sections:
                proposal = svc.proposal_update(
                    proposal=proposal,
                    actor=actor,
                    expected_version=proposal.version,
                    changes=sections,
                )
        location = request.build_absolute_uri(reverse("proposal-detail", args=[proposal.pk]))
        return self._detail_response(proposal.pk, status.HTTP_201_CREATED, Location=location)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_of(request)
        proposal = self._visible(pk)
        body = ProposalChangesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = expected_version(request, body.validated_data.get("version"))
        svc.proposal_update(
            proposal=proposal, actor=actor, expected_version=version, changes=body.sections()
        )
        return self._detail_response(proposal.pk)

    @extend_schema(
        summary="Submit a draft",
        description="Checks every eligibility rule by the server's clock; each failed rule is "
        "listed in `errors` (422). After the call's deadline, `errors.call` says so.",
        request=None,
        responses={
            200: ProposalDetailSerializer,
            **problems(403, 404, 409, 422),
        },
        examples=[DETAIL_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        proposal = self._visible(pk)
        svc.proposal_submit(proposal=proposal, actor=actor_of(request))
        return self._detail_response(proposal.pk)

    @extend_schema(
        summary="Withdraw a proposal",
        request=WithdrawSerializer,
        responses={
            200: ProposalDetailSerializer,
            **problems(400, 403, 404, 409),
        },
        examples=[
            OpenApiExample(
                "Withdraw", value={"reason": "The consortium dissolved."}, request_only=True
            ),
            DETAIL_EXAMPLE,
        ],
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        proposal = self._visible(pk)
        body = WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        svc.proposal_withdraw(
            proposal=proposal, actor=actor_of(request), reason=body.validated_data["reason"]
        )
        return self._detail_response(proposal.pk)

    @extend_schema(
        summary="Endorse a submitted proposal for a lead organisation",
        description="By that organisation's research office, or its partner system with "
        "proposals:write. When both leads have endorsed, eligibility is decided.",
        request=EndorseSerializer,
        responses={
            200: ProposalDetailSerializer,
            **problems(400, 403, 404, 409, 422),
        },
        examples=[
            OpenApiExample(
                "Endorse",
                value={"organisation": "KR-SNU-01", "comment": "Approved by the office."},
                request_only=True,
            ),
            DETAIL_EXAMPLE,
        ],
    )
    @action(detail=True, methods=["post"])
    def endorse(self, request: Request, pk: str | None = None) -> Response:
        proposal = self._visible(pk)
        body = EndorseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        svc.proposal_endorse(
            proposal=proposal,
            actor=actor_of(request),
            organisation=_office_organisation(body.validated_data["organisation"]),
            comment=body.validated_data["comment"],
        )
        return self._detail_response(proposal.pk)

    @extend_schema(
        summary="Return a submitted proposal to its principal investigators",
        description="Instead of endorsing, a lead organisation's research office (or its "
        "partner system with proposals:write) sends the submission back with a reason, "
        "before the call closes. The proposal becomes a draft again at a new version, the "
        "endorsements given so far are removed, the PIs are notified with the reason and a "
        "`proposal.returned` event is sent; it is endorsed afresh once resubmitted. Anyone "
        "else who can see the proposal gets 403; anyone who cannot, 404. The response is "
        "the proposal as it now is (a partner system no longer sees a draft it did not "
        "start: a later read answers 404).",
        request=ReturnSerializer,
        responses={
            200: ProposalDetailSerializer,
            **problems(400, 403, 404, 409, 422),
        },
        examples=[
            OpenApiExample(
                "Return",
                value={
                    "organisation": "KR-SNU-01",
                    "reason": "Stage 2's KR budget needs the office's sign-off; please split "
                    "equipment from personnel.",
                },
                request_only=True,
            ),
            DETAIL_EXAMPLE,
        ],
    )
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_to_pis(self, request: Request, pk: str | None = None) -> Response:
        proposal = self._visible(pk)
        body = ReturnSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        svc.proposal_return(
            proposal=proposal,
            actor=actor_of(request),
            organisation=_office_organisation(body.validated_data["organisation"]),
            reason=body.validated_data["reason"],
        )
        return self._detail_response(proposal.pk)

    # -- attachments

    @extend_schema(
        summary="Attach a PDF to a draft",
        description="Multipart with `file` and `kind`. Checked by content (415 if not a PDF) "
        "and size (413 over 20 MB); at most 10 per proposal.",
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={
            201: AttachmentSerializer,
            **problems(400, 403, 404, 413, 415, 422),
        },
        examples=[
            OpenApiExample(
                "Attached",
                value={
                    "id": 9,
                    "kind": "research_plan",
                    "name": "plan.pdf",
                    "size": 182044,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "uploaded_at": "2025-04-20T08:00:00Z",
                    "download_url": "https://fund.example/api/v1/proposals/42/attachments/9/",
                },
                response_only=True,
            )
        ],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="attachments",
        parser_classes=[MultiPartParser],
    )
    def attachments(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_of(request)
        proposal = self._visible(pk)
        # Refuse before the body is parsed: no one may make us store 20 MB they can't attach.
        allowed, reason = permissions.can_edit_proposal(actor, proposal)
        if not allowed:
            raise PermissionDenied(reason)
        refuse_oversized_body(request)
        # Django streams a large upload to a temporary file; the service reads it in chunks.
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": [_("No file was submitted.")]})
        kind = request.data.get("kind") or Attachment.Kind.OTHER
        attachment = svc.attachment_add(proposal=proposal, actor=actor, upload=upload, kind=kind)
        data = AttachmentSerializer(attachment, context=self.get_serializer_context()).data
        return Response(
            data, status=status.HTTP_201_CREATED, headers={"Location": data["download_url"]}
        )

    @extend_schema(
        summary="Download an attachment",
        parameters=[ATTACHMENT_ID],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The PDF, as an attachment."
            ),
            **problems(404),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"attachments/(?P<attachment_id>[^/.]+)",
        url_name="attachment",
        renderer_classes=[JSONRenderer, PdfRenderer],
    )
    def attachment(
        self, request: Request, pk: str | None = None, attachment_id: str | None = None
    ) -> FileResponse:
        proposal = self._visible(pk)
        attachment = svc.get_attachment_for_actor(actor_of(request), proposal, attachment_id)
        try:
            handle = svc.attachment_path(attachment).open("rb")
        except FileNotFoundError:
            raise NotFound() from None
        return FileResponse(
            handle,
            as_attachment=True,
            filename=attachment.original_name,
            content_type="application/pdf",
        )

    @extend_schema(
        summary="Remove an attachment from a draft",
        parameters=[ATTACHMENT_ID],
        request=None,
        responses={204: None, **problems(403, 404)},
    )
    @attachment.mapping.delete
    def attachment_delete(
        self, request: Request, pk: str | None = None, attachment_id: str | None = None
    ) -> Response:
        actor = actor_of(request)
        proposal = self._visible(pk)
        attachment = svc.get_attachment_for_actor(actor, proposal, attachment_id)
        svc.attachment_remove(attachment=attachment, actor=actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


def register(router: DefaultRouter) -> None:
    """Register this module's viewsets on the /api/v1/ router."""
    router.register("proposals", ProposalViewSet, basename="proposal")
