"""/api/v1/screening-cases/ (§11, §14).

Screening officers and fund officers read cases; screening officers (and admins) decide
them. API keys get 403: no partner scope covers research-security screening. Anyone else
signed in gets 403 on the list and 404 on a case (no existence leak, §2).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from fundapp.accounts.api import ProblemSerializer
from fundapp.api.filters import IdFilter
from fundapp.api.permissions import HasScope, actor_of
from fundapp.errors import PermissionDenied

from .models import ScreeningCase, ScreeningState
from .permissions import can_read_screening_cases
from .reasons import reason_label
from .selectors import get_case_for_actor, screening_cases_visible_to
from .services import MAX_REASON_LENGTH, screening_case_decide

PROBLEM = "application/problem+json"

CASE_EXAMPLE = {
    "id": 12,
    "subject_type": "proposal",
    "subject_id": 345,
    "subject_label": "Edge AI accelerator for low-power vision",
    "subject_url": "/proposals/345/",
    "state": "open",
    "reasons": [
        {"code": "controlled_area", "label": "Research area is controlled", "detail": ""},
        {
            "code": "restricted_party_match",
            "label": "Restricted-party list match",
            "detail": "Toyo Denshi Co., Ltd. ↔ 東洋電子株式会社 (METI end-user list)",
        },
    ],
    "matches": [
        {
            "party_id": 88,
            "party_name": "東洋電子株式会社",
            "party_country": "JP",
            "party_source": "METI end-user list",
            "matched_name": "Toyo Denshi Co., Ltd.",
            "normalized": "toyo denshi",
            "organisation": 7,
            "organisation_name": "Toyo Denshi Co., Ltd.",
        }
    ],
    "opened_at": "2026-04-01T02:00:00Z",
    "decided_by": None,
    "decided_at": None,
    "decision_reason": "",
    "previous": None,
}


def problem(description: str, example: dict[str, Any] | None = None) -> OpenApiResponse:
    examples = [OpenApiExample(description, value=example, response_only=True)] if example else None
    return OpenApiResponse(ProblemSerializer, description=description, examples=examples)


ERRORS = {
    (400, PROBLEM): problem(
        "Malformed body.",
        {
            "type": "https://jk-fund.example/problems/invalid",
            "title": "Bad request",
            "status": 400,
            "detail": "The request has invalid fields.",
            "code": "invalid",
            "errors": {"decision": ['"approve" is not a valid choice.']},
        },
    ),
    (403, PROBLEM): problem("Not a screening officer (or an API key)."),
    (404, PROBLEM): problem("No such case, or not visible to the caller."),
    (409, PROBLEM): problem(
        "The case is already decided; a blocked case is final.",
        {
            "type": "https://jk-fund.example/problems/conflict",
            "title": "Conflict",
            "status": 409,
            "detail": "This case is blocked for good; the decision is final.",
            "code": "conflict",
        },
    ),
    (422, PROBLEM): problem(
        "Missing reason.",
        {
            "type": "https://jk-fund.example/problems/validation_failed",
            "title": "Unprocessable content",
            "status": 422,
            "detail": "The decision has invalid fields.",
            "code": "validation_failed",
            "errors": {"reason": ["State why the restricted-party match is a false positive."]},
        },
    ),
}


def errors(*codes: int) -> dict[Any, OpenApiResponse]:
    return {key: value for key, value in ERRORS.items() if key[0] in codes}


ReasonSerializer = inline_serializer(
    name="ScreeningReason",
    fields={
        "code": serializers.CharField(),
        "label": serializers.CharField(help_text="The code's label in the request's language."),
        "detail": serializers.CharField(allow_blank=True),
    },
)


class MatchSerializer(serializers.Serializer):
    party_id = serializers.IntegerField()
    party_name = serializers.CharField()
    party_country = serializers.CharField()
    party_source = serializers.CharField()
    matched_name = serializers.CharField(help_text="The organisation's name or alias that matched.")
    normalized = serializers.CharField(help_text="The normalized form both names share.")
    organisation = serializers.IntegerField(help_text="The organisation's id.")
    organisation_name = serializers.CharField()


class ScreeningCaseSerializer(serializers.ModelSerializer):
    reasons = serializers.SerializerMethodField()
    matches = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = ScreeningCase
        fields = [
            "id",
            "subject_type",
            "subject_id",
            "subject_label",
            "subject_url",
            "state",
            "reasons",
            "matches",
            "opened_at",
            "decided_by",
            "decided_at",
            "decision_reason",
            "previous",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=ReasonSerializer))
    def get_reasons(self, case: ScreeningCase) -> list[dict[str, str]]:
        return [
            {
                "code": r.get("code", ""),
                "label": reason_label(r.get("code", "")),
                "detail": r.get("detail", ""),
            }
            for r in case.reasons
        ]

    @extend_schema_field(MatchSerializer(many=True))
    def get_matches(self, case: ScreeningCase) -> list[dict[str, Any]]:
        return list(case.matches)

    @extend_schema_field(OpenApiTypes.STR)
    def get_decided_by(self, case: ScreeningCase) -> str | None:
        return str(case.decided_by) if case.decided_by_id else None


class ScreeningDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["clear", "block"])
    reason = serializers.CharField(
        max_length=MAX_REASON_LENGTH,
        allow_blank=True,
        help_text="Required. To clear a case with matches, why each match is a false positive.",
    )


class ScreeningCaseFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ScreeningState.choices)
    subject_type = django_filters.CharFilter()
    subject_id = IdFilter(help_text="The subject's id.")

    class Meta:
        model = ScreeningCase
        fields = ["state", "subject_type", "subject_id"]


@extend_schema_view(
    list=extend_schema(
        summary="List screening cases (screening and fund officers)",
        description="Newest first; filter by state, subject_type and subject_id.",
        examples=[
            OpenApiExample(
                "A page",
                value={"count": 1, "next": None, "previous": None, "results": [CASE_EXAMPLE]},
                response_only=True,
            )
        ],
        responses={200: ScreeningCaseSerializer(many=True), **errors(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read one screening case",
        responses={
            200: OpenApiResponse(
                ScreeningCaseSerializer,
                examples=[OpenApiExample("Open case", value=CASE_EXAMPLE)],
            ),
            **errors(403, 404),
        },
    ),
)
class ScreeningCaseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = ScreeningCase.objects.none()  # per actor: get_queryset
    serializer_class = ScreeningCaseSerializer
    filterset_class = ScreeningCaseFilter
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes: dict[str, str] = {}  # no key scope reaches screening (§14)

    def get_queryset(self) -> QuerySet[ScreeningCase]:
        return screening_cases_visible_to(actor_of(self.request))

    def list(self, request: Request, *args, **kwargs) -> Response:
        if not can_read_screening_cases(actor_of(request)):
            raise PermissionDenied(_("Only screening and fund officers may read screening cases."))
        return super().list(request, *args, **kwargs)

    def get_object(self) -> ScreeningCase:
        return get_case_for_actor(actor_of(self.request), self.kwargs["pk"])

    @extend_schema(
        summary="Clear or block a case (screening officers)",
        description="Only an open case can be decided; a reason is always required. "
        "Blocking is final. The decision is audited.",
        request=ScreeningDecisionSerializer,
        examples=[
            OpenApiExample(
                "Clear a false positive",
                value={
                    "decision": "clear",
                    "reason": "Different company: the listed party is in Osaka, ours in Sendai.",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Block",
                value={"decision": "block", "reason": "Listed end user of concern."},
                request_only=True,
            ),
        ],
        responses={200: ScreeningCaseSerializer, **errors(400, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        body = ScreeningDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        case = screening_case_decide(
            case=case,
            actor=actor_of(request),
            decision=body.validated_data["decision"],
            reason=body.validated_data["reason"],
        )
        case = ScreeningCase.objects.select_related("decided_by").get(pk=case.pk)
        return Response(ScreeningCaseSerializer(case).data)


def register(router: DefaultRouter) -> None:
    """Register this app's viewsets on the /api/v1/ router."""
    router.register("screening-cases", ScreeningCaseViewSet, basename="screening-case")
