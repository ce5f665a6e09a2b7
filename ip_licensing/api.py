"""IP licensing over the REST API (§10, §14, §21): ip-assets, licences (+ accept, approve,
suspend, resume, terminate, renew), ``licences/check`` (single and batch), royalty-reports
and allocation-changes.

Thin views: select what the actor may see (``ip_licensing.selectors``; anything else is
404, never 403), check the request's shape, call one service, serialize the result. The
services decide what values mean (422) and who may act (403).

Scopes for API keys: ``licences:read`` reads assets, licences and royalty reports;
``licences:check`` asks the licence check — and, as ``ip_licensing.permissions`` decides,
lets a partner system propose, accept and renew its own organisation's licences;
``royalties:write`` reports royalties (with an ``Idempotency-Key``). Approving, suspending,
resuming and terminating licences, registering assets and changing allocation tables are
for people (fund officers, members) in a browser session: no scope grants them to a key.

Every list answers in a constant number of queries whatever the page size, and the licence
check in a constant number whatever the batch size (pinned by the tests).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import django_filters
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.urls import URLPattern, re_path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.api import ProblemSerializer
from fundapp.accounts.models import Scope, hash_secret
from fundapp.actors import Actor, is_fund_staff
from fundapp.api.approvals import DECISION_BLOCK_EXAMPLE, DeclineSerializer
from fundapp.api.authentication import (
    accepts_key,
    bearer_key,
    bearer_key_id,
    find_key_with,
    stamp_last_use,
    use_found_key,
)
from fundapp.api.filters import BooleanFilter, IdFilter
from fundapp.api.idempotency import IDEMPOTENCY_KEY, idempotent
from fundapp.api.negotiation import JsonFirstNegotiation
from fundapp.api.permissions import HasScope, actor_of
from fundapp.api.throttling import ClientRateThrottle
from fundapp.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from fundapp.kernel.approvals import LIVE_STATES as LIVE_DECISION_STATES
from fundapp.kernel.approvals import DecisionState
from fundapp.kernel.registry import project_directory
from ip_licensing.models import (
    AllocationChange,
    AssetKind,
    AssetStatus,
    Exclusivity,
    IPAsset,
    Licence,
    LicenceApproval,
    LicenceAsset,
    LicenceState,
    RoyaltyReport,
)
from ip_licensing.selectors import (
    assets_visible_to,
    get_asset_for_actor,
    get_licence_for_actor,
    licence_ids_visible_to,
    licences_visible_to,
)
from ip_licensing.services import assets as asset_services
from ip_licensing.services import licences as licence_services
from ip_licensing.services.allocation import (
    allocation_change_approve,
    allocation_change_decline,
    allocation_change_withdraw,
    can_change_allocation,
)
from ip_licensing.services.check import (
    MAX_BATCH,
    Preloaded,
    SingleCheckLoad,
    licence_check,
    licence_check_one,
    single_check_load,
)
from ip_licensing.services.royalties import royalty_report_submit
from ip_licensing.services.sublicences import (
    sublicence_consent,
    sublicence_grant,
    sublicence_refuse,
)

from . import api_royalty_integrity as royalty_integrity_api
from .serializers import (
    AllocationChangeCreateSerializer,
    AllocationChangeSerializer,
    AssetCreateSerializer,
    AssetSerializer,
    LicenceApprovalSerializer,
    LicenceCheckBatchResultSerializer,
    LicenceCheckBatchSerializer,
    LicenceCheckResultSerializer,
    LicenceCheckSerializer,
    LicenceCreateSerializer,
    LicenceReasonSerializer,
    LicenceRenewSerializer,
    LicenceSerializer,
    RoyaltyReportCreateSerializer,
    RoyaltyReportSerializer,
    SublicenceDecisionSerializer,
    SublicenceGrantSerializer,
    SublicenceSerializer,
)

LICENCES_READ = Scope.LICENCES_READ.value
LICENCES_CHECK = Scope.LICENCES_CHECK.value
ROYALTIES_WRITE = Scope.ROYALTIES_WRITE.value
PROBLEM = "application/problem+json"


# --------------------------------------------------------------------------- helpers


def _body(request: Request) -> dict[str, Any]:
    """The request body as a plain object; anything else is a 400."""
    data = request.data
    if hasattr(data, "dict") and not isinstance(data, dict):
        data = data.dict()
    if not isinstance(data, dict):
        message = _("Send a JSON object.")
        raise ValidationFailed(message, code="invalid", errors={"non_field_errors": [message]})
    return dict(data)


def _org_filter(queryset: QuerySet[Any], field: str, value: str) -> QuerySet[Any]:
    value = value.strip()
    if value.isdigit():
        return queryset.filter(**{f"{field}_id": int(value)})
    return queryset.filter(**{f"{field}__code": value.upper()})


class AssetFilter(django_filters.FilterSet):
    owner = django_filters.CharFilter(
        method="filter_owner", help_text="Owner organisation id or code."
    )
    project = IdFilter(field_name="project_id", help_text="Project id.")
    kind = django_filters.ChoiceFilter(choices=AssetKind.choices)
    status = django_filters.ChoiceFilter(choices=AssetStatus.choices)
    is_background = BooleanFilter()

    class Meta:
        model = IPAsset
        fields = ["owner", "project", "kind", "status", "is_background"]

    def filter_owner(self, queryset, name, value):
        return _org_filter(queryset, "owner", value)


class LicenceFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=LicenceState.choices)
    exclusivity = django_filters.ChoiceFilter(choices=Exclusivity.choices)
    licensor = django_filters.CharFilter(
        method="filter_licensor", help_text="Licensor organisation id or code."
    )
    licensee = django_filters.CharFilter(
        method="filter_licensee", help_text="Licensee organisation id or code."
    )
    asset = IdFilter(method="filter_asset", help_text="Asset id.")

    class Meta:
        model = Licence
        fields = ["state", "exclusivity", "licensor", "licensee", "asset"]

    def filter_licensor(self, queryset, name, value):
        return _org_filter(queryset, "licensor", value)

    def filter_licensee(self, queryset, name, value):
        return _org_filter(queryset, "licensee", value)

    def filter_asset(self, queryset, name, value):
        # A semi-join on the link table: no DISTINCT over whole licence rows.
        return queryset.filter(
            pk__in=LicenceAsset.objects.filter(asset_id=value).values("licence_id")
        )


class RoyaltyReportFilter(django_filters.FilterSet):
    licence = IdFilter(field_name="licence_id", help_text="Licence id.")
    quarter = django_filters.CharFilter(help_text="YYYY-Qn, e.g. 2026-Q3.")
    current = BooleanFilter(
        method="filter_current",
        help_text="true: only the reports in force (not superseded by a correction).",
    )

    flagged = BooleanFilter(
        method="filter_flagged",
        help_text="Flagged for officers or not (fund staff; others get no rows).",
    )

    class Meta:
        model = RoyaltyReport
        fields = ["licence", "quarter", "current", "flagged"]

    def filter_current(self, queryset, name, value):
        return queryset.filter(superseded_by__isnull=value)

    def filter_flagged(self, queryset, name, value):
        # The flag is the officers' (§23): asking by it tells others nothing.
        if not is_fund_staff(actor_of(self.request)):
            return queryset.none()
        return queryset.filter(flagged=value)


class AllocationChangeFilter(django_filters.FilterSet):
    project = IdFilter(field_name="project_id", help_text="Project id.")
    state = django_filters.ChoiceFilter(choices=DecisionState.choices)

    class Meta:
        model = AllocationChange
        fields = ["project", "state"]


# --------------------------------------------------------------------------- documentation


def problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description)


ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    400: problem("Malformed body, a missing Idempotency-Key, or a bad filter value."),
    403: problem("Visible, but the caller may not do this (or the key lacks the scope)."),
    404: problem("Missing or not visible to the caller (the same answer for both)."),
    409: problem("The object's state does not allow this now."),
    413: problem("More than 1,000 checks in one request."),
    422: problem("Field errors, or an Idempotency-Key reused with another body."),
}


def problems(*codes: int) -> dict[Any, OpenApiResponse]:
    return {(code, PROBLEM): ERROR_RESPONSES[code] for code in codes}


def example(name: str, value: Any, *, request: bool = False) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=request, response_only=not request)


def page(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(rows), "next": None, "previous": None, "results": list(rows)}


ASSET_EXAMPLE = {
    "id": 21,
    "kind": "patent",
    "title": "Low-power edge inference circuit",
    "title_en": "Low-power edge inference circuit",
    "title_ja": "低消費電力エッジ推論回路",
    "title_ko": "저전력 엣지 추론 회로",
    "owner": 7,
    "owner_code": "JP-OSK-01",
    "project": 12,
    "is_background": False,
    "inventors": ["Sato Hanako", "Kim Minjun"],
    "jurisdiction": "JP",
    "filing_number": "2026-012345",
    "status": "filed",
    "research_area": "semiconductor.ai.edge",
    "created_at": "2026-02-01T01:00:00Z",
}
ASSET_CREATE_EXAMPLE = {
    "kind": "patent",
    "title_en": "Low-power edge inference circuit",
    "owner": "JP-OSK-01",
    "project": 12,
    "inventors": ["Sato Hanako", "Kim Minjun"],
    "jurisdiction": "JP",
    "filing_number": "2026-012345",
    "status": "filed",
    "research_area": "semiconductor.ai.edge",
}
LICENCE_TERMS_EXAMPLE = {
    "fields_of_use": ["semiconductor.ai"],
    "purposes": ["development", "manufacturing", "sale"],
    "territories": ["JP", "KR"],
    "start_on": "2026-04-01",
    "end_on": "2029-03-31",
    "exclusivity": "non_exclusive",
    "sublicensable": False,
    "sublicence_share_bp": 0,
    "royalty_rate": "0.035000",
    "minimum_annual_royalty": 1200000,
    "upfront_fee": 5000000,
    "currency": "JPY",
}
LICENCE_EXAMPLE = {
    "id": 33,
    "reference": "L-2026-0007",
    "state": "active",
    "licensor": 7,
    "licensor_code": "JP-OSK-01",
    "licensee": 9,
    "licensee_code": "JP-KYT-02",
    "assets": [21],
    **LICENCE_TERMS_EXAMPLE,
    "licensor_accepted_at": "2026-03-01T01:00:00Z",
    "licensee_accepted_at": "2026-03-02T01:00:00Z",
    "approved_at": "2026-03-10T01:00:00Z",
    "activated_at": "2026-03-31T15:05:00Z",
    "ended_at": None,
    "end_reason": "",
    "renewal_of": None,
    "parent": None,
    "upfront_posted": True,
    "created_at": "2026-02-20T01:00:00Z",
}
CHECK_EXAMPLE = {
    "asset": 21,
    "licensee": "JP-KYT-02",
    "field": "semiconductor.ai.edge",
    "purpose": "manufacturing",
    "territory": "JP",
    "on": "2026-07-01",
}
ALLOW_EXAMPLE = {"decision": "allow", "licence": 33, "reasons": []}
DENY_EXAMPLE = {"decision": "deny", "licence": None, "reasons": ["territory_not_covered"]}
ROYALTY_EXAMPLE = {
    "id": 58,
    "licence": 33,
    "licence_reference": "L-2026-0007",
    "quarter": "2026-Q3",
    "net_sales": 80000000,
    "royalty_due": 2800000,
    "sublicence_income": 0,
    "sublicence_due": 0,
    "posted_amount": 2800000,
    "currency": "JPY",
    "supersedes": None,
    "superseded_by": None,
    "reported_at": "2026-10-05T02:00:00Z",
    "ledger_transaction": 912,
}
ALLOCATION_EXAMPLE = {
    "id": 4,
    "project": 12,
    "table": [[7, 6000], [8, 4000]],
    "reason": "The KR partner took over the manufacturing line.",
    "state": "pending",
    "first_officer": 3,
    "first_side": "JP",
    "first_at": "2026-05-01T01:00:00Z",
    "second_officer": None,
    "second_side": "",
    "second_at": None,
    "two_person": DECISION_BLOCK_EXAMPLE,
}
SUBLICENCE_GRANT_EXAMPLE = {
    "licensee": "KR-HNB-03",
    "fields_of_use": ["semiconductor.ai.edge"],
    "purposes": ["research"],
    "territories": ["KR"],
    "start_on": "2026-07-01",
    "end_on": "2028-06-30",
}
SUBLICENCE_EXAMPLE = {
    **LICENCE_EXAMPLE,
    "id": 48,
    "reference": "L-2026-0019",
    "licensor": 9,
    "licensor_code": "JP-KYT-02",
    "licensee": 15,
    "licensee_code": "KR-HNB-03",
    **{key: value for key, value in SUBLICENCE_GRANT_EXAMPLE.items() if key != "licensee"},
    "exclusivity": "non_exclusive",
    "royalty_rate": "0.000000",
    "minimum_annual_royalty": 0,
    "upfront_fee": 0,
    "parent": 33,
    "consent": {
        "state": "consented",
        "requested_at": "2026-06-20T01:00:00Z",
        "decided_at": "2026-06-22T01:00:00Z",
        "reason": "",
    },
}
APPROVAL_EXAMPLE = {"id": 9, "licence": 33, "two_person": DECISION_BLOCK_EXAMPLE}
WITHDRAWN_BLOCK = {
    **DECISION_BLOCK_EXAMPLE,
    "state": "withdrawn",
    "needed_side": "",
    "withdrawn_at": "2026-11-30T02:00:00Z",
}


# --------------------------------------------------------------------------- views


class LicensingViewSet(GenericViewSet):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes: dict[str, str] = {}

    @property
    def actor(self) -> Actor:
        return actor_of(self.request)


@extend_schema_view(
    list=extend_schema(
        summary="List IP assets",
        description="The registry: every signed-in person and key (licences:read) sees every "
        "asset. Filter by owner (id or code), project, kind, status and is_background.",
        examples=[example("A page of assets", page(ASSET_EXAMPLE))],
        responses={200: AssetSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read an IP asset",
        examples=[example("An asset", ASSET_EXAMPLE)],
        responses={200: AssetSerializer, **problems(403, 404)},
    ),
)
class AssetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LicensingViewSet):
    queryset = IPAsset.objects.none()
    serializer_class = AssetSerializer
    filterset_class = AssetFilter
    required_scopes = {"list": LICENCES_READ, "retrieve": LICENCES_READ}
    # "create": people only (members of the owner organisation, fund officers).

    def get_queryset(self) -> QuerySet[IPAsset]:
        return assets_visible_to(self.actor).order_by("-created_at", "-id")

    def get_object(self) -> IPAsset:
        return get_asset_for_actor(self.actor, self.kwargs.get("pk"))

    @extend_schema(
        summary="Register an IP asset",
        description="One owner organisation (results are never co-owned: several owners are "
        "refused), the project it came from or `is_background`. Members of the owner "
        "organisation or fund officers, in a browser session.",
        request=AssetCreateSerializer,
        responses={201: AssetSerializer, **problems(400, 403, 422)},
        examples=[
            example("Register a filed patent", ASSET_CREATE_EXAMPLE, request=True),
            example("Registered", ASSET_EXAMPLE),
        ],
    )
    def create(self, request: Request) -> Response:
        asset = asset_services.asset_register(actor=self.actor, data=_body(request))
        asset = assets_visible_to(self.actor).get(pk=asset.pk)
        location = request.build_absolute_uri(reverse("ip-asset-detail", args=[asset.pk]))
        return Response(
            AssetSerializer(asset).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


def licence_queryset(actor: Actor | None) -> QuerySet[Licence]:
    return (
        licences_visible_to(actor).prefetch_related("licence_assets").order_by("-created_at", "-id")
    )


CHECK_REQUEST = PolymorphicProxySerializer(
    component_name="LicenceCheckRequest",
    serializers=[LicenceCheckSerializer, LicenceCheckBatchSerializer],
    resource_type_field_name=None,
)
CHECK_RESPONSE = PolymorphicProxySerializer(
    component_name="LicenceCheckResponse",
    serializers=[LicenceCheckResultSerializer, LicenceCheckBatchResultSerializer],
    resource_type_field_name=None,
)


@extend_schema_view(
    list=extend_schema(
        summary="List the licences visible to the caller",
        description="Fund staff see all; a person the licences of their organisations (as "
        "licensor or licensee); a key (licences:read) its organisation's. Filter by state, "
        "exclusivity, licensor, licensee (id or code) and asset.",
        examples=[example("A page of licences", page(LICENCE_EXAMPLE))],
        responses={200: LicenceSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a licence",
        examples=[example("A licence", LICENCE_EXAMPLE)],
        responses={200: LicenceSerializer, **problems(403, 404)},
    ),
)
class LicenceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LicensingViewSet):
    queryset = Licence.objects.none()
    serializer_class = LicenceSerializer
    filterset_class = LicenceFilter
    required_scopes = {
        "list": LICENCES_READ,
        "retrieve": LICENCES_READ,
        # A partner system drafts, accepts and renews its own organisation's licences
        # with licences:check (see ip_licensing.permissions).
        "create": LICENCES_CHECK,
        "accept": LICENCES_CHECK,
        "renew": LICENCES_CHECK,
        # §23: the licensee's system grants sublicences, the licensor's consents.
        "sublicences": LICENCES_READ,
        "grant_sublicence": LICENCES_CHECK,
        "consent": LICENCES_CHECK,
        # "approve", "suspend", "resume", "terminate": fund officers in a browser session.
    }

    def get_queryset(self) -> QuerySet[Licence]:
        return licence_queryset(self.actor)

    def get_object(self) -> Licence:
        return get_licence_for_actor(self.actor, self.kwargs.get("pk"))

    def _licence_response(self, licence_id: int, status_code: int = 200, **headers) -> Response:
        # The actor has just acted on it; a party withdrawing a draft still sees the result.
        row = (
            Licence.objects.select_related("licensor", "licensee")
            .prefetch_related("licence_assets")
            .get(pk=licence_id)
        )
        return Response(LicenceSerializer(row).data, status=status_code, headers=headers)

    @extend_schema(
        summary="Propose a licence (a draft)",
        description="A member of the licensor or the licensee, a fund officer, or a party's "
        "key with licences:check. The licensor is the one owner of the assets; the terms are "
        "checked against §10.2 and the fund's maximum term.",
        request=LicenceCreateSerializer,
        responses={201: LicenceSerializer, **problems(400, 403, 422)},
        examples=[
            example(
                "Propose",
                {"licensee": "JP-KYT-02", "assets": [21], **LICENCE_TERMS_EXAMPLE},
                request=True,
            ),
            example("Draft", {**LICENCE_EXAMPLE, "state": "draft", "approved_at": None}),
        ],
    )
    def create(self, request: Request) -> Response:
        licence = licence_services.licence_create(actor=self.actor, data=_body(request))
        location = request.build_absolute_uri(reverse("licence-detail", args=[licence.pk]))
        return self._licence_response(licence.pk, status.HTTP_201_CREATED, Location=location)

    @extend_schema(
        summary="Accept a draft licence for your organisation",
        description="The licensor's or the licensee's research office or a principal "
        "investigator (browser), or the party's key with licences:check. When both parties "
        "have accepted, the licence is pending (screening opens if §11 asks for it).",
        request=None,
        responses={200: LicenceSerializer, **problems(403, 404, 409)},
        examples=[example("Accepted", {**LICENCE_EXAMPLE, "state": "pending"})],
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        licence = licence_services.licence_accept(licence=self.get_object(), actor=self.actor)
        return self._licence_response(licence.pk)

    @extend_schema(
        summary="Approve a pending licence (fund officers, two-person rule)",
        description="The first approval is recorded; the second, by an officer of the other "
        "side, approves the licence (active at once if its start date has come). Refused while "
        "screening is open, or if an exclusive licence overlaps (naming it). Browser only.",
        request=None,
        responses={200: LicenceSerializer, **problems(403, 404, 409)},
        examples=[example("Approved", LICENCE_EXAMPLE)],
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        licence = licence_services.licence_approve(licence=self.get_object(), actor=self.actor)
        return self._licence_response(licence.pk)

    def _live_approval(self) -> LicenceApproval:
        licence = self.get_object()
        approval = (
            LicenceApproval.objects.filter(licence=licence, state__in=LIVE_DECISION_STATES)
            .order_by("-id")
            .first()
        )
        if approval is None:
            raise Conflict(
                _("This licence has no approval to withdraw or decline."), code="invalid_state"
            )
        return approval

    @extend_schema(
        summary="Read a licence's latest two-person approval (fund staff)",
        description="Who approved, when, for which side, what is still needed, or who "
        "withdrew or declined it and why. 404 while no approval was ever started.",
        request=None,
        responses={200: LicenceApprovalSerializer, **problems(403, 404)},
        examples=[example("Pending", APPROVAL_EXAMPLE)],
    )
    @action(detail=True, methods=["get"], url_path="approval")
    def approval(self, request: Request, pk: str | None = None) -> Response:
        if not is_fund_staff(self.actor):
            raise PermissionDenied(_("Only fund staff may see licence approvals."))
        approval = LicenceApproval.objects.filter(licence=self.get_object()).order_by("-id").first()
        if approval is None:
            raise NotFound(_("This licence has no approval yet."))
        return Response(LicenceApprovalSerializer(approval).data)

    @extend_schema(
        summary="Withdraw your pending approval of a licence",
        description="Only the officer who approved first, while it is pending (403 for "
        "anyone else, 409 once it is no longer pending). The licence stays pending; a new "
        "approval can be started. Browser only.",
        request=None,
        responses={200: LicenceApprovalSerializer, **problems(403, 404, 409)},
        examples=[example("Withdrawn", {**APPROVAL_EXAMPLE, "two_person": WITHDRAWN_BLOCK})],
    )
    @action(detail=True, methods=["post"], url_path="approval/withdraw")
    def withdraw_approval(self, request: Request, pk: str | None = None) -> Response:
        approval = licence_services.licence_approval_withdraw(
            approval=self._live_approval(), actor=self.actor
        )
        return Response(LicenceApprovalSerializer(approval).data)

    @extend_schema(
        summary="Decline a licence's pending approval (an officer of the other side)",
        description="A fund officer of the other side than the first approval, with a reason "
        "(422 without). The licence stays pending; a new approval can be started. Browser "
        "only.",
        request=DeclineSerializer,
        responses={200: LicenceApprovalSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Decline", {"reason": "The field of use is too broad."}, request=True),
        ],
    )
    @action(detail=True, methods=["post"], url_path="approval/decline")
    def decline_approval(self, request: Request, pk: str | None = None) -> Response:
        approval = self._live_approval()
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approval = licence_services.licence_approval_decline(
            approval=approval, actor=self.actor, reason=body.validated_data["reason"]
        )
        return Response(LicenceApprovalSerializer(approval).data)

    def _state_change(self, service: Any, request: Request) -> Response:
        licence = self.get_object()
        body = LicenceReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changed = service(licence=licence, actor=self.actor, reason=body.validated_data["reason"])
        return self._licence_response(changed.pk)

    @extend_schema(
        summary="Suspend an active licence (fund officers)",
        request=LicenceReasonSerializer,
        responses={200: LicenceSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Suspend", {"reason": "Royalty reports overdue."}, request=True),
            example("Suspended", {**LICENCE_EXAMPLE, "state": "suspended"}),
        ],
    )
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, pk: str | None = None) -> Response:
        return self._state_change(licence_services.licence_suspend, request)

    @extend_schema(
        summary="Resume a suspended licence (fund officers)",
        request=LicenceReasonSerializer,
        responses={200: LicenceSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Resume", {"reason": "Reports received."}, request=True),
            example("Active again", LICENCE_EXAMPLE),
        ],
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._state_change(licence_services.licence_resume, request)

    @extend_schema(
        summary="Terminate a licence (fund officers; a party may withdraw its draft)",
        request=LicenceReasonSerializer,
        responses={200: LicenceSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Terminate", {"reason": "Breach of the territory clause."}, request=True),
            example("Terminated", {**LICENCE_EXAMPLE, "state": "terminated"}),
        ],
    )
    @action(detail=True, methods=["post"])
    def terminate(self, request: Request, pk: str | None = None) -> Response:
        return self._state_change(licence_services.licence_terminate, request)

    @extend_schema(
        summary="Propose the renewal of a licence (a new draft)",
        description="Same parties and assets; the old terms unless given. Starts after the "
        "old licence ends; the old licence is never extended.",
        request=LicenceRenewSerializer,
        responses={201: LicenceSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Renew for three more years", {"end_on": "2032-03-31"}, request=True),
            example(
                "Draft renewal",
                {**LICENCE_EXAMPLE, "id": 61, "state": "draft", "renewal_of": 33},
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def renew(self, request: Request, pk: str | None = None) -> Response:
        renewal = licence_services.licence_renew(
            licence=self.get_object(), actor=self.actor, data=_body(request)
        )
        location = request.build_absolute_uri(reverse("licence-detail", args=[renewal.pk]))
        return self._licence_response(renewal.pk, status.HTTP_201_CREATED, Location=location)

    def _sublicence_response(self, licence_id: int, status_code: int = 200, **headers) -> Response:
        row = (
            Licence.objects.select_related("licensor", "licensee", "consent")
            .prefetch_related("licence_assets")
            .get(pk=licence_id)
        )
        return Response(SublicenceSerializer(row).data, status=status_code, headers=headers)

    @extend_schema(
        summary="List a licence's sublicences",
        description="The sublicences granted under the licence (§23), oldest first, each with "
        "the licensor's consent; those the caller may see.",
        request=None,
        responses={200: SublicenceSerializer(many=True), **problems(403, 404)},
        examples=[example("Sublicences", [SUBLICENCE_EXAMPLE])],
    )
    # A licence has a handful of sublicences: one unpaginated list, as the schema says.
    @action(detail=True, methods=["get"], pagination_class=None)
    def sublicences(self, request: Request, pk: str | None = None) -> Response:
        parent = self.get_object()
        rows = (
            licences_visible_to(self.actor)
            .filter(parent_id=parent.pk)
            .select_related("consent")
            .prefetch_related("licence_assets")
            .order_by("created_at", "id")
        )
        return Response(SublicenceSerializer(rows, many=True).data)

    @extend_schema(
        summary="Grant a sublicence (the licensee of a sublicensable licence)",
        description="The licensee's research office or a principal investigator, or its key "
        "with licences:check. The sublicence's assets, fields of use, purposes, territories "
        "and term must lie inside the licence's: anything that sticks out is refused (422), "
        "named per field. It is pending until the licensor consents (`consent`); screening "
        "opens where §11 asks for it. The licence must be sublicensable and approved or "
        "active (409).",
        request=SublicenceGrantSerializer,
        responses={201: SublicenceSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Grant", SUBLICENCE_GRANT_EXAMPLE, request=True),
            example("Awaiting consent", {**SUBLICENCE_EXAMPLE, "state": "pending"}),
        ],
    )
    @sublicences.mapping.post
    def grant_sublicence(self, request: Request, pk: str | None = None) -> Response:
        sublicence = sublicence_grant(
            parent=self.get_object(), actor=self.actor, data=_body(request)
        )
        location = request.build_absolute_uri(reverse("licence-detail", args=[sublicence.pk]))
        return self._sublicence_response(sublicence.pk, status.HTTP_201_CREATED, Location=location)

    @extend_schema(
        summary="Consent to a sublicence, or refuse (the licensor of its parent)",
        description="The parent licensor's research office or a principal investigator, its "
        "key with licences:check, or a fund officer. `consent` grants the sublicence (active "
        "at once if its start has come; event `sublicence.granted`); it waits for screening "
        "clearance and a parent approved or active (409). `refuse` needs a reason and "
        "terminates it.",
        request=SublicenceDecisionSerializer,
        responses={200: SublicenceSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Consent", {"decision": "consent"}, request=True),
            example("Granted", SUBLICENCE_EXAMPLE),
        ],
    )
    @action(detail=True, methods=["post"])
    def consent(self, request: Request, pk: str | None = None) -> Response:
        sublicence = self.get_object()
        body = SublicenceDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["decision"] == "consent":
            sublicence = sublicence_consent(sublicence=sublicence, actor=self.actor)
        else:
            sublicence = sublicence_refuse(
                sublicence=sublicence,
                actor=self.actor,
                reason=body.validated_data.get("reason", ""),
            )
        return self._sublicence_response(sublicence.pk)


# A single check is about 150 bytes; a body larger than this is left to the parser.
_PRELOAD_MAX_BODY = 4096


def _single_check_load(request: HttpRequest) -> tuple[Any, SingleCheckLoad] | None:
    """The body and its load if the body is one well-formed check; None for anything
    else, without a word: the parser and the service refuse what is to be refused."""
    if request.method != "POST" or request.content_type != "application/json":
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= _PRELOAD_MAX_BODY:
        return None
    try:
        item = json.loads(request.body)
    except (ValueError, RawPostDataException):
        return None
    load = single_check_load(item)
    return (item, load) if load is not None else None


# Where the direct path leaves the rows it read for the API's view, if it hands over.
_PRELOADED = "licence_check_preloaded"
# Accept headers the direct path answers (JSON, as the API's view would choose).
_JSON_OR_ANY = frozenset({"", "*/*", "application/json"})
# The API's JSON as its renderer writes it (compact, UTF-8), made once rather than by
# ``json.dumps`` on every answer.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _answer_directly(request: HttpRequest) -> HttpResponse | None:
    """The answer to a partner system's single check, or None to let the API's view
    answer (anything else, and every refusal).

    The common request — one well-formed check, a usable key with ``licences:check``,
    within the rate limit, a check the key may ask — is answered here with what the
    API's view would answer, without DRF's request, negotiation and response machinery,
    which on this path cost more than the check itself (§19). Everything is checked as
    on the view: the key as :class:`~fundapp.api.authentication.ApiKeyAuthentication`
    checks it, its scope, the rate limit (counted once: the view takes over the count
    if it answers; sent to Redis before the key is read and read after, and given back
    if the key does not authenticate or lacks the scope), then the check's own rules. Whatever is read here (the key, the
    rows) the view takes over rather than reading again.
    """
    meta = request.META
    if meta.get("QUERY_STRING") or meta.get("HTTP_ACCEPT", "").strip() not in _JSON_OR_ANY:
        return None
    bearer = bearer_key(request)
    body = _single_check_load(request) if bearer is not None else None
    if bearer is None or body is None:
        return None
    (key_id, secret), (item, load) = bearer, body
    # The rate limit's count goes to Redis first and its answer is read after PostgreSQL's:
    # the two round trips overlap instead of following each other.
    secret_hash = hash_secret(secret)  # once, for the counter's name and the key's check
    count = ClientRateThrottle().count_api_key_later(request, key_id, secret_hash)
    try:
        key, rows = find_key_with(key_id, load.sql, load.params)
    except BaseException:
        with contextlib.suppress(Exception):  # the database's error is the one to answer
            count.give_back()
        raise
    use_found_key(request, key_id, key)
    preloaded: Preloaded = (load, rows)
    setattr(request, _PRELOADED, preloaded)
    if key is None or not accepts_key(key, secret_hash) or not key.has_scope(LICENCES_CHECK):
        # Counted only once authenticated and authorised, as by the API's view.
        count.give_back()
        return None
    stamp_last_use(key)
    request.user = key  # type: ignore[assignment]  # as DRF sets it
    if not count.allowed():
        return None
    try:
        result = licence_check_one(actor=key, check=item, preloaded=preloaded)
    except DomainError:
        return None
    response = HttpResponse(_COMPACT_JSON.encode(result).encode(), content_type="application/json")
    response["Vary"] = "Accept"
    response["Allow"] = "POST, OPTIONS"
    return response


class LicenceCheckView(APIView):
    """``POST /api/v1/licences/check/``: the partner systems' hot path (§19: a single check
    under load within twice a trivial view's cost).

    Its own view rather than an action of :class:`LicenceViewSet`, so that its URL is
    matched first of the API's (:func:`urls_before_router`) rather than after every other
    route of the router, and so that it carries nothing a check does not use (no queryset,
    filters or pagination). Authentication, scope, rate limit, parser, renderers and
    problem+json errors are the API's, as for every other endpoint; content negotiation
    takes the common case (JSON, or no preference) without parsing the Accept header.
    """

    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"POST": LICENCES_CHECK}
    content_negotiation_class = JsonFirstNegotiation
    preloaded: Preloaded | None = None

    @property
    def actor(self) -> Actor:
        return actor_of(self.request)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """A partner system's single check reads its API key and its licences in one
        statement (one round trip, not two): when the body is one well-formed check, they
        are read together before authentication, which then checks that key as any other
        (:func:`~fundapp.api.authentication.use_found_key`); the licences are answered only
        after authentication, scope, rate limit and the check's own rules, as always.
        Anything else (a batch, a session, a body to be refused) goes the usual way."""
        http = request._request
        self.preloaded = getattr(http, _PRELOADED, None)
        key_id = bearer_key_id(http) if self.preloaded is None else None
        body = _single_check_load(http) if key_id is not None else None
        if key_id is not None and body is not None:
            load = body[1]
            key, rows = find_key_with(key_id, load.sql, load.params)
            use_found_key(http, key_id, key)
            self.preloaded = (load, rows)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Check uses of assets against licences (single or batch)",
        description=(
            "May organisation `licensee` use `asset` for `purpose` in `field` and `territory` "
            'on day `on`? Send one check, or `{"checks": [...]}` with 1 to '
            f'{MAX_BATCH} checks: the answer is one result, or `{{"results": [...]}}` in '
            "the same order. A result allows with the licence that allows the use, or denies "
            "with reason codes (no_licence, not_started, expired, suspended, terminated, "
            "field_not_covered, purpose_not_covered, territory_not_covered; for a check "
            "with `exclusive: true` diligence_breach — the licence lost its exclusivity to "
            "a breached obligation, from the day officers converted it — or not_exclusive; "
            "for a sublicence also why its parent licence denies: parent_expired, "
            "parent_suspended, parent_terminated, or parent_denied for any other reason — a "
            "sublicence allows only where its parent allows too). Read-only and "
            "deterministic. Keys need licences:check and may ask only about their own "
            "organisation's use or about assets their organisation owns (403 otherwise); fund "
            "staff about anything. A batch is answered or refused whole: field errors are "
            "keyed `checks.<index>.<field>` (422), more than "
            f"{MAX_BATCH} checks answer 413."
        ),
        request=CHECK_REQUEST,
        filters=False,
        responses={200: CHECK_RESPONSE, **problems(400, 403, 413, 422)},
        examples=[
            example("One check", CHECK_EXAMPLE, request=True),
            example(
                "A batch",
                {"checks": [CHECK_EXAMPLE, {**CHECK_EXAMPLE, "territory": "US"}]},
                request=True,
            ),
            example(
                "A use that needs exclusivity", {**CHECK_EXAMPLE, "exclusive": True}, request=True
            ),
            example("Allowed", ALLOW_EXAMPLE),
            example("Batch results", {"results": [ALLOW_EXAMPLE, DENY_EXAMPLE]}),
            example(
                "Denied: the licence lost its exclusivity to a diligence breach",
                {"decision": "deny", "licence": None, "reasons": ["diligence_breach"]},
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, dict) and "checks" in data:
            return Response({"results": licence_check(actor=self.actor, checks=data["checks"])})
        if not isinstance(data, dict):
            message = _('Send one check object, or {"checks": [...]}.')
            raise ValidationFailed(message, errors={"non_field_errors": [message]})
        return Response(licence_check_one(actor=self.actor, check=data, preloaded=self.preloaded))


def royalty_queryset(actor: Actor | None) -> QuerySet[RoyaltyReport]:
    """Reports of the licences the actor sees, each with the id of the report that
    superseded it (one subquery, not one query per row)."""
    successor = RoyaltyReport.objects.filter(supersedes=OuterRef("pk")).values("pk")[:1]
    licence_ids = licence_ids_visible_to(actor)
    reports = RoyaltyReport.objects.all()
    if licence_ids is not None:
        reports = reports.filter(licence_id__in=licence_ids)
    return (
        reports.select_related("licence")
        .annotate(superseded_by_id=Subquery(successor))
        .order_by("-reported_at", "-id")
    )


@extend_schema_view(
    list=extend_schema(
        summary="List royalty reports",
        description="Of the licences visible to the caller (keys: licences:read), newest "
        "first; filter by licence, quarter and current (not superseded).",
        examples=[example("A page of reports", page(ROYALTY_EXAMPLE))],
        responses={200: RoyaltyReportSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a royalty report",
        examples=[example("A report", ROYALTY_EXAMPLE)],
        responses={200: RoyaltyReportSerializer, **problems(403, 404)},
    ),
)
class RoyaltyReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LicensingViewSet):
    queryset = RoyaltyReport.objects.none()
    serializer_class = RoyaltyReportSerializer
    filterset_class = RoyaltyReportFilter
    required_scopes = {
        "list": LICENCES_READ,
        "retrieve": LICENCES_READ,
        "create": ROYALTIES_WRITE,
    }

    def get_queryset(self) -> QuerySet[RoyaltyReport]:
        return royalty_queryset(self.actor)

    @extend_schema(
        summary="Report a quarter's net sales (the licensee)",
        description="The licensee's people, or its keys with royalties:write; needs an "
        "Idempotency-Key (the same key and body return the first response again with "
        "`Idempotent-Replayed: true`; the same key with another body answers 422). The "
        "royalty due is max(round_half_up(net_sales × rate), floor(minimum_annual / 4)). A "
        "second report of a quarter is a correction: it supersedes the latest one and only "
        "the difference is posted. A licence whose currency is not its licensor side's "
        "currency cannot be posted (409 royalty_currency_mismatch).",
        request=RoyaltyReportCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RoyaltyReportSerializer, **problems(400, 403, 409, 422)},
        examples=[
            example(
                "Report",
                {"licence": 33, "quarter": "2026-Q3", "net_sales": 80000000},
                request=True,
            ),
            example("Reported", ROYALTY_EXAMPLE),
        ],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        body = RoyaltyReportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        licence = licences_visible_to(self.actor).filter(pk=data["licence"]).first()
        if licence is None:
            message = _("Unknown licence.")
            raise ValidationFailed(message, errors={"licence": [message]})
        report = royalty_report_submit(
            licence=licence,
            actor=self.actor,
            quarter=data["quarter"],
            net_sales=data["net_sales"],
            sublicence_income=data["sublicence_income"],
        )
        row = royalty_queryset(self.actor).get(pk=report.pk)
        location = request.build_absolute_uri(reverse("royalty-report-detail", args=[report.pk]))
        return Response(
            RoyaltyReportSerializer(row, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class FundStaffOnly(BasePermission):
    """Allocation changes are the fund's business: staff read them; officers decide."""

    message = "Only fund staff may see return-allocation changes."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_fund_staff(actor_of(request))


