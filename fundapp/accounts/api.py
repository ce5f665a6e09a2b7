"""Organisations over the API (§3, §14, §21).

Organisations are not secret: any signed-in person or API key may read them. Only fund
officers write them, through the services; API keys never write.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from fundapp.api.permissions import actor_of

from .models import Organisation, Side
from .permissions import can_manage_organisations
from .services import ORGANISATION_MUTABLE_FIELDS, organisation_create, organisation_update

# A problem+json body (RFC 9457), as every error of the API answers (§21).
ProblemSerializer = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.URLField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), required=False
        ),
    },
)

ORGANISATION_EXAMPLE = {
    "id": 7,
    "code": "JP-OSK-01",
    "name_en": "Osaka Institute of Photonics",
    "name_ja": "大阪フォトニクス研究所",
    "name_ko": "오사카 포토닉스 연구소",
    "country": "JP",
    "kind": "institute",
    "side": "JP",
}

PROBLEM_EXAMPLES = {
    "invalid": OpenApiExample(
        "Invalid fields",
        value={
            "type": "https://jk-fund.example/problems/invalid",
            "title": "Bad request",
            "status": 400,
            "detail": "The request has invalid fields.",
            "code": "invalid",
            "errors": {"country": ["Use an ISO 3166-1 alpha-2 code."]},
        },
        response_only=True,
        status_codes=["400"],
    ),
    "not_found": OpenApiExample(
        "Unknown organisation",
        value={
            "type": "https://jk-fund.example/problems/not_found",
            "title": "Not found",
            "status": 404,
            "detail": "No Organisation matches the given query.",
            "code": "not_found",
        },
        response_only=True,
        status_codes=["404"],
    ),
}


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "code", "name_en", "name_ja", "name_ko", "country", "kind", "side"]
        read_only_fields = fields


class OrganisationCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["code", "name_en", "name_ja", "name_ko", "country", "kind"]
        extra_kwargs = {"name_ja": {"required": False}, "name_ko": {"required": False}}

    def to_internal_value(self, data):
        # Country codes are upper-case by definition; accept "jp" as "JP".
        if isinstance(data, dict) and isinstance(data.get("country"), str):
            data = {**data, "country": data["country"].strip().upper()}
        return super().to_internal_value(data)


class OrganisationUpdateSerializer(OrganisationCreateSerializer):
    """PATCH body: any of the names, country and kind. The code is a published identifier."""

    class Meta(OrganisationCreateSerializer.Meta):
        fields = list(ORGANISATION_MUTABLE_FIELDS)

    def validate(self, attrs):
        code = self.initial_data.get("code") if isinstance(self.initial_data, dict) else None
        if code is not None and self.instance is not None and code != self.instance.code:
            raise serializers.ValidationError(
                {"code": [_("The code of an organisation cannot be changed.")]}
            )
        return attrs


class OrganisationFilter(django_filters.FilterSet):
    country = django_filters.CharFilter(
        method="filter_country", help_text=_("ISO 3166-1 alpha-2 code, e.g. JP")
    )
    side = django_filters.ChoiceFilter(choices=Side.choices)
    kind = django_filters.ChoiceFilter(choices=Organisation.Kind.choices)

    class Meta:
        model = Organisation
        fields = ["country", "side", "kind"]

    def filter_country(self, queryset: QuerySet[Organisation], name: str, value: str):
        return queryset.filter(country=value.strip().upper())


class OrganisationAccess(BasePermission):
    """Reading: anyone authenticated. Writing: fund officers; API keys never (403)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return can_manage_organisations(actor_of(request))


ID_OR_CODE = OpenApiParameter(
    "id_or_code",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The organisation's integer id or its unique code, e.g. JP-OSK-01.",
    examples=[
        OpenApiExample("By id", value="7"),
        OpenApiExample("By code", value="JP-OSK-01"),
    ],
)


