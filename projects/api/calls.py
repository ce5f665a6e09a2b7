"""/api/v1/research-areas/ and /api/v1/calls/ (§4, §14).

Reading needs a signed-in person or an API key (keys need ``proposals:read``); drafts are
visible to fund officers only. Writing (create, edit, open, close, archive) is for fund
officers in the browser session: API keys get 403. Writes go through
``projects.services.calls``, whose refusals come back as problem+json.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from fundapp.accounts.models import Scope
from fundapp.actors import is_fund_officer
from fundapp.api.filters import IdFilter
from fundapp.api.permissions import HasScope, actor_of
from fundapp.errors import ValidationFailed
from fundapp.kernel import registry
from projects.models import Call, CallKind, CallState, Fund, ResearchArea, Sensitivity
from projects.selectors.calls import calls_in_area, calls_list, get_call_for_actor
from projects.services.calls import (
    CallData,
    CriterionData,
    call_archive,
    call_close,
    call_create,
    call_open,
    call_update,
)

# Service field names → where the same value sits in the API's JSON.
SERVICE_TO_API_FIELD = {
    "max_budget_jpy": "max_budget.JPY",
    "max_budget_krw": "max_budget.KRW",
    **{
        name: f"gate_policy.{name}"
        for name in (
            "pass_threshold",
            "conditional_threshold",
            "conditional_floor",
            "bonus_rate",
            "max_multiplier",
            "conditional_rate",
            "max_extensions",
            "max_extension_months",
            "auto_release_on_pass",
        )
    },
}

PROBLEM_EXAMPLE = OpenApiExample(
    "Field errors",
    value={
        "type": "https://jk-fund.example/problems/validation_failed",
        "title": "Unprocessable content",
        "status": 422,
        "detail": "The call has invalid fields.",
        "code": "validation_failed",
        "errors": {"closes_at": ["The call must close after it opens."]},
    },
    response_only=True,
    status_codes=["422"],
)


class IsFundOfficerToWrite(BasePermission):
    """Reads are for anyone the other classes let in; writes only for fund officers."""

    message = gettext_lazy("Only fund officers may change calls.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or is_fund_officer(actor_of(request))


# --- research areas -----------------------------------------------------------------------


class ResearchAreaSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResearchArea
        fields = ["id", "code", "name_en", "name_ja", "name_ko", "sensitivity", "parent"]


class ResearchAreaFilter(django_filters.FilterSet):
    sensitivity = django_filters.ChoiceFilter(choices=Sensitivity.choices)
    parent = IdFilter(field_name="parent_id", help_text="Parent area id.")

    class Meta:
        model = ResearchArea
        fields = ["sensitivity", "parent"]


@extend_schema_view(
    list=extend_schema(
        summary="List research areas",
        description="Hierarchical dotted codes with names in three languages (§4).",
        examples=[
            OpenApiExample(
                "A research area",
                value={
                    "id": 3,
                    "code": "semiconductor.ai.edge",
                    "name_en": "Edge AI chips",
                    "name_ja": "エッジAIチップ",
                    "name_ko": "엣지 AI 칩",
                    "sensitivity": "sensitive",
                    "parent": 2,
                },
                response_only=True,
            )
        ],
    ),
    retrieve=extend_schema(summary="Read one research area"),
)
class ResearchAreaViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ResearchAreaSerializer
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"GET": Scope.PROPOSALS_READ.value}
    filterset_class = ResearchAreaFilter
    queryset = ResearchArea.objects.order_by("code")


# The name the talent exchange registers its calls' terms under (fundapp.kernel.registry).
MOBILITY_TERMS = "mobility"


# --- calls --------------------------------------------------------------------------------


class MaxBudgetSerializer(serializers.Serializer):
    """The call's maximum budget per side, in whole yen and won."""

    JPY = serializers.IntegerField(source="max_budget_jpy", min_value=0)
    KRW = serializers.IntegerField(source="max_budget_krw", min_value=0)


class GatePolicySerializer(serializers.Serializer):
    """How the stage gates of the call's projects are judged (§8). Rates are decimal strings."""

    # Optional when writing: a new call starts from the §4 defaults, a PATCH keeps the rest.
    pass_threshold = serializers.DecimalField(max_digits=6, decimal_places=4, required=False)
    conditional_threshold = serializers.DecimalField(max_digits=6, decimal_places=4, required=False)
    conditional_floor = serializers.DecimalField(max_digits=6, decimal_places=4, required=False)
    bonus_rate = serializers.DecimalField(max_digits=6, decimal_places=4, required=False)
    max_multiplier = serializers.DecimalField(max_digits=6, decimal_places=4, required=False)
    conditional_rate = serializers.DecimalField(max_digits=6, decimal_places=4, required=False)
    max_extensions = serializers.IntegerField(min_value=0, required=False)
    max_extension_months = serializers.IntegerField(min_value=0, required=False)
    auto_release_on_pass = serializers.BooleanField(required=False)


class CriterionSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, help_text="An existing criterion to keep.")
    name_en = serializers.CharField(max_length=200)
    name_ja = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    name_ko = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    weight = serializers.DecimalField(max_digits=6, decimal_places=3)


class SidesSerializer(serializers.Serializer):
    """An amount per side, in whole yen and won."""

    JPY = serializers.IntegerField(read_only=True)
    KRW = serializers.IntegerField(read_only=True)


class MobilityTermsSerializer(serializers.Serializer):
    """A mobility call's terms (§25), as the talent exchange registers them."""

    stipend_month = SidesSerializer(read_only=True, help_text="The monthly stipend per side.")
    travel = SidesSerializer(read_only=True, help_text="The travel lump sum per side.")
    min_months = serializers.IntegerField(read_only=True)
    max_months = serializers.IntegerField(read_only=True)
    eligible_countries = serializers.ListField(child=serializers.CharField(), read_only=True)


class CallListSerializer(serializers.ListSerializer):
    """Asks for the mobility terms of a whole page of calls in one query."""

    def to_representation(self, data: Any) -> list[Any]:
        calls = list(data.all() if isinstance(data, QuerySet) else data)
        self.context[MOBILITY_TERMS] = registry.call_terms_many(
            MOBILITY_TERMS, [call.pk for call in calls if call.kind == CallKind.MOBILITY]
        )
        return super().to_representation(calls)


class CallSerializer(serializers.ModelSerializer):
    research_areas = serializers.SlugRelatedField(
        many=True, slug_field="code", queryset=ResearchArea.objects.all()
    )
    max_budget = MaxBudgetSerializer(source="*")
    # Required by the service (at least one), which says so with its own message.
    criteria = CriterionSerializer(many=True, required=False)
    gate_policy = GatePolicySerializer(source="*", required=False)
    fund = serializers.PrimaryKeyRelatedField(
        queryset=Fund.objects.all(),
        required=False,
        help_text="Set on creation; defaults to the fund when there is only one.",
    )
    mobility_terms = serializers.SerializerMethodField(
        help_text="A mobility call's stipend, travel sums, visit months and eligible "
        "countries (§25); null for a research call."
    )

    class Meta:
        model = Call
        list_serializer_class = CallListSerializer
        fields = [
            "id",
            "fund",
            "kind",
            "title_en",
            "title_ja",
            "title_ko",
            "description_en",
            "description_ja",
            "description_ko",
            "research_areas",
            "opens_at",
            "closes_at",
            "state",
            "max_budget",
            "min_stages",
            "max_stages",
            "max_project_months",
            "criteria",
            "gate_policy",
            "mobility_terms",
        ]
        # §25: research or mobility; a mobility call is made with its terms in the browser.
        read_only_fields = ["id", "state", "kind"]

    @extend_schema_field(MobilityTermsSerializer(allow_null=True))
    def get_mobility_terms(self, call: Call) -> dict[str, Any] | None:
        if call.kind != CallKind.MOBILITY:
            return None
        known = self.context.get(MOBILITY_TERMS)
        if known is None:
            known = registry.call_terms_many(MOBILITY_TERMS, [call.pk])
        return known.get(call.pk)

    def to_call_data(self, base: CallData | None) -> CallData:
        """The validated body as the service's input; on PATCH, laid over the call as it is."""
        values = dict(self.validated_data)
        values.pop("fund", None)
        if "criteria" in values:
            values["criteria"] = [CriterionData(**item) for item in values["criteria"]]
        if base is None:
            return CallData(**values)
        return dataclasses.replace(base, **values)


CALL_EXAMPLE = {
    "id": 7,
    "fund": 1,
    "kind": "research",
    "title_en": "AI semiconductors 2025",
    "title_ja": "AI半導体 2025",
    "title_ko": "AI 반도체 2025",
    "description_en": "Joint research on edge AI accelerators.",
    "description_ja": "",
    "description_ko": "",
    "research_areas": ["semiconductor.ai", "semiconductor.ai.edge"],
    "opens_at": "2025-04-01T00:00:00+09:00",
    "closes_at": "2025-06-30T17:00:00+09:00",
    "state": "open",
    "max_budget": {"JPY": 300000000, "KRW": 2700000000},
    "min_stages": 2,
    "max_stages": 5,
    "max_project_months": 60,
    "criteria": [
        {
            "id": 11,
            "name_en": "Scientific merit",
            "name_ja": "学術的価値",
            "name_ko": "학술적 가치",
            "weight": "2.000",
        }
    ],
    "gate_policy": {
        "pass_threshold": "1.0000",
        "conditional_threshold": "0.8000",
        "conditional_floor": "0.8000",
        "bonus_rate": "0.5000",
        "max_multiplier": "1.2000",
        "conditional_rate": "0.8000",
        "max_extensions": 1,
        "max_extension_months": 6,
        "auto_release_on_pass": True,
    },
    "mobility_terms": None,
}


class CallFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=CallState.choices)
    research_area = django_filters.CharFilter(
        method="filter_research_area",
        label="Research area code; calls in the area or below it (semiconductor.ai).",
    )

    class Meta:
        model = Call
        fields = ["state", "research_area"]

    def filter_research_area(
        self, queryset: QuerySet[Call], name: str, value: str
    ) -> QuerySet[Call]:
        return queryset.filter(calls_in_area(value))


def _api_errors(exc: ValidationFailed) -> ValidationFailed:
    """The service names fields as columns; answer with the API's names for them."""
    exc.errors = {SERVICE_TO_API_FIELD.get(key, key): value for key, value in exc.errors.items()}
    return exc


def _transition_schema(summary: str) -> Any:
    return extend_schema(
        summary=summary,
        request=None,
        responses={
            200: CallSerializer,
            403: OpenApiResponse(description="Not a fund officer, or an API key."),
            404: OpenApiResponse(description="No such call."),
            409: OpenApiResponse(description="The call is not in a state that allows this."),
        },
    )


@extend_schema_view(
    list=extend_schema(
        summary="List calls for proposals",
        description="Published calls (fund officers also see drafts), newest first.",
        examples=[OpenApiExample("A call", value=CALL_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Read one call",
        examples=[OpenApiExample("A call", value=CALL_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Create a draft call (fund officers)",
        examples=[
            OpenApiExample(
                "New call",
                value={k: v for k, v in CALL_EXAMPLE.items() if k not in ("id", "state")}
                | {"criteria": [{"name_en": "Scientific merit", "weight": "2.000"}]},
                request_only=True,
            ),
            PROBLEM_EXAMPLE,
        ],
        responses={
            201: CallSerializer,
            403: OpenApiResponse(description="Not a fund officer."),
            422: None,
        },
    ),
    partial_update=extend_schema(
        summary="Change a call (fund officers)",
        description=(
            "A draft may change in every respect; a published call only in its wording and, "
            "while open, its deadline. `criteria`, when sent, is the whole list: criteria "
            "with an `id` are kept, the others created, unlisted ones removed."
        ),
        examples=[
            OpenApiExample(
                "Move the deadline",
                value={"closes_at": "2025-07-15T17:00:00+09:00"},
                request_only=True,
            ),
            PROBLEM_EXAMPLE,
        ],
    ),
    open=_transition_schema("Open a draft call now (fund officers)"),
    close=_transition_schema("Close an open call now (fund officers)"),
    archive=_transition_schema("Archive a closed call (fund officers)"),
)
class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CallSerializer
    permission_classes = [IsAuthenticated, HasScope, IsFundOfficerToWrite]
    # Keys may read; no scope lets a key write calls (HasScope refuses a method not listed).
    required_scopes = {"GET": Scope.PROPOSALS_READ.value}
    filterset_class = CallFilter
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = Call.objects.none()  # for the schema; get_queryset decides per actor

    def get_queryset(self) -> QuerySet[Call]:
        return calls_list(actor=actor_of(self.request))

    def get_object(self) -> Call:
        call = get_call_for_actor(actor_of(self.request), self.kwargs["pk"])
        self.check_object_permissions(self.request, call)
        return call

    def _respond(self, call: Call, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = get_call_for_actor(actor_of(self.request), call.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CallSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        fund = serializer.validated_data.get("fund") or self._only_fund()
        try:
            call = call_create(
                actor=actor_of(request), fund=fund, data=serializer.to_call_data(None)
            )
        except ValidationFailed as exc:
            raise _api_errors(exc) from None
        return self._respond(call, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        call = self.get_object()
        serializer = CallSerializer(
            call, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        fund = serializer.validated_data.get("fund")
        if fund is not None and fund.pk != call.fund_id:
            raise ValidationFailed(
                _("The request has invalid fields."),
                errors={"fund": [_("A call cannot move to another fund.")]},
            )
        data = serializer.to_call_data(CallData.from_call(call))
        try:
            call = call_update(actor=actor_of(request), call=call, data=data)
        except ValidationFailed as exc:
            raise _api_errors(exc) from None
        return self._respond(call)

    @staticmethod
    def _only_fund() -> Fund:
        funds = list(Fund.objects.order_by("id")[:2])
        if len(funds) != 1:
            raise ValidationFailed(
                _("The request has invalid fields."),
                errors={"fund": [_("Name the fund of the call.")]},
            )
        return funds[0]

    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(call_open(actor=actor_of(request), call=self.get_object()))

    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(call_close(actor=actor_of(request), call=self.get_object()))

    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(call_archive(actor=actor_of(request), call=self.get_object()))


def register(router: DefaultRouter) -> None:
    """Register this module's viewsets on the /api/v1/ router."""
    router.register("research-areas", ResearchAreaViewSet, basename="research-area")
    router.register("calls", CallViewSet, basename="call")