@extend_schema_view(
    list=extend_schema(
        summary="List return-allocation changes (fund staff)",
        description="Filter by project and state (pending, completed, withdrawn, declined).",
        examples=[example("A page of changes", page(ALLOCATION_EXAMPLE))],
        responses={200: AllocationChangeSerializer(many=True), **problems(400, 403)},
    ),
    retrieve=extend_schema(
        summary="Read a return-allocation change (fund staff)",
        examples=[example("A change", ALLOCATION_EXAMPLE)],
        responses={200: AllocationChangeSerializer, **problems(403, 404)},
    ),
)
class AllocationChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LicensingViewSet):
    queryset = AllocationChange.objects.none()
    serializer_class = AllocationChangeSerializer
    filterset_class = AllocationChangeFilter
    permission_classes = [IsAuthenticated, HasScope, FundStaffOnly]
    required_scopes: dict[str, str] = {}  # no key may: people only

    def get_queryset(self) -> QuerySet[AllocationChange]:
        return AllocationChange.objects.order_by("-first_at", "-id")

    @extend_schema(
        summary="Approve a new return-allocation table (fund officers, two-person rule)",
        description="The first approval records a pending change (201); the second, by an "
        "officer of the other side with the same table, replaces the project's table (200). "
        "The table lists [organisation id, basis points] over the project's organisations, "
        "summing to 10,000. Browser session only.",
        request=AllocationChangeCreateSerializer,
        responses={
            201: AllocationChangeSerializer,
            200: AllocationChangeSerializer,
            **problems(400, 403, 409, 422),
        },
        examples=[
            example(
                "Propose a table",
                {
                    "project": 12,
                    "table": [[7, 6000], [8, 4000]],
                    "reason": "The KR partner took over the manufacturing line.",
                },
                request=True,
            ),
            example("Pending the second officer", ALLOCATION_EXAMPLE),
        ],
    )
    def create(self, request: Request) -> Response:
        allowed, reason = can_change_allocation(self.actor)
        if not allowed:
            raise PermissionDenied(reason)
        body = AllocationChangeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        project = project_directory.get().get(data["project"])
        if project is None:
            message = _("Unknown project.")
            raise ValidationFailed(message, errors={"project": [message]})
        change = allocation_change_approve(
            project=project, actor=self.actor, table=data["table"], reason=data["reason"]
        )
        created = change.state == "pending"
        return Response(
            AllocationChangeSerializer(change).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Cancel a pending change (the same as withdraw)",
        description="Kept for callers of the first version; use `withdraw`.",
        request=None,
        responses={200: AllocationChangeSerializer, **problems(403, 404, 409)},
        examples=[example("Withdrawn", {**ALLOCATION_EXAMPLE, "state": "withdrawn"})],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._withdraw()

    @extend_schema(
        summary="Withdraw your pending approval of a change (the officer who approved first)",
        description="403 for anyone else, 409 once it is no longer pending. The change ends; "
        "a new one can be started.",
        request=None,
        responses={200: AllocationChangeSerializer, **problems(403, 404, 409)},
        examples=[example("Withdrawn", {**ALLOCATION_EXAMPLE, "state": "withdrawn"})],
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        return self._withdraw()

    def _withdraw(self) -> Response:
        change = allocation_change_withdraw(change=self.get_object(), actor=self.actor)
        return Response(AllocationChangeSerializer(change).data)

    @extend_schema(
        summary="Decline a pending change (an officer of the other side)",
        description="A fund officer of the other side than the first approval, with a reason "
        "(422 without). The table stays as it is; a new change can be started.",
        request=DeclineSerializer,
        responses={200: AllocationChangeSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[example("Decline", {"reason": "Agree the split first."}, request=True)],
    )
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        change = self.get_object()
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = allocation_change_decline(
            change=change, actor=self.actor, reason=body.validated_data["reason"]
        )
        return Response(AllocationChangeSerializer(change).data)


def urls_before_router() -> list[URLPattern]:
    """Routes matched before the router's: the licence check, the one endpoint whose URL
    resolution shows in its cost (§19), at the URLs the router gave it (``check/`` and a
    format suffix, ``check.json``)."""
    view = LicenceCheckView.as_view()

    def licence_check(request: HttpRequest) -> HttpResponse:
        return _answer_directly(request) or view(request)

    # What the schema, the API's middleware and Django read of the view (its class, its
    # methods, CSRF exemption): the view's own.
    licence_check.__dict__.update(view.__dict__)
    return [
        re_path(r"^licences/check/$", licence_check, name="licence-check"),
        re_path(r"^licences/check\.(?P<format>[a-z0-9]+)/?$", view, name="licence-check"),
    ]


def register(router: DefaultRouter) -> None:
    """Register this module's viewsets on the /api/v1/ router."""
    router.register("ip-assets", AssetViewSet, basename="ip-asset")
    router.register("licences", LicenceViewSet, basename="licence")
    router.register("royalty-reports", RoyaltyReportViewSet, basename="royalty-report")
    router.register("allocation-changes", AllocationChangeViewSet, basename="allocation-change")
    from ip_licensing import api_obligations

    api_obligations.register(router)
    royalty_integrity_api.register(router)
