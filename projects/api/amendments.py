"""Amendments over the REST API (§24): ``/api/v1/projects/{id}/amendments/``.

A project the caller may not see answers 404 (``get_project_for_actor``), whatever it asks.
Reading needs ``projects:read`` for keys; proposing is for the project's PIs and fund
officers; approving, declining and withdrawing an approval are fund officers' (the
two-person rule, §2), and withdrawing the amendment itself is its proposer's. No scope
grants a write to a key. Thin views: the services check who may act and what is valid.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from fundapp.accounts.models import Scope
from fundapp.api.approvals import (
    DECISION_BLOCK_EXAMPLE,
    DeclineSerializer,
    TwoPersonDecisionSerializer,
)
from fundapp.api.permissions import actor_of
from projects.events_amendments import CHANGES_EXAMPLE, DIFF_EXAMPLE
from projects.models import Amendment, Project
from projects.selectors.amendments import (
    amendment_decision_shown,
    get_amendment_for_actor,
    project_amendments,
)
from projects.services import amendments as svc

from .engine import example, page, problems
from .project_scoped import PROJECT_ID, ProjectScopedViewSet
from .serializers_engine import PassThroughField

AMENDMENT_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The amendment's id."
)


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"kind": {"type": "string"}},
            "required": ["kind"],
            "additionalProperties": True,
        },
    }
)
class ChangeSetField(PassThroughField):
    """A change set: a list of changes, each an object with its ``kind`` (§24)."""


@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
class RecommittedField(PassThroughField):
    """The ledger's re-commitment per side: side → signed amount (yen or won)."""


@extend_schema_field(OpenApiTypes.ANY)
class DiffValueField(PassThroughField):
    """A value before or after a change: a number, a text, or null."""


class DiffLineSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["kpi", "stage", "budget", "tranche", "partner"])
    subject = serializers.CharField(
        help_text="What changed: a KPI id, a stage number, `stage:side` of a tranche, "
        "`organisation:category` of a budget line, an organisation id of a partner."
    )
    field = serializers.CharField()
    before = DiffValueField(allow_null=True)
    after = DiffValueField(allow_null=True)


class AmendmentSerializer(serializers.ModelSerializer):
    """An amendment with its change set, its diff and its two-person approval (the live
    one, else the latest that ended; null before any)."""

    project = serializers.IntegerField(source="project_id", read_only=True)
    proposed_by = serializers.IntegerField(source="proposed_by_id", read_only=True)
    changes = ChangeSetField(read_only=True)
    diff = DiffLineSerializer(many=True, read_only=True)
    recommitted = RecommittedField(
        read_only=True, help_text="The ledger's re-commitment per side at approval."
    )
    approval = serializers.SerializerMethodField()

    class Meta:
        model = Amendment
        fields = [
            "id",
            "project",
            "state",
            "base_version",
            "plan_version",
            "reason",
            "changes",
            "diff",
            "recommitted",
            "proposed_by",
            "proposed_at",
            "decided_at",
            "approval",
        ]

    @extend_schema_field(TwoPersonDecisionSerializer(allow_null=True))
    def get_approval(self, obj: Amendment) -> dict[str, Any] | None:
        shown = amendment_decision_shown(obj)
        return None if shown is None else dict(TwoPersonDecisionSerializer(shown).data)


class AmendmentProposeSerializer(serializers.Serializer):
    changes = ChangeSetField(
        help_text="The change set: a list of changes, each with a `kind` (kpi, stage, "
        "budget_move, tranche, partner_add, partner_remove); see §24."
    )
    reason = PassThroughField(required=False, default="", help_text="Why the plan should change.")


AMENDMENT_EXAMPLE = {
    "id": 12,
    "project": 3,
    "state": "proposed",
    "base_version": 1,
    "plan_version": None,
    "reason": "Move equipment money to the second Korean partner.",
    "changes": CHANGES_EXAMPLE,
    "diff": DIFF_EXAMPLE,
    "recommitted": {},
    "proposed_by": 41,
    "proposed_at": "2026-11-02T01:00:00Z",
    "decided_at": None,
    "approval": None,
}
APPROVED_EXAMPLE = {
    **AMENDMENT_EXAMPLE,
    "state": "approved",
    "plan_version": 2,
    "decided_at": "2026-11-04T01:00:00Z",
    "approval": {
        **DECISION_BLOCK_EXAMPLE,
        "state": "completed",
        "second_officer": 18,
        "second_side": "KR",
        "second_at": "2026-11-04T01:00:00Z",
        "needed_side": "",
    },
}


