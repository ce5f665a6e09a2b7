"""/api/v1/duplicate-flags/ (§22): duplicate-funding flags for the fund's officers.

Fund officers (and administrators) list, read and resolve flags in their browser session.
API keys get 403: a flag names another consortium's proposal, and no partner scope covers
the fund's own research-integrity checks (``required_scopes`` is empty). Anyone else signed
in gets 403 on the list and 404 on a flag (no existence leak, §2).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
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
from projects.models import DuplicateFlagState, DuplicateFundingFlag, DuplicateResolution
from projects.permissions import can_see_duplicate_flags
from projects.selectors.duplicates import (
    duplicate_flags_visible_to,
    get_duplicate_flag_for_actor,
)
from projects.services.duplicates import MAX_NOTE_LENGTH, duplicate_flag_resolve

PROBLEM = "application/problem+json"

FLAG_EXAMPLE = {
    "id": 4,
    "proposal": 57,
    "matched_proposal": 12,
    "matched_project": 9,
    "identifiers": [
        {"kind": "erad", "value": "60012345", "person": 31, "matched_person": 31},
    ],
    "similarity": {"title_ja": "0.613", "abstract_en": "0.287"},
    "best_similarity": "0.613",
    "raised_at": "2026-05-01T01:00:00Z",
    "raised_during": "submission",
    "state": "open",
    "resolution": "",
    "resolution_note": "",
    "resolved_by": None,
    "resolved_at": None,
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
            "errors": {"resolution": ['"maybe" is not a valid choice.']},
        },
    ),
    (403, PROBLEM): problem("Not a fund officer (or an API key)."),
    (404, PROBLEM): problem("No such flag, or not visible to the caller."),
    (409, PROBLEM): problem(
        "The flag is already resolved.",
        {
            "type": "https://jk-fund.example/problems/conflict",
            "title": "Conflict",
            "status": 409,
            "detail": "This flag has already been resolved.",
            "code": "invalid_state",
        },
    ),
    (422, PROBLEM): problem(
        "Missing reason.",
        {
            "type": "https://jk-fund.example/problems/validation_failed",
            "title": "Unprocessable content",
            "status": 422,
            "detail": "The resolution has errors; see the fields.",
            "code": "validation_failed",
            "errors": {"note": ["This field is required."]},
        },
    ),
}


def errors(*codes: int) -> dict[Any, OpenApiResponse]:
    return {key: value for key, value in ERRORS.items() if key[0] in codes}


class IdentifierSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["erad", "kr_researcher_number", "orcid"])
    value = serializers.CharField()
    person = serializers.IntegerField(help_text="The person on this proposal (user id).")
    matched_person = serializers.IntegerField(
        help_text="The person on the matched proposal (user id; another account of the same "
        "person when it differs)."
    )


class DuplicateFlagSerializer(serializers.ModelSerializer):
    identifiers = serializers.SerializerMethodField()
    similarity = serializers.SerializerMethodField()
    best_similarity = serializers.DecimalField(max_digits=4, decimal_places=3, read_only=True)

    class Meta:
        model = DuplicateFundingFlag
        fields = [
            "id",
            "proposal",
            "matched_proposal",
            "matched_project",
            "identifiers",
            "similarity",
            "best_similarity",
            "raised_at",
            "raised_during",
            "state",
            "resolution",
            "resolution_note",
            "resolved_by",
            "resolved_at",
        ]
        read_only_fields = fields

    @extend_schema_field(IdentifierSerializer(many=True))
    def get_identifiers(self, flag: DuplicateFundingFlag) -> list[dict[str, Any]]:
        return list(flag.identifiers)

    @extend_schema_field(
        {
            "type": "object",
            "description": "pg_trgm similarity of each title and abstract field given on "
            "both sides (title_en, title_ja, title_ko, abstract_en, abstract_ja, abstract_ko), "
            "as a decimal string.",
            "additionalProperties": {"type": "string", "pattern": r"^\d\.\d{3}$"},
        }
    )
    def get_similarity(self, flag: DuplicateFundingFlag) -> dict[str, str]:
        return dict(flag.similarity)


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(choices=DuplicateResolution.choices)
    note = serializers.CharField(
        max_length=MAX_NOTE_LENGTH, allow_blank=True, help_text="Required: why."
    )


class DuplicateFlagFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=DuplicateFlagState.choices)
    proposal = IdFilter(help_text="The flagged proposal's id.")

    class Meta:
        model = DuplicateFundingFlag
        fields = ["state", "proposal"]


@extend_schema_view(
    list=extend_schema(
        summary="List duplicate-funding flags (fund officers)",
        description="Newest first; filter by state and proposal.",
        examples=[
            OpenApiExample(
                "A page",
                value={"count": 1, "next": None, "previous": None, "results": [FLAG_EXAMPLE]},
                response_only=True,
            )
        ],
        responses={200: DuplicateFlagSerializer(many=True), **errors(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read one duplicate-funding flag",
        responses={
            200: OpenApiResponse(
                DuplicateFlagSerializer,
                examples=[OpenApiExample("Open flag", value=FLAG_EXAMPLE)],
            ),
            **errors(403, 404),
        },
    ),
)
class DuplicateFlagViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = DuplicateFundingFlag.objects.none()  # per actor: get_queryset
    serializer_class = DuplicateFlagSerializer
    filterset_class = DuplicateFlagFilter
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes: dict[str, str] = {}  # no partner scope reaches these flags

    def get_queryset(self) -> QuerySet[DuplicateFundingFlag]:
        return duplicate_flags_visible_to(actor_of(self.request))

    def list(self, request: Request, *args, **kwargs) -> Response:
        if not can_see_duplicate_flags(actor_of(request)):
            raise PermissionDenied(_("Only fund officers may read duplicate-funding flags."))
        return super().list(request, *args, **kwargs)

    def get_object(self) -> DuplicateFundingFlag:
        return get_duplicate_flag_for_actor(actor_of(self.request), self.kwargs["pk"])

    @extend_schema(
        summary="Resolve a flag (fund officers)",
        description="Only an open flag can be resolved, once; a reason is always required. "
        "While a proposal has an open flag, or one resolved as refuse, its award cannot "
        "complete. The resolution is audited.",
        request=ResolveSerializer,
        examples=[
            OpenApiExample(
                "Not a duplicate",
                value={
                    "resolution": "not_duplicate",
                    "note": "A different cell chemistry; the PI's effort is within bounds.",
                },
                request_only=True,
            ),
        ],
        responses={200: DuplicateFlagSerializer, **errors(400, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        flag = self.get_object()
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        flag = duplicate_flag_resolve(
            flag=flag,
            actor=actor_of(request),
            resolution=body.validated_data["resolution"],
            note=body.validated_data["note"],
        )
        return Response(DuplicateFlagSerializer(flag).data)


def register(router: DefaultRouter) -> None:
    router.register("duplicate-flags", DuplicateFlagViewSet, basename="duplicate-flag")
