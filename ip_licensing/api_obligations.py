"""Licence obligations over the REST API (§23): ``licences/{id}/obligations/`` (list, add,
read, submit evidence, accept, waive under the two-person rule) and
``licences/{id}/breach-decisions/`` (the officers' two-person answer to a breach).

The licence is looked up first, for everyone signed in: a licence one may not see answers
404 whatever the method or the key's scopes. Scopes for API keys: ``licences:read``
reads; ``licences:check`` adds obligations (the licensor's key), submits evidence (the
licensee's) and accepts it (the licensor's). Waivers and breach decisions are fund
officers' (people in a browser session; no scope grants them). Lists answer in a
constant number of queries whatever the page size.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from fundapp.api.approvals import (
    DECISION_BLOCK_EXAMPLE,
    DeclineSerializer,
    TwoPersonDecisionSerializer,
)
from fundapp.errors import Conflict, NotFound
from fundapp.kernel.approvals import LIVE_STATES, DecisionState
from ip_licensing.api import (
    LICENCES_CHECK,
    LICENCES_READ,
    LicensingViewSet,
    example,
    page,
    problems,
)
from ip_licensing.models import (
    BreachDecision,
    BreachRemedy,
    Licence,
    Obligation,
    ObligationKind,
    ObligationWaiver,
)
from ip_licensing.selectors import get_licence_for_actor
from ip_licensing.services import obligations as obligation_services

LICENCE_PARAMETER = OpenApiParameter(
    "licence_pk", int, OpenApiParameter.PATH, description="The licence's id."
)


# --------------------------------------------------------------------------- serializers


class ObligationWaiverSerializer(serializers.ModelSerializer):
    reason = serializers.CharField(read_only=True)
    two_person = TwoPersonDecisionSerializer(source="*", read_only=True)

    class Meta:
        model = ObligationWaiver
        fields = ["id", "reason", "two_person"]
        read_only_fields = fields


class ObligationSerializer(serializers.ModelSerializer):
    """An obligation of a licence (§23)."""

    licence = serializers.IntegerField(source="licence_id", read_only=True)
    waiver = serializers.SerializerMethodField(
        help_text=gettext_lazy("The live waiver (pending or completed), or null.")
    )

    class Meta:
        model = Obligation
        fields = [
            "id",
            "licence",
            "kind",
            "description_en",
            "description_ja",
            "description_ko",
            "due_on",
            "state",
            "evidence_note",
            "evidence_submitted_at",
            "overdue_on",
            "cure_ends_on",
            "breached_on",
            "accepted_at",
            "waived_at",
            "waiver_reason",
            "created_at",
            "waiver",
        ]
        read_only_fields = fields

    @extend_schema_field(ObligationWaiverSerializer(allow_null=True))
    def get_waiver(self, obligation: Obligation) -> dict[str, Any] | None:
        live = getattr(obligation, "live_waivers", None)
        if live is None:
            live = list(obligation.waivers.filter(state__in=LIVE_STATES))
        return ObligationWaiverSerializer(live[0]).data if live else None


class ObligationCreateSerializer(serializers.Serializer):
    """Documents the body; the service validates it (422 per field)."""

    kind = serializers.ChoiceField(choices=ObligationKind.choices)
    description_en = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    description_ja = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    description_ko = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    due_on = serializers.DateField(help_text=gettext_lazy("Within the licence's term."))


class EvidenceSerializer(serializers.Serializer):
    note = serializers.CharField(
        help_text=gettext_lazy("What was done, with references to documents (≤ 8,000 chars).")
    )


class ObligationReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class BreachDecisionCreateSerializer(serializers.Serializer):
    obligation = serializers.IntegerField(
        min_value=1, help_text=gettext_lazy("Breached obligation id.")
    )
    remedy = serializers.ChoiceField(choices=BreachRemedy.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class BreachDecisionSerializer(serializers.ModelSerializer):
    licence = serializers.IntegerField(source="licence_id", read_only=True)
    obligation = serializers.IntegerField(source="obligation_id", read_only=True)
    two_person = TwoPersonDecisionSerializer(source="*", read_only=True)

    class Meta:
        model = BreachDecision
        fields = ["id", "licence", "obligation", "remedy", "reason", "two_person"]
        read_only_fields = fields


# --------------------------------------------------------------------------- examples

OBLIGATION_EXAMPLE = {
    "id": 5,
    "licence": 33,
    "kind": "first_commercial_sale",
    "description_en": "First commercial sale in Japan",
    "description_ja": "日本での最初の商業販売",
    "description_ko": "일본에서의 첫 상업 판매",
    "due_on": "2026-09-30",
    "state": "overdue",
    "evidence_note": "",
    "evidence_submitted_at": None,
    "overdue_on": "2026-10-01",
    "cure_ends_on": "2026-11-29",
    "breached_on": None,
    "accepted_at": None,
    "waived_at": None,
    "waiver_reason": "",
    "created_at": "2026-04-01T01:00:00Z",
    "waiver": None,
}
BREACH_DECISION_EXAMPLE = {
    "id": 3,
    "licence": 33,
    "obligation": 5,
    "remedy": "convert",
    "reason": "No sale within the cure period.",
    "two_person": DECISION_BLOCK_EXAMPLE,
}


# --------------------------------------------------------------------------- views


class LicenceNestedViewSet(LicensingViewSet):
    """A resource under ``licences/{licence_pk}/``: the licence is resolved before the
    scopes are judged, so a licence the caller may not see answers 404 to every method."""

    licence: Licence

    def check_permissions(self, request: Request) -> None:
        user = request.user
        if user is not None and user.is_authenticated:
            self.licence = get_licence_for_actor(self.actor, self.kwargs.get("licence_pk"))
        super().check_permissions(request)


@extend_schema_view(
    list=extend_schema(
        summary="List a licence's obligations",
        description="By due date. Everyone who sees the licence (keys: licences:read).",
        parameters=[LICENCE_PARAMETER],
        examples=[example("A page of obligations", page(OBLIGATION_EXAMPLE))],
        responses={200: ObligationSerializer(many=True), **problems(400, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Read an obligation",
        parameters=[LICENCE_PARAMETER],
        examples=[example("An obligation", OBLIGATION_EXAMPLE)],
        responses={200: ObligationSerializer, **problems(403, 404)},
    ),
)
class ObligationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LicenceNestedViewSet):
    queryset = Obligation.objects.none()
    serializer_class = ObligationSerializer
    required_scopes = {
        "list": LICENCES_READ,
        "retrieve": LICENCES_READ,
        "create": LICENCES_CHECK,
        "evidence": LICENCES_CHECK,
        "accept": LICENCES_CHECK,
        # "waive", "withdraw_waiver", "decline_waiver": fund officers in a browser session.
    }

    def get_queryset(self) -> QuerySet[Obligation]:
        live = ObligationWaiver.objects.filter(state__in=LIVE_STATES).order_by("-id")
        return (
            Obligation.objects.filter(licence=self.licence)
            .prefetch_related(Prefetch("waivers", queryset=live, to_attr="live_waivers"))
            .order_by("due_on", "id")
        )

    def get_object(self) -> Obligation:
        if not hasattr(self, "licence"):
            self.licence = get_licence_for_actor(self.actor, self.kwargs.get("licence_pk"))
        pk = str(self.kwargs.get("pk", ""))
        if not (pk.isascii() and pk.isdigit()) or not 0 < int(pk) < 2**63:
            raise NotFound()
        obligation = self.get_queryset().filter(pk=int(pk)).first()
        if obligation is None:
            raise NotFound()
        return obligation

    def _answer(self, pk: int, status_code: int = 200, **headers: str) -> Response:
        return Response(
            ObligationSerializer(self.get_queryset().get(pk=pk)).data,
            status=status_code,
            headers=headers,
        )

    @extend_schema(
        summary="Add an obligation to a licence",
        description="The licensor's members or its key (licences:check), or a fund officer, "
        "while the licence has not ended. A description in at least one language; the due "
        "date within the licence's term.",
        parameters=[LICENCE_PARAMETER],
        request=ObligationCreateSerializer,
        responses={201: ObligationSerializer, **problems(400, 403, 404, 422)},
        examples=[
            example(
                "Add",
                {
                    "kind": "first_commercial_sale",
                    "description_en": "First commercial sale in Japan",
                    "due_on": "2026-09-30",
                },
                request=True,
            ),
            example("Added", {**OBLIGATION_EXAMPLE, "state": "open", "overdue_on": None}),
        ],
    )
    def create(self, request: Request, licence_pk: str | None = None) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        obligation = obligation_services.obligation_create(
            licence=self.licence, actor=self.actor, data=data
        )
        location = request.build_absolute_uri(
            reverse("obligation-detail", args=[self.licence.pk, obligation.pk])
        )
        return self._answer(obligation.pk, status.HTTP_201_CREATED, Location=location)

    @extend_schema(
        summary="Submit evidence for an obligation (the licensee)",
        description="The licensee's members or its key (licences:check), while the "
        "obligation is open or overdue; replaces earlier evidence. 409 once settled.",
        parameters=[LICENCE_PARAMETER],
        request=EvidenceSerializer,
        responses={200: ObligationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Evidence", {"note": "Invoice 2026-118 to Naniwa Retail."}, request=True)
        ],
    )
    @action(detail=True, methods=["post"])
    def evidence(
        self, request: Request, licence_pk: str | None = None, pk: str | None = None
    ) -> Response:
        obligation = self.get_object()
        note = request.data.get("note") if isinstance(request.data, dict) else None
        obligation_services.obligation_submit_evidence(
            obligation=obligation, actor=self.actor, note=note
        )
        return self._answer(obligation.pk)

    @extend_schema(
        summary="Accept the evidence (the licensor or a fund officer)",
        description="The licensor's members or its key (licences:check), or a fund officer: "
        "an open obligation is met, an overdue one cured. 409 without evidence or once "
        "breached, waived or settled.",
        parameters=[LICENCE_PARAMETER],
        request=None,
        responses={200: ObligationSerializer, **problems(403, 404, 409)},
        examples=[example("Met", {**OBLIGATION_EXAMPLE, "state": "met"})],
    )
    @action(detail=True, methods=["post"])
    def accept(
        self, request: Request, licence_pk: str | None = None, pk: str | None = None
    ) -> Response:
        obligation = self.get_object()
        obligation_services.obligation_accept(obligation=obligation, actor=self.actor)
        return self._answer(obligation.pk)

    @extend_schema(
        summary="Waive an obligation (fund officers, two-person rule)",
        description="The first approval (with the reason) is recorded; the second, by an "
        "officer of the other side, waives the obligation. A pending waiver is cancelled "
        "when the obligation is met, cured or breached first; a later approval answers 409 "
        "(`waiver_cancelled`). Browser only.",
        parameters=[LICENCE_PARAMETER],
        request=ObligationReasonSerializer,
        responses={200: ObligationSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[example("Waive", {"reason": "Market withdrawn by regulator."}, request=True)],
    )
    @action(detail=True, methods=["post"])
    def waive(
        self, request: Request, licence_pk: str | None = None, pk: str | None = None
    ) -> Response:
        obligation = self.get_object()
        body = ObligationReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        obligation_services.obligation_waive(
            obligation=obligation, actor=self.actor, reason=body.validated_data["reason"]
        )
        return self._answer(obligation.pk)

    def _pending_waiver(self) -> ObligationWaiver:
        waiver = (
            ObligationWaiver.objects.filter(
                obligation=self.get_object(), state=DecisionState.PENDING
            )
            .order_by("-id")
            .first()
        )
        if waiver is None:
            raise Conflict(_("This obligation has no pending waiver."), code="invalid_state")
        return waiver

    @extend_schema(
        summary="Withdraw your pending approval of a waiver",
        parameters=[LICENCE_PARAMETER],
        request=None,
        responses={200: ObligationSerializer, **problems(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="waiver/withdraw")
    def withdraw_waiver(
        self, request: Request, licence_pk: str | None = None, pk: str | None = None
    ) -> Response:
        waiver = self._pending_waiver()
        obligation_services.obligation_waiver_withdraw(waiver=waiver, actor=self.actor)
        return self._answer(waiver.obligation_id)

    @extend_schema(
        summary="Decline a pending waiver (an officer of the other side)",
        parameters=[LICENCE_PARAMETER],
        request=DeclineSerializer,
        responses={200: ObligationSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"], url_path="waiver/decline")
    def decline_waiver(
        self, request: Request, licence_pk: str | None = None, pk: str | None = None
    ) -> Response:
        waiver = self._pending_waiver()
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        obligation_services.obligation_waiver_decline(
            waiver=waiver, actor=self.actor, reason=body.validated_data["reason"]
        )
        return self._answer(waiver.obligation_id)


@extend_schema_view(
    list=extend_schema(
        summary="List a licence's answers to breaches (fund staff see them; parties too)",
        parameters=[LICENCE_PARAMETER],
        examples=[example("A page", page(BREACH_DECISION_EXAMPLE))],
        responses={200: BreachDecisionSerializer(many=True), **problems(400, 403, 404)},
    ),
)
class BreachDecisionViewSet(mixins.ListModelMixin, LicenceNestedViewSet):
    queryset = BreachDecision.objects.none()
    serializer_class = BreachDecisionSerializer
    required_scopes = {"list": LICENCES_READ}

    def get_queryset(self) -> QuerySet[BreachDecision]:
        return BreachDecision.objects.filter(licence=self.licence).order_by("-id")

    @extend_schema(
        summary="Answer a breached obligation (fund officers, two-person rule)",
        description="Convert the exclusive licence to non-exclusive (from today, Asia/Tokyo; "
        "the licence check then answers diligence_breach to uses that need exclusivity), "
        "suspend it or terminate it. The first approval is recorded; the second, by an "
        "officer of the other side approving the same remedy, applies it. Browser only.",
        parameters=[LICENCE_PARAMETER],
        request=BreachDecisionCreateSerializer,
        responses={200: BreachDecisionSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example(
                "Convert",
                {"obligation": 5, "remedy": "convert", "reason": "No sale in the cure period."},
                request=True,
            ),
            example("Pending", BREACH_DECISION_EXAMPLE),
        ],
    )
    def create(self, request: Request, licence_pk: str | None = None) -> Response:
        body = BreachDecisionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        obligation = Obligation.objects.filter(
            licence=self.licence, pk=body.validated_data["obligation"]
        ).first()
        if obligation is None:
            raise NotFound()
        decision = obligation_services.breach_decide(
            licence=self.licence,
            obligation=obligation,
            actor=self.actor,
            remedy=body.validated_data["remedy"],
            reason=body.validated_data["reason"],
        )
        return Response(BreachDecisionSerializer(decision).data)

    def _pending(self) -> BreachDecision:
        pk = str(self.kwargs.get("pk", ""))
        decision = None
        if pk.isascii() and pk.isdigit() and 0 < int(pk) < 2**63:
            decision = BreachDecision.objects.filter(licence=self.licence, pk=int(pk)).first()
        if decision is None:
            raise NotFound()
        return decision

    @extend_schema(
        summary="Withdraw your pending answer to a breach",
        parameters=[LICENCE_PARAMETER],
        request=None,
        responses={200: BreachDecisionSerializer, **problems(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def withdraw(
        self, request: Request, licence_pk: str | None = None, pk: str | None = None
    ) -> Response:
        decision = obligation_services.breach_decision_withdraw(
            decision=self._pending(), actor=self.actor
        )
        return Response(BreachDecisionSerializer(decision).data)

    @extend_schema(
        summary="Decline a pending answer to a breach (an officer of the other side)",
        parameters=[LICENCE_PARAMETER],
        request=DeclineSerializer,
        responses={200: BreachDecisionSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def decline(
        self, request: Request, licence_pk: str | None = None, pk: str | None = None
    ) -> Response:
        decision = self._pending()
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = obligation_services.breach_decision_decline(
            decision=decision, actor=self.actor, reason=body.validated_data["reason"]
        )
        return Response(BreachDecisionSerializer(decision).data)


def register(router: DefaultRouter) -> None:
    router.register(
        r"licences/(?P<licence_pk>[0-9]+)/obligations", ObligationViewSet, basename="obligation"
    )
    router.register(
        r"licences/(?P<licence_pk>[0-9]+)/breach-decisions",
        BreachDecisionViewSet,
        basename="breach-decision",
    )
