"""Royalty integrity over the REST API (§23): ``royalty-periods`` (quarters whose report is
due, overdue or reported) and ``royalty-audits`` (+ ``close``).

Who sees what: the licences the caller sees (``ip_licensing.selectors``): fund staff all,
a party's people and keys (``licences:read``) their organisation's; anything else is 404.
Opening and closing audits is for fund officers in a browser session (no key scope).
Each list answers in a constant number of queries whatever the page size.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.api import ProblemSerializer
from fundapp.accounts.models import Scope
from fundapp.actors import Actor
from fundapp.api.filters import IdFilter
from fundapp.api.permissions import HasScope, actor_of
from fundapp.errors import NotFound, ValidationFailed
from ip_licensing.models import (
    RoyaltyAudit,
    RoyaltyAuditState,
    RoyaltyPeriod,
    RoyaltyPeriodState,
)
from ip_licensing.selectors import licence_ids_visible_to, licences_visible_to
from ip_licensing.services.audits import royalty_audit_close, royalty_audit_open

from .serializers import (
    RoyaltyAuditCloseSerializer,
    RoyaltyAuditCreateSerializer,
    RoyaltyAuditSerializer,
    RoyaltyPeriodSerializer,
)

LICENCES_READ = Scope.LICENCES_READ.value
PROBLEM = "application/problem+json"


def _problems(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(response=ProblemSerializer, description=f"problem+json {code}")
        for code in codes
    }


def periods_visible_to(actor: Actor | None) -> QuerySet[RoyaltyPeriod]:
    ids = licence_ids_visible_to(actor)
    rows = RoyaltyPeriod.objects.select_related("licence")
    return rows if ids is None else rows.filter(licence_id__in=ids)


def audits_visible_to(actor: Actor | None) -> QuerySet[RoyaltyAudit]:
    ids = licence_ids_visible_to(actor)
    rows = RoyaltyAudit.objects.select_related("licence", "ledger_transaction")
    return rows if ids is None else rows.filter(licence_id__in=ids)


class RoyaltyPeriodFilter(django_filters.FilterSet):
    licence = IdFilter(field_name="licence_id", help_text="Licence id.")
    state = django_filters.ChoiceFilter(choices=RoyaltyPeriodState.choices)
    quarter = django_filters.CharFilter(help_text="YYYY-Qn, e.g. 2026-Q3.")

    class Meta:
        model = RoyaltyPeriod
        fields = ["licence", "state", "quarter"]


class RoyaltyAuditFilter(django_filters.FilterSet):
    licence = IdFilter(field_name="licence_id", help_text="Licence id.")
    state = django_filters.ChoiceFilter(choices=RoyaltyAuditState.choices)

    class Meta:
        model = RoyaltyAudit
        fields = ["licence", "state"]


class _Viewset(GenericViewSet):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes: dict[str, str] = {}

    @property
    def actor(self) -> Actor:
        return actor_of(self.request)


@extend_schema_view(
    list=extend_schema(
        summary="List royalty periods (quarters due, overdue or reported)",
        description="Of the licences visible to the caller (keys: licences:read), latest "
        "deadline first. The daily job writes a period 30 days after its quarter ends and "
        "marks it overdue 45 days after; a report marks it reported. Filter by licence, "
        "state and quarter.",
        responses={200: RoyaltyPeriodSerializer(many=True), **_problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a royalty period",
        responses={200: RoyaltyPeriodSerializer, **_problems(403, 404)},
    ),
)
class RoyaltyPeriodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Viewset):
    queryset = RoyaltyPeriod.objects.none()
    serializer_class = RoyaltyPeriodSerializer
    filterset_class = RoyaltyPeriodFilter
    required_scopes = {"list": LICENCES_READ, "retrieve": LICENCES_READ}

    def get_queryset(self) -> QuerySet[RoyaltyPeriod]:
        return periods_visible_to(self.actor).order_by("-deadline_on", "-id")


@extend_schema_view(
    list=extend_schema(
        summary="List royalty audits",
        description="Of the licences visible to the caller (keys: licences:read): the "
        "licensee and the licensor see the audits of their licences and their findings. "
        "Filter by licence and state.",
        responses={200: RoyaltyAuditSerializer(many=True), **_problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a royalty audit and its finding",
        responses={200: RoyaltyAuditSerializer, **_problems(403, 404)},
    ),
)
class RoyaltyAuditViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Viewset):
    queryset = RoyaltyAudit.objects.none()
    serializer_class = RoyaltyAuditSerializer
    filterset_class = RoyaltyAuditFilter
    required_scopes = {"list": LICENCES_READ, "retrieve": LICENCES_READ}

    def get_queryset(self) -> QuerySet[RoyaltyAudit]:
        return audits_visible_to(self.actor).order_by("-opened_at", "-id")

    def get_object(self) -> RoyaltyAudit:
        try:
            pk = int(str(self.kwargs.get("pk")))
        except ValueError:
            raise NotFound() from None
        audit = self.get_queryset().filter(pk=pk).first() if 0 < pk < 2**63 else None
        if audit is None:
            raise NotFound()
        return audit

    def _answer(self, audit_id: int, code: int = status.HTTP_200_OK) -> Response:
        row = audits_visible_to(self.actor).get(pk=audit_id)
        return Response(RoyaltyAuditSerializer(row).data, status=code)

    @extend_schema(
        summary="Open a royalty audit of a licence and quarter (fund officers)",
        description="One open audit per licence and quarter (409 otherwise). Browser session only.",
        request=RoyaltyAuditCreateSerializer,
        responses={201: RoyaltyAuditSerializer, **_problems(400, 403, 409, 422)},
    )
    def create(self, request: Request) -> Response:
        body = RoyaltyAuditCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        licence = licences_visible_to(self.actor).filter(pk=data["licence"]).first()
        if licence is None:
            message = _("Unknown licence.")
            raise ValidationFailed(message, errors={"licence": [message]})
        audit = royalty_audit_open(
            licence=licence, actor=self.actor, quarter=data["quarter"], scope=data.get("scope")
        )
        return self._answer(audit.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record the finding and close the audit (fund officers)",
        description="The finding is the amount under- (positive) or overpaid (negative); "
        "an underpayment carries simple interest at the policy's late_interest_rate from "
        "the quarter's report deadline. Closing posts one correcting ledger transaction "
        "`royalty-audit:{id}` split as royalties are (409 if an overpayment was already "
        "paid out).",
        request=RoyaltyAuditCloseSerializer,
        responses={200: RoyaltyAuditSerializer, **_problems(400, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        audit = self.get_object()
        body = RoyaltyAuditCloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        closed = royalty_audit_close(
            audit=audit,
            actor=self.actor,
            finding_amount=body.validated_data["finding_amount"],
            note=body.validated_data["note"],
        )
        return self._answer(closed.pk)


def register(router: DefaultRouter) -> None:
    router.register("royalty-periods", RoyaltyPeriodViewSet, basename="royalty-period")
    router.register("royalty-audits", RoyaltyAuditViewSet, basename="royalty-audit")