@extend_schema_view(
    list=extend_schema(
        summary="List organisations",
        description="Paginated, ordered by code; filter by country, side and kind.",
        examples=[
            OpenApiExample(
                "A page",
                value={
                    "count": 1,
                    "next": None,
                    "previous": None,
                    "results": [ORGANISATION_EXAMPLE],
                },
                response_only=True,
            )
        ],
        responses={200: OrganisationSerializer(many=True), 400: ProblemSerializer},
    ),
    retrieve=extend_schema(
        summary="Get one organisation by id or code",
        parameters=[ID_OR_CODE],
        responses={
            200: OpenApiResponse(
                OrganisationSerializer,
                examples=[OpenApiExample("Organisation", value=ORGANISATION_EXAMPLE)],
            ),
            404: OpenApiResponse(ProblemSerializer, examples=[PROBLEM_EXAMPLES["not_found"]]),
        },
    ),
    create=extend_schema(
        summary="Create an organisation (fund officers)",
        description="The side follows the country: JP, KR, or OTHER. API keys may not write.",
        request=OrganisationCreateSerializer,
        examples=[
            OpenApiExample(
                "New organisation",
                value={k: v for k, v in ORGANISATION_EXAMPLE.items() if k not in ("id", "side")},
                request_only=True,
            ),
            OpenApiExample("Created", value=ORGANISATION_EXAMPLE, response_only=True),
            PROBLEM_EXAMPLES["invalid"],
        ],
        responses={
            201: OrganisationSerializer,
            400: ProblemSerializer,
            403: ProblemSerializer,
            422: ProblemSerializer,
        },
    ),
    partial_update=extend_schema(
        summary="Change an organisation (fund officers)",
        description="Names, country and kind may change; the code may not.",
        parameters=[ID_OR_CODE],
        request=OrganisationUpdateSerializer,
        examples=[
            OpenApiExample(
                "Rename", value={"name_en": "Osaka Photonics Institute"}, request_only=True
            ),
            PROBLEM_EXAMPLES["invalid"],
            PROBLEM_EXAMPLES["not_found"],
        ],
        responses={
            200: OrganisationSerializer,
            400: ProblemSerializer,
            403: ProblemSerializer,
            404: ProblemSerializer,
            422: ProblemSerializer,
        },
    ),
)
class OrganisationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Organisation.objects.order_by("code")
    serializer_class = OrganisationSerializer
    permission_classes = [OrganisationAccess]
    filterset_class = OrganisationFilter
    lookup_url_kwarg = "id_or_code"
    lookup_value_regex = "[A-Za-z0-9-]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action == "create":
            return OrganisationCreateSerializer
        if self.action == "partial_update":
            return OrganisationUpdateSerializer
        return OrganisationSerializer

    def get_object(self) -> Organisation:
        """By integer id or by code (§21); an all-digit value is an id first, then a code."""
        value = str(self.kwargs[self.lookup_url_kwarg])
        queryset = self.get_queryset()
        if value.isdigit():
            candidates = list(queryset.filter(Q(pk=int(value)) | Q(code=value))[:2])
            org = next((o for o in candidates if o.pk == int(value)), None) or next(
                iter(candidates), None
            )
        else:
            org = queryset.filter(code=value.upper()).first()
        if org is None:
            raise Http404(_("No organisation has this id or code."))
        self.check_object_permissions(self.request, org)
        return org

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = organisation_create(actor=actor_of(request), **serializer.validated_data)
        return Response(OrganisationSerializer(org).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        org = self.get_object()
        serializer = self.get_serializer(org, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        org = organisation_update(
            organisation=org, actor=actor_of(request), changes=serializer.validated_data
        )
        return Response(OrganisationSerializer(org).data)


def register(router: DefaultRouter) -> None:
    """Register this app's viewsets on the /api/v1/ router."""
    router.register("organisations", OrganisationViewSet, basename="organisation")
