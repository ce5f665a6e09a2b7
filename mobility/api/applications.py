"""Visit applications over the REST API (§14, §25): ``/api/v1/visit-applications/``.

Thin views, as the proposals' (``projects.api.proposals``): authorise with
``applications_visible_to`` / ``get_application_for_actor``, check the request's shape
with a serializer, call one service of ``mobility.services``, serialize the result read
back. Not visible answers 404 (never 403); visible but not allowed answers 403; a stale
version 409; invalid content 422 with field paths.

Keys: ``proposals:read`` reads, ``proposals:write`` writes. The visitor's home
organisation's key writes, submits and withdraws; the host organisation's key endorses and
returns. Award decisions are fund officers' (browser sessions), under the two-person rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.models import Scope
from fundapp.api.approvals import (
    DECISION_BLOCK_EXAMPLE,
    DeclineSerializer,
    TwoPersonDecisionSerializer,
)
from fundapp.api.filters import IdFilter
from fundapp.api.permissions import HasScope, actor_of
from fundapp.errors import Conflict, ValidationFailed
from fundapp.kernel.approvals import DecisionState
from mobility.models import (
    ApplicationState,
    Visit,
    VisitApplication,
    VisitAwardDecision,
)
from mobility.permissions import applications_visible_to, get_application_for_actor
from mobility.services.applications import (
    TEXT_FIELDS,
    application_create,
    application_submit,
    application_update,
    application_withdraw,
)
from mobility.services.awards import (
    visit_award_approve,
    visit_award_decline,
    visit_award_withdraw,
)
from mobility.services.endorsements import application_endorse, application_return
from projects.api.engine import example, page, problems
from projects.api.proposals import expected_version
from projects.api.serializers_proposals import StrictSerializer
from projects.models import AwardOutcome, Call

READ = Scope.PROPOSALS_READ.value
WRITE = Scope.PROPOSALS_WRITE.value
MAX_ID = 2**31 - 1

APPLICATION_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The visit application's id."
)

# The API's words for the two outcomes, and the service's.
API_OUTCOMES = {"awarded": AwardOutcome.AWARD.value, "rejected": AwardOutcome.REJECT.value}
OUTCOME_WORDS = {value: word for word, value in API_OUTCOMES.items()}


# --------------------------------------------------------------------------- querysets


def live_decisions() -> Prefetch:
    """The pending or completed award decision of each application (at most one)."""
    return Prefetch(
        "award_decisions",
        queryset=VisitAwardDecision.objects.filter(
            state__in=(DecisionState.PENDING, DecisionState.COMPLETED)
        ).order_by("-first_at", "-id"),
        to_attr="live_decisions",
    )


def application_queryset(
    qs: QuerySet[VisitApplication] | None = None,
) -> QuerySet[VisitApplication]:
    """Rows, research areas, the visit (one join) and the live decisions (one query): the
    same number of queries for a page of any size."""
    rows = VisitApplication.objects.all() if qs is None else qs
    return rows.select_related("research_area", "visit").prefetch_related(live_decisions())


class VisitApplicationFilter(django_filters.FilterSet):
    call = IdFilter(field_name="call_id", help_text="Call id.")
    state = django_filters.ChoiceFilter(choices=ApplicationState.choices)

    class Meta:
        model = VisitApplication
        fields = ["call", "state"]


# --------------------------------------------------------------------------- serializers


class VisitAwardDecisionSerializer(serializers.ModelSerializer):
    """The live award decision of an application, with the two-person block."""

    outcome = serializers.SerializerMethodField(help_text="awarded or rejected")
    two_person = TwoPersonDecisionSerializer(source="*", read_only=True)

    class Meta:
        model = VisitAwardDecision
        fields = ["id", "outcome", "reason", "two_person"]

    @extend_schema_field(serializers.ChoiceField(choices=sorted(API_OUTCOMES)))
    def get_outcome(self, obj: VisitAwardDecision) -> str:
        return OUTCOME_WORDS.get(obj.outcome, obj.outcome)


class VisitApplicationSerializer(serializers.ModelSerializer):
    """An application as its readers see it; reads from ``application_queryset``'s caches."""

    call = serializers.IntegerField(source="call_id", read_only=True)
    visitor = serializers.IntegerField(source="visitor_id", read_only=True)
    home_organisation = serializers.IntegerField(source="home_organisation_id", read_only=True)
    host_organisation = serializers.IntegerField(source="host_organisation_id", read_only=True)
    research_area = serializers.CharField(
        source="research_area.code", read_only=True, allow_null=True, default=None
    )
    host_supervisor = serializers.IntegerField(
        source="host_supervisor_id", read_only=True, allow_null=True
    )
    title = serializers.CharField(read_only=True)
    award_decision = serializers.SerializerMethodField()
    visit = serializers.SerializerMethodField()

    class Meta:
        model = VisitApplication
        fields = [
            "id",
            "call",
            "state",
            "version",
            "visitor",
            "home_organisation",
            "host_organisation",
            "research_area",
            "planned_start",
            "months",
            "title",
            "title_en",
            "title_ja",
            "title_ko",
            "plan_en",
            "plan_ja",
            "plan_ko",
            "host_supervisor_name",
            "host_supervisor_email",
            "host_supervisor",
            "effort_percent",
            "researcher_number",
            "created_at",
            "updated_at",
            "submitted_at",
            "withdrawn_at",
            "endorsed_at",
            "endorsement_comment",
            "award_decision",
            "visit",
        ]
        read_only_fields = fields

    @extend_schema_field(VisitAwardDecisionSerializer(allow_null=True))
    def get_award_decision(self, obj: VisitApplication) -> dict[str, Any] | None:
        decisions = getattr(obj, "live_decisions", None)
        if decisions is None:
            decisions = list(
                obj.award_decisions.filter(
                    state__in=(DecisionState.PENDING, DecisionState.COMPLETED)
                )
            )
        if not decisions:
            return None
        return VisitAwardDecisionSerializer(decisions[0]).data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_visit(self, obj: VisitApplication) -> int | None:
        try:
            visit = obj.visit
        except Visit.DoesNotExist:
            return None
        return visit.pk


