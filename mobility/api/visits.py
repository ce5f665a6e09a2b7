"""Visits over the REST API (§14, §25): ``/api/v1/visits/``.

Reading needs ``projects:read`` for keys (a visit is money of the fund, read like a
project's); a visit the caller may not see answers 404 (``get_visit_for_actor``).
Confirming the arrival or the departure is for the host organisation's research office, a
fund officer, or the host organisation's system: a key with ``payments:write``, since the
arrival releases the travel sum and the departure settles the stipends. Both take an
``Idempotency-Key``: a retry answers what the first call answered.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.models import Scope
from fundapp.api.idempotency import IDEMPOTENCY_KEY, idempotent
from fundapp.api.permissions import HasScope, actor_of
from fundapp.kernel.decisions import require
from mobility.models import Visit, VisitPayment
from mobility.permissions import can_confirm_visit_dates
from mobility.selectors.visits import get_visit_for_actor, visit_queryset, visits_visible_to
from mobility.services.visits import visit_confirm_arrival, visit_confirm_departure
from projects.api.engine import example, page, problems

VISIT_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The visit's id."
)


class VisitPaymentSerializer(serializers.ModelSerializer):
    ledger_transaction = serializers.IntegerField(source="transaction_id", read_only=True)

    class Meta:
        model = VisitPayment
        fields = ["kind", "month", "amount", "ledger_transaction", "released_at"]


class VisitSerializer(serializers.ModelSerializer):
    """Reads the application and the payments from ``visit_queryset``'s caches."""

    application = serializers.IntegerField(source="application_id", read_only=True)
    title = serializers.CharField(source="application.title", read_only=True)
    visitor = serializers.IntegerField(source="application.visitor_id", read_only=True)
    home_organisation = serializers.IntegerField(
        source="application.home_organisation_id", read_only=True
    )
    host_organisation = serializers.IntegerField(
        source="application.host_organisation_id", read_only=True
    )
    home_country = serializers.CharField(
        source="application.home_organisation.country", read_only=True
    )
    host_country = serializers.CharField(
        source="application.host_organisation.country", read_only=True
    )
    payee = serializers.IntegerField(source="payee_id", read_only=True)
    committed = serializers.IntegerField(source="committed_amount", read_only=True)
    payments = VisitPaymentSerializer(many=True, read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "application",
            "title",
            "visitor",
            "home_organisation",
            "host_organisation",
            "home_country",
            "host_country",
            "state",
            "paying_side",
            "currency",
            "payee",
            "months",
            "stipend_month_amount",
            "travel_amount",
            "committed",
            "planned_start",
            "arrived_on",
            "ended_on",
            "report_submitted_at",
            "payments",
        ]


class ArrivalSerializer(serializers.Serializer):
    arrived_on = serializers.DateField(help_text="The day the visitor arrived (not in the future).")


class DepartureSerializer(serializers.Serializer):
    ended_on = serializers.DateField(
        help_text="The visitor's last day at the host (on or after the arrival, not in the "
        "future). Before the planned end, the months never begun return to the pool."
    )


VISIT_EXAMPLE: dict[str, Any] = {
    "id": 5,
    "application": 12,
    "title": "Cryogenic probe measurements",
    "visitor": 31,
    "home_organisation": 4,
    "host_organisation": 8,
    "home_country": "JP",
    "host_country": "KR",
    "state": "active",
    "paying_side": "KR",
    "currency": "KRW",
    "payee": 8,
    "months": 6,
    "stipend_month_amount": 3000000,
    "travel_amount": 2000000,
    "committed": 20000000,
    "planned_start": "2026-04-01",
    "arrived_on": "2026-04-03",
    "ended_on": None,
    "report_submitted_at": None,
    "payments": [
        {
            "kind": "stipend",
            "month": 1,
            "amount": 3000000,
            "ledger_transaction": 141,
            "released_at": "2026-04-03T02:00:00Z",
        },
        {
            "kind": "travel",
            "month": 0,
            "amount": 2000000,
            "ledger_transaction": 140,
            "released_at": "2026-04-03T02:00:00Z",
        },
    ],
}


@extend_schema_view(
    list=extend_schema(
        summary="List the visits visible to the caller",
        description="The visitor's own, their organisations' (home, host, payee), an "
        "agency's side's, or all (staff); newest first. Keys need projects:read.",
        examples=[example("A page of visits", page(VISIT_EXAMPLE))],
        responses={200: VisitSerializer(many=True), **problems(403)},
    ),
    retrieve=extend_schema(
        summary="Read a visit with its payments",
        parameters=[VISIT_ID],
        examples=[example("A visit", VISIT_EXAMPLE)],
        responses={200: VisitSerializer, **problems(403, 404)},
    ),
)
class VisitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    permission_classes = [IsAuthenticated, HasScope]
    serializer_class = VisitSerializer
    queryset = Visit.objects.none()
    required_scopes = {
        "list": Scope.PROJECTS_READ.value,
        "retrieve": Scope.PROJECTS_READ.value,
        "arrival": Scope.PAYMENTS_WRITE.value,
        "departure": Scope.PAYMENTS_WRITE.value,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Visit.objects.none()
        return visit_queryset(visits_visible_to(actor_of(self.request))).order_by(
            "-created_at", "-id"
        )

    def get_object(self) -> Visit:
        return get_visit_for_actor(actor_of(self.request), self.kwargs.get("pk"))

    def _response(self, visit: Visit) -> Response:
        return Response(VisitSerializer(visit_queryset().get(pk=visit.pk)).data)

    @extend_schema(
        summary="Confirm the visitor's arrival (host office, keys with payments:write)",
        description="Needs an Idempotency-Key. Releases the travel sum to the payee exactly "
        "once; the first month's stipend follows with the stipend job.",
        parameters=[VISIT_ID, IDEMPOTENCY_KEY],
        request=ArrivalSerializer,
        responses={200: VisitSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Arrival", {"arrived_on": "2026-04-03"}, request=True),
            example("Arrived", {**VISIT_EXAMPLE, "payments": VISIT_EXAMPLE["payments"][1:]}),
        ],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def arrival(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        require(can_confirm_visit_dates(actor_of(request), visit))
        body = ArrivalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        moved = visit_confirm_arrival(
            visit=visit, actor=actor_of(request), arrived_on=body.validated_data["arrived_on"]
        )
        return self._response(moved)

    @extend_schema(
        summary="Confirm the visitor's departure (host office, keys with payments:write)",
        description="Needs an Idempotency-Key. Pays the months begun by then that the job "
        "has not paid yet and returns the rest of the commitment to the pool.",
        parameters=[VISIT_ID, IDEMPOTENCY_KEY],
        request=DepartureSerializer,
        responses={200: VisitSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Departure", {"ended_on": "2026-06-30"}, request=True),
            example("Ended", {**VISIT_EXAMPLE, "state": "ended", "ended_on": "2026-06-30"}),
        ],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def departure(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        require(can_confirm_visit_dates(actor_of(request), visit))
        body = DepartureSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        moved = visit_confirm_departure(
            visit=visit, actor=actor_of(request), ended_on=body.validated_data["ended_on"]
        )
        return self._response(moved)


def register(router: DefaultRouter) -> None:
    router.register("visits", VisitViewSet, basename="visit")