@extend_schema_view(
    list=extend_schema(
        summary="List a project's amendments",
        description="Newest first. Keys need projects:read; a project the caller may not see "
        "answers 404.",
        parameters=[PROJECT_ID],
        examples=[example("Amendments", page(AMENDMENT_EXAMPLE))],
        responses={200: AmendmentSerializer(many=True), **problems(403, 404)},
    ),
    retrieve=extend_schema(
        summary="Read an amendment",
        parameters=[PROJECT_ID, AMENDMENT_ID],
        examples=[example("An approved amendment", APPROVED_EXAMPLE)],
        responses={200: AmendmentSerializer, **problems(403, 404)},
    ),
)
class AmendmentViewSet(ProjectScopedViewSet):
    serializer_class = AmendmentSerializer
    queryset = Amendment.objects.none()
    required_scopes = {
        "list": Scope.PROJECTS_READ.value,
        "retrieve": Scope.PROJECTS_READ.value,
        # "create", "approve", "decline", "withdraw": people only.
    }

    def project_rows(self, project: Project) -> QuerySet[Amendment]:
        return project_amendments(project)

    def project_row(self, project: Project, pk: object) -> Amendment:
        return get_amendment_for_actor(actor_of(self.request), project, pk)

    def read_back(self, row: Amendment) -> Amendment:
        return project_amendments(self.project()).get(pk=row.pk)

    @extend_schema(
        summary="Propose an amendment (the project's PIs, fund officers)",
        description="The change set is checked against the current plan version (422 with "
        "field errors `changes.<i>.<field>`; a change to an evaluated stage or released "
        "money is refused the same way); the project must be active (409).",
        parameters=[PROJECT_ID],
        request=AmendmentProposeSerializer,
        responses={201: AmendmentSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example(
                "Propose",
                {"changes": AMENDMENT_EXAMPLE["changes"], "reason": AMENDMENT_EXAMPLE["reason"]},
                request=True,
            ),
            example("Proposed", AMENDMENT_EXAMPLE),
        ],
    )
    def create(self, request: Request, project_pk: str | None = None) -> Response:
        body = AmendmentProposeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        amendment = svc.amendment_propose(
            project=self.project(),
            actor=actor_of(request),
            changes=body.validated_data["changes"],
            reason=body.validated_data["reason"],
        )
        return self.row_response(amendment, 201)

    @extend_schema(
        summary="Approve an amendment (fund officers; the two-person rule)",
        description="The first approval is pending; the second, by an officer of the other "
        "side, applies the amendment: the plan version increments and the ledger re-commits "
        "the difference. A stale amendment (the plan moved on, a stage evaluated) answers "
        "409 `amendment_stale`; a growth the pool cannot cover 409 `pool_insufficient`.",
        parameters=[PROJECT_ID, AMENDMENT_ID],
        request=None,
        responses={200: AmendmentSerializer, **problems(403, 404, 409)},
        examples=[example("Approved", APPROVED_EXAMPLE)],
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        amendment = self.get_object()
        svc.amendment_approve(amendment=amendment, actor=actor_of(request))
        return self.row_response(amendment)

    @extend_schema(
        summary="Decline an amendment (fund officers), with a reason",
        description="With a pending approval, an officer of the other side declines it (the "
        "two-person rule's refusals); with none, a fund officer declines the proposal. The "
        "reason is required (422).",
        parameters=[PROJECT_ID, AMENDMENT_ID],
        request=DeclineSerializer,
        responses={200: AmendmentSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            example("Decline", {"reason": "The partner is not yet screened."}, request=True),
            example("Declined", {**AMENDMENT_EXAMPLE, "state": "declined"}),
        ],
    )
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        amendment = svc.amendment_decline(
            amendment=self.get_object(),
            actor=actor_of(request),
            reason=body.validated_data["reason"],
        )
        return self.row_response(amendment)

    @extend_schema(
        summary="Withdraw an approval, or the amendment",
        description="The officer who approved first takes the pending approval back (the "
        "amendment stays proposed); otherwise its proposer (or, for a PI's amendment, another "
        "PI of the project) withdraws the amendment.",
        parameters=[PROJECT_ID, AMENDMENT_ID],
        request=None,
        responses={200: AmendmentSerializer, **problems(403, 404, 409)},
        examples=[example("Withdrawn", {**AMENDMENT_EXAMPLE, "state": "withdrawn"})],
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, project_pk: str | None = None, pk: str | None = None):
        amendment = svc.amendment_withdraw(amendment=self.get_object(), actor=actor_of(request))
        return self.row_response(amendment)


def register(router: DefaultRouter) -> None:
    router.register(
        r"projects/(?P<project_pk>[0-9]+)/amendments", AmendmentViewSet, basename="amendment"
    )


__all__ = ["AmendmentViewSet", "register"]