class VisitApplicationFieldsSerializer(StrictSerializer):
    """The wizard's fields; each one given is saved, the others are left as they are. The
    service checks the content (field errors, 422)."""

    visitor = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text=gettext_lazy(
            "Partner systems: the visitor's user id. A researcher applies for themselves."
        ),
    )
    home_organisation = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    host_organisation = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    research_area = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=100,
        help_text=gettext_lazy("The code of one of the call's research areas."),
    )
    planned_start = serializers.DateField(required=False, allow_null=True)
    months = serializers.IntegerField(min_value=1, max_value=12, required=False, allow_null=True)
    title_en = serializers.CharField(required=False, allow_blank=True, max_length=300)
    title_ja = serializers.CharField(required=False, allow_blank=True, max_length=300)
    title_ko = serializers.CharField(required=False, allow_blank=True, max_length=300)
    plan_en = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    plan_ja = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    plan_ko = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    host_supervisor_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    host_supervisor_email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    host_supervisor = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True
    )
    effort_percent = serializers.IntegerField(
        min_value=1, max_value=100, required=False, allow_null=True
    )
    researcher_number = serializers.CharField(required=False, allow_blank=True, max_length=16)

    def service_data(self) -> dict[str, Any]:
        """The fields given, as the service takes them (dates as ISO strings)."""
        data: dict[str, Any] = {}
        for name, value in self.validated_data.items():
            if name in ("call", "version"):
                continue
            data[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return data


assert set(TEXT_FIELDS) <= set(VisitApplicationFieldsSerializer._declared_fields)


class VisitApplicationCreateSerializer(VisitApplicationFieldsSerializer):
    call = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text=gettext_lazy("The mobility call's id.")
    )


class VisitApplicationChangesSerializer(VisitApplicationFieldsSerializer):
    always_required = ("version",)

    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text=gettext_lazy(
            'The version the change is based on (If-Match: "<version>" may carry it as '
            "well); a stale one answers 409."
        ),
    )


class VisitApplicationWithdrawSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class VisitApplicationReturnSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=4000,
        help_text=gettext_lazy("Why the office returns the application; the visitor sees it."),
    )


class VisitApplicationEndorseSerializer(StrictSerializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class VisitAwardApproveSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=sorted(API_OUTCOMES))
    reason = serializers.CharField(max_length=4000)

    def validate_outcome(self, value: str) -> str:
        """The API's word (awarded, rejected) as the service takes it."""
        return API_OUTCOMES[value]


# --------------------------------------------------------------------------- documentation

APPLICATION_EXAMPLE: dict[str, Any] = {
    "id": 12,
    "call": 7,
    "state": "under_review",
    "version": 3,
    "visitor": 31,
    "home_organisation": 4,
    "host_organisation": 8,
    "research_area": "quantum.communication",
    "planned_start": "2026-04-01",
    "months": 6,
    "title": "Cryogenic probe measurements",
    "title_en": "Cryogenic probe measurements",
    "title_ja": "極低温プローブ測定",
    "title_ko": "",
    "plan_en": "Joint measurements on the host's probe station.",
    "plan_ja": "",
    "plan_ko": "",
    "host_supervisor_name": "Kim Host",
    "host_supervisor_email": "kim@example.org",
    "host_supervisor": None,
    "effort_percent": 80,
    "researcher_number": "",
    "created_at": "2026-01-10T01:00:00Z",
    "updated_at": "2026-01-20T01:00:00Z",
    "submitted_at": "2026-01-20T01:00:00Z",
    "withdrawn_at": None,
    "endorsed_at": "2026-01-22T05:00:00Z",
    "endorsement_comment": "The lab hosts the visitor.",
    "award_decision": {
        "id": 3,
        "outcome": "awarded",
        "reason": "Strong plan",
        "two_person": DECISION_BLOCK_EXAMPLE,
    },
    "visit": None,
}
DRAFT_EXAMPLE: dict[str, Any] = {
    **APPLICATION_EXAMPLE,
    "state": "draft",
    "version": 1,
    "submitted_at": None,
    "endorsed_at": None,
    "endorsement_comment": "",
    "award_decision": None,
}
FIELDS_EXAMPLE: dict[str, Any] = {
    "research_area": "quantum.communication",
    "planned_start": "2026-04-01",
    "months": 6,
    "title_en": "Cryogenic probe measurements",
    "plan_en": "Joint measurements on the host's probe station.",
    "host_supervisor_name": "Kim Host",
    "host_supervisor_email": "kim@example.org",
    "effort_percent": 80,
}
AWARDED_EXAMPLE: dict[str, Any] = {
    **APPLICATION_EXAMPLE,
    "state": "awarded",
    "award_decision": {
        **APPLICATION_EXAMPLE["award_decision"],
        "two_person": {
            **DECISION_BLOCK_EXAMPLE,
            "state": "completed",
            "second_officer": 18,
            "second_side": "KR",
            "second_at": "2026-11-30T03:00:00Z",
            "needed_side": "",
        },
    },
    "visit": 5,
}


def _read(application_id: int, status_code: int = 200, **headers: str) -> Response:
    """The application read back after a service: the caller saw it a moment ago, and the
    change must not turn a successful write into a 404."""
    application = application_queryset().get(pk=application_id)
    return Response(
        VisitApplicationSerializer(application).data,
        status=status_code,
        headers={"ETag": f'"{application.version}"', **headers},
    )


def _pending_decision(application: VisitApplication) -> VisitAwardDecision:
    decision = (
        VisitAwardDecision.objects.select_related("application")
        .filter(application=application, state=DecisionState.PENDING)
        .first()
    )
    if decision is None:
        raise Conflict(_("This application has no pending award decision."), code="invalid_state")
    return decision


# --------------------------------------------------------------------------- views


@extend_schema_view(
    list=extend_schema(
        summary="List the visit applications visible to the caller",
        description="The visitor's own, their home and host organisations' (from the "
        "submission on), the assigned reviewers', or all (fund staff); newest change first. "
        "Filter by call and state. Keys need proposals:read.",
        responses={200: VisitApplicationSerializer(many=True), **problems(400, 403)},
        examples=[example("A page of visit applications", page(APPLICATION_EXAMPLE))],
    ),
    retrieve=extend_schema(
        summary="Read a visit application",
        parameters=[APPLICATION_ID],
        responses={200: VisitApplicationSerializer, **problems(403, 404)},
        examples=[example("A visit application", APPLICATION_EXAMPLE)],
    ),
    create=extend_schema(
        summary="Start a draft application to an open mobility call",
        description="A researcher in the browser applies for themselves; a partner system "
        "(proposals:write) of the visitor's home organisation names the visitor. The "
        "visitor and the two organisations are required; the other fields may follow.",
        request=VisitApplicationCreateSerializer,
        responses={201: VisitApplicationSerializer, **problems(400, 403, 422)},
        examples=[
            example(
                "Start a draft",
                {"call": 7, "visitor": 31, "home_organisation": 4, "host_organisation": 8},
                request=True,
            ),
            example("The draft", DRAFT_EXAMPLE),
        ],
    ),
    partial_update=extend_schema(
        summary="Save a step of the wizard on a draft",
        description="Each field given replaces its value. `version` must be the current "
        "version: a stale one answers 409 and changes nothing (an If-Match header, if sent, "
        "must agree with it).",
        parameters=[APPLICATION_ID],
        request=VisitApplicationChangesSerializer,
        responses={200: VisitApplicationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Save the plan", {"version": 1, **FIELDS_EXAMPLE}, request=True),
            example("Saved", {**DRAFT_EXAMPLE, "version": 2}),
        ],
    ),
)
class VisitApplicationViewSet(GenericViewSet):
    """Visit applications: the visitor's, the offices', the reviewers' and the fund's."""

    queryset = VisitApplication.objects.none()  # the real one is per actor: get_queryset
    serializer_class = VisitApplicationSerializer
    filterset_class = VisitApplicationFilter
    permission_classes = [IsAuthenticated, HasScope]
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "create": WRITE,
        "partial_update": WRITE,
        "submit": WRITE,
        "withdraw": WRITE,
        "endorse": WRITE,
        "return_to_visitor": WRITE,
        "award": WRITE,
        "award_withdraw": WRITE,
        "award_decline": WRITE,
    }

    def get_queryset(self) -> QuerySet[VisitApplication]:
        if getattr(self, "swagger_fake_view", False):
            return VisitApplication.objects.none()
        return application_queryset(applications_visible_to(actor_of(self.request))).order_by(
            "-updated_at", "-id"
        )

    def get_object(self) -> VisitApplication:
        return get_application_for_actor(actor_of(self.request), self.kwargs.get("pk"))

    def _act(
        self,
        request: Request,
        service: Callable[..., object],
        body: type[serializers.Serializer] | None = None,
        *,
        on_pending_decision: bool = False,
    ) -> Response:
        """Every action's shape: the application the caller may see (404 otherwise), the
        request's body checked by ``body`` (400), the service called with the application
        (or, ``on_pending_decision``, its pending award decision), the acting user or key and
        the body's fields as its keyword arguments (the service locks the row and checks
        the rule: 403, 409, 422), and the application read back (200)."""
        application = self.get_object()
        fields: dict[str, Any] = {}
        if body is not None:
            checked = body(data=request.data)
            checked.is_valid(raise_exception=True)
            fields = dict(checked.validated_data)
        subject: dict[str, Any] = (
            {"decision": _pending_decision(application)}
            if on_pending_decision
            else {"application": application}
        )
        service(**subject, actor=actor_of(request), **fields)
        return _read(application.pk)

    # -- reading

    def list(self, request: Request) -> Response:
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(VisitApplicationSerializer(rows, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return _read(self.get_object().pk)

    # -- the wizard

    def create(self, request: Request) -> Response:
        body = VisitApplicationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        call = Call.objects.filter(pk=body.validated_data["call"]).first()
        if call is None:
            message = _("Unknown call.")
            raise ValidationFailed(message, errors={"call": [message]})
        data = body.service_data()
        first = {
            name: data.pop(name)
            for name in ("visitor", "home_organisation", "host_organisation")
            if name in data
        }
        actor = actor_of(request)
        # One transaction: refused fields leave no half-made draft behind (§17).
        with transaction.atomic():
            application = application_create(actor=actor, call=call, data=first)
            if data:
                application = application_update(
                    application=application,
                    actor=actor,
                    data=data,
                    expected_version=application.version,
                )
        location = request.build_absolute_uri(
            reverse("visit-application-detail", args=[application.pk])
        )
        return _read(application.pk, status.HTTP_201_CREATED, Location=location)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        application = self.get_object()
        body = VisitApplicationChangesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = expected_version(request, body.validated_data.get("version"))
        application_update(
            application=application,
            actor=actor_of(request),
            data=body.service_data(),
            expected_version=version,
        )
        return _read(application.pk)

    @extend_schema(
        summary="Submit a draft",
        description="Checks every rule by the server's clock (complete wizard, open call, "
        "effort within 100 %, no duplicate); each failed rule is a field error (422).",
        parameters=[APPLICATION_ID],
        request=None,
        responses={200: VisitApplicationSerializer, **problems(403, 404, 409, 422)},
        examples=[example("Submitted", {**DRAFT_EXAMPLE, "state": "submitted"})],
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, application_submit)

    @extend_schema(
        summary="Withdraw an application (the visitor or the home organisation's system)",
        parameters=[APPLICATION_ID],
        request=VisitApplicationWithdrawSerializer,
        responses={200: VisitApplicationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Withdraw", {"reason": "The visit is postponed a year."}, request=True),
            example("Withdrawn", {**APPLICATION_EXAMPLE, "state": "withdrawn"}),
        ],
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, application_withdraw, VisitApplicationWithdrawSerializer)

    @extend_schema(
        summary="Endorse a submitted application (the host organisation's office or system)",
        parameters=[APPLICATION_ID],
        request=VisitApplicationEndorseSerializer,
        responses={200: VisitApplicationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Endorse", {"comment": "The lab hosts the visitor."}, request=True),
            example("Endorsed", {**APPLICATION_EXAMPLE, "state": "endorsed"}),
        ],
    )
    @action(detail=True, methods=["post"])
    def endorse(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, application_endorse, VisitApplicationEndorseSerializer)

    @extend_schema(
        summary="Return a submitted application to the visitor (the host's office or system)",
        description="Instead of endorsing, before the call closes, with a reason: the "
        "application becomes a draft again at a new version.",
        parameters=[APPLICATION_ID],
        request=VisitApplicationReturnSerializer,
        responses={200: VisitApplicationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Return", {"reason": "Please name the host supervisor."}, request=True),
            example("Returned", {**DRAFT_EXAMPLE, "version": 4}),
        ],
    )
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_to_visitor(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, application_return, VisitApplicationReturnSerializer)

    # -- the award, under the two-person rule

    @extend_schema(
        summary="Approve awarding or rejecting an application under review (fund officers)",
        description="The first officer's approval starts a pending decision; a fund officer "
        "of the other side approving the same outcome completes it. An award completes only "
        "once screening allows it, creates the visit and commits its whole sum (409 "
        "`pool_insufficient` if the paying side's pool cannot cover it).",
        parameters=[APPLICATION_ID],
        request=VisitAwardApproveSerializer,
        responses={200: VisitApplicationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Award", {"outcome": "awarded", "reason": "Strong plan"}, request=True),
            example("Pending the other side", APPLICATION_EXAMPLE),
            example("Awarded", AWARDED_EXAMPLE),
        ],
    )
    @action(detail=True, methods=["post"])
    def award(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, visit_award_approve, VisitAwardApproveSerializer)

    @extend_schema(
        summary="Withdraw your pending award approval (the officer who approved first)",
        parameters=[APPLICATION_ID],
        request=None,
        responses={200: VisitApplicationSerializer, **problems(403, 404, 409)},
        examples=[example("Withdrawn", {**APPLICATION_EXAMPLE, "award_decision": None})],
    )
    @action(detail=True, methods=["post"], url_path="award/withdraw", url_name="award-withdraw")
    def award_withdraw(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, visit_award_withdraw, on_pending_decision=True)

    @extend_schema(
        summary="Decline a pending award decision (a fund officer of the other side)",
        description="With a reason (422 without); the application stays under review.",
        parameters=[APPLICATION_ID],
        request=DeclineSerializer,
        responses={200: VisitApplicationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Decline", {"reason": "The reviews do not support it."}, request=True),
            example("Declined", {**APPLICATION_EXAMPLE, "award_decision": None}),
        ],
    )
    @action(detail=True, methods=["post"], url_path="award/decline", url_name="award-decline")
    def award_decline(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, visit_award_decline, DeclineSerializer, on_pending_decision=True)


def register(router: DefaultRouter) -> None:
    router.register("visit-applications", VisitApplicationViewSet, basename="visit-application")
