"""Reviews, reviewer assignments and award decisions over the REST API (§6, §14).

These are the acts of people — reviewers and fund officers — so they answer signed-in
browser sessions only; an API key gets 403 (no partner scope covers them). Reading is
filtered in SQL by ``projects.selectors.reviews`` (blind for reviewers); writing calls one
service of ``projects.services.reviews`` or ``projects.services.awards``. Errors are
problem+json: 404 for what the caller may not see, 403 for what they may not do, 409 for a
state that does not allow it, 422 with field errors.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.models import ApiKey, User
from fundapp.api.approvals import DeclineSerializer, TwoPersonDecisionSerializer
from fundapp.api.filters import MAX_ID, IdFilter
from fundapp.api.permissions import actor_of
from fundapp.errors import NotFound, ValidationFailed
from fundapp.kernel.decisions import require as _require
from projects.models import (
    AwardDecision,
    Call,
    DecisionState,
    Proposal,
    Review,
    ReviewerAssignment,
    ReviewScore,
)
from projects.selectors import reviews as selectors
from projects.selectors.calls import calls_visible_to
from projects.selectors.proposals import get_proposal_for_actor
from projects.services import awards as award_svc
from projects.services import reviews as svc

from .proposals import problems

# --------------------------------------------------------------------------- permissions


class PeopleOnly(BasePermission):
    """Session authentication only: reviews and awards are never a partner system's act."""

    message = gettext_lazy(
        "Reviews and award decisions are made by people signed in to the fund; API keys "
        "may not use them."
    )

    def has_permission(self, request, view) -> bool:
        return not isinstance(request.user, ApiKey)


PERMISSIONS = [IsAuthenticated, PeopleOnly]


def _visible_proposal(actor: Any, value: Any, field: str = "proposal") -> Proposal:
    """A proposal named in a request body: missing and not visible are one field error."""
    try:
        return get_proposal_for_actor(actor, value)
    except NotFound:
        message = _("Unknown proposal.")
        raise ValidationFailed(message, errors={field: [message]}) from None


# --------------------------------------------------------------------------- filters


class ProposalFilter(django_filters.FilterSet):
    proposal = IdFilter(field_name="proposal_id", help_text="Proposal id.")
    call = IdFilter(field_name="proposal__call_id", help_text="Call id.")


class ReviewFilter(django_filters.FilterSet):
    proposal = IdFilter(field_name="assignment__proposal_id", help_text="Proposal id.")
    call = IdFilter(field_name="assignment__proposal__call_id", help_text="Call id.")


# --------------------------------------------------------------------------- serializers


class ScoreSerializer(serializers.ModelSerializer):
    criterion_name = serializers.CharField(source="criterion.name", read_only=True)
    weight = serializers.DecimalField(
        source="criterion.weight", max_digits=6, decimal_places=3, read_only=True
    )

    class Meta:
        model = ReviewScore
        fields = ["criterion", "criterion_name", "weight", "score"]


class ReviewSerializer(serializers.ModelSerializer):
    proposal = serializers.IntegerField(source="assignment.proposal_id", read_only=True)
    reviewer = serializers.SerializerMethodField()
    scores = ScoreSerializer(many=True, read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "proposal",
            "assignment",
            "reviewer",
            "weighted_score",
            "recommendation",
            "comment",
            "submitted_at",
            "scores",
        ]

    def get_reviewer(self, review: Review) -> int | None:
        """Officers see who wrote each review; a reviewer sees only their own name."""
        viewer = self.context.get("viewer")
        if selectors.sees_all_reviews(viewer) or (
            isinstance(viewer, User) and review.assignment.reviewer_id == viewer.pk
        ):
            return review.assignment.reviewer_id
        return None


class AssignmentSerializer(serializers.ModelSerializer):
    proposal_title = serializers.CharField(source="proposal.title", read_only=True)
    call = serializers.IntegerField(source="proposal.call_id", read_only=True)
    reviewer_name = serializers.CharField(source="reviewer.__str__", read_only=True)

    class Meta:
        model = ReviewerAssignment
        fields = [
            "id",
            "proposal",
            "proposal_title",
            "call",
            "reviewer",
            "reviewer_name",
            "state",
            "exclusion_reason",
            "conflict_note",
            "declared_at",
            "assigned_at",
            "assigned_by",
        ]


class AssignmentCreateSerializer(serializers.Serializer):
    proposal = serializers.IntegerField()
    reviewer = serializers.IntegerField()


class DeclareSerializer(serializers.Serializer):
    conflict = serializers.BooleanField()
    note = serializers.CharField(allow_blank=True, required=False, default="", max_length=4000)


class ReviewSubmitSerializer(serializers.Serializer):
    scores = serializers.JSONField(
        help_text="{criterion id: score 1–5} for every criterion of the call, or a list of "
        "{criterion, score}."
    )
    comment = serializers.CharField(allow_blank=True, required=False, default="")
    recommendation = serializers.CharField(allow_blank=True, required=False, default="")

    def score_map(self) -> Any:
        scores = self.validated_data["scores"]
        if isinstance(scores, list):
            mapped: dict[str, Any] = {}
            for item in scores:
                if not isinstance(item, dict) or "criterion" not in item:
                    raise serializers.ValidationError(
                        {"scores": [_("Each item needs a criterion and a score.")]}
                    )
                mapped[str(item["criterion"])] = item.get("score")
            return mapped
        return scores


class AwardDecisionSerializer(serializers.ModelSerializer):
    screening = serializers.SerializerMethodField()
    two_person = TwoPersonDecisionSerializer(source="*", read_only=True)

    class Meta:
        model = AwardDecision
        fields = [
            "id",
            "proposal",
            "outcome",
            "reason",
            "state",
            "first_officer",
            "first_side",
            "first_at",
            "second_officer",
            "second_side",
            "second_at",
            "screening",
            "two_person",
        ]

    def get_screening(self, decision: AwardDecision) -> str | None:
        """The proposal's screening clearance, while an award is pending on it."""
        if decision.outcome != "award" or decision.state != DecisionState.PENDING:
            return None
        return award_svc.proposal_screening_clearance(decision.proposal)


class AwardDecisionCreateSerializer(serializers.Serializer):
    proposal = serializers.IntegerField()
    outcome = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True, required=False, default="")


class RankingRowSerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True)
    research_area = serializers.CharField(source="research_area.code", default=None)
    review_count = serializers.IntegerField()
    mean_score = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)

    class Meta:
        model = Proposal
        fields = ["id", "title", "state", "research_area", "review_count", "mean_score"]


# --------------------------------------------------------------------------- examples

REVIEW_EXAMPLE = OpenApiExample(
    "A review",
    value={
        "id": 5,
        "proposal": 42,
        "assignment": 9,
        "reviewer": 31,
        "weighted_score": "3.6667",
        "recommendation": "fund_with_changes",
        "comment": "Strong team; the stage-2 KPIs are ambitious.",
        "submitted_at": "2026-05-01T03:00:00Z",
        "scores": [
            {"criterion": 1, "criterion_name": "Excellence", "weight": "2.000", "score": 4},
            {"criterion": 2, "criterion_name": "Impact", "weight": "1.000", "score": 3},
        ],
    },
    response_only=True,
)
ASSIGNMENT_EXAMPLE = OpenApiExample(
    "An excluded assignment",
    value={
        "id": 9,
        "proposal": 42,
        "proposal_title": "Edge AI accelerators",
        "call": 3,
        "reviewer": 31,
        "reviewer_name": "Dr. Kim",
        "state": "excluded",
        "exclusion_reason": "The reviewer is a member of Seoul Institute of Technology, an "
        "organisation of the consortium.",
        "conflict_note": "",
        "declared_at": None,
        "assigned_at": "2026-04-20T08:00:00Z",
        "assigned_by": 2,
    },
    response_only=True,
)
DECISION_EXAMPLE = OpenApiExample(
    "A pending award",
    value={
        "id": 4,
        "proposal": 42,
        "outcome": "award",
        "reason": "Ranked first; strong consortium.",
        "state": "pending",
        "first_officer": 2,
        "first_side": "JP",
        "first_at": "2026-05-10T01:00:00Z",
        "second_officer": None,
        "second_side": "",
        "second_at": None,
        "screening": "open",
    },
    response_only=True,
)


# --------------------------------------------------------------------------- views


@extend_schema_view(
    list=extend_schema(
        summary="List reviews",
        description="Fund officers: every review. Reviewers: their own, and the other reviews "
        "of a proposal only once their own is submitted (blind scoring). Filter by proposal "
        "or call. Signed-in sessions only (API keys: 403).",
        responses={200: ReviewSerializer(many=True), **problems(403)},
        examples=[REVIEW_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Read a review",
        responses={200: ReviewSerializer, **problems(403, 404)},
        examples=[REVIEW_EXAMPLE],
    ),
)
class ReviewViewSet(GenericViewSet):
    queryset = Review.objects.none()
    serializer_class = ReviewSerializer
    filterset_class = ReviewFilter
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Review]:
        return (
            selectors.reviews_visible_to(actor_of(self.request))
            .select_related("assignment")
            .prefetch_related(
                Prefetch("scores", queryset=ReviewScore.objects.select_related("criterion"))
            )
            .order_by("submitted_at", "id")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "viewer": actor_of(self.request)}

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        data = ReviewSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_queryset().filter(pk=_int_or_404(pk)).first()
        if review is None:
            raise NotFound()
        return Response(ReviewSerializer(review, context=self.get_serializer_context()).data)


def _int_or_404(pk: Any) -> int:
    try:
        return int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None


@extend_schema_view(
    list=extend_schema(
        summary="List reviewer assignments",
        description="Fund officers: every assignment, with automatic exclusions and their "
        "reasons. Reviewers: their own. Filter by proposal or call.",
        responses={200: AssignmentSerializer(many=True), **problems(403)},
        examples=[ASSIGNMENT_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Read a reviewer assignment",
        responses={200: AssignmentSerializer, **problems(403, 404)},
        examples=[ASSIGNMENT_EXAMPLE],
    ),
    create=extend_schema(
        summary="Assign a reviewer to a proposal",
        description="Fund officers. Idempotent per (proposal, reviewer): 201 when made, 200 "
        "with the existing assignment otherwise. A reviewer from a consortium organisation "
        "or sharing an active project with a consortium member is recorded as `excluded` "
        "with the reason.",
        request=AssignmentCreateSerializer,
        responses={
            201: AssignmentSerializer,
            200: AssignmentSerializer,
            **problems(400, 403, 409, 422),
        },
        examples=[
            OpenApiExample("Assign", value={"proposal": 42, "reviewer": 31}, request_only=True),
            ASSIGNMENT_EXAMPLE,
        ],
    ),
)
class ReviewAssignmentViewSet(GenericViewSet):
    queryset = ReviewerAssignment.objects.none()
    serializer_class = AssignmentSerializer
    filterset_class = ProposalFilter
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[ReviewerAssignment]:
        return (
            selectors.assignments_visible_to(actor_of(self.request))
            .select_related("proposal", "reviewer")
            .order_by("assigned_at", "id")
        )

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(AssignmentSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        assignment = selectors.get_assignment_for_actor(actor_of(request), pk)
        return Response(AssignmentSerializer(assignment).data)

    def create(self, request: Request) -> Response:
        actor = actor_of(request)
        _require(selectors.can_manage_reviews(actor))
        body = AssignmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = _visible_proposal(actor, body.validated_data["proposal"])
        reviewer = User.objects.filter(pk=body.validated_data["reviewer"]).first()
        if reviewer is None:
            message = _("Choose a person with the reviewer role.")
            raise ValidationFailed(message, errors={"reviewer": [message]})
        existed = ReviewerAssignment.objects.filter(proposal=proposal, reviewer=reviewer).exists()
        assignment = svc.reviewer_assign(proposal=proposal, reviewer=reviewer, actor=actor)
        return Response(
            AssignmentSerializer(assignment).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Declare conflicts of interest",
        description="The assigned reviewer only, once. `conflict: true` blocks the assignment "
        "(the note is the reason and is required); `false` makes it active.",
        request=DeclareSerializer,
        responses={200: AssignmentSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            OpenApiExample("No conflict", value={"conflict": False, "note": ""}, request_only=True)
        ],
    )
    @action(detail=True, methods=["post"])
    def declare(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_of(request)
        assignment = selectors.get_assignment_for_actor(actor, pk)
        body = DeclareSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignment = svc.assignment_declare(
            assignment=assignment,
            actor=actor,
            conflict=body.validated_data["conflict"],
            note=body.validated_data["note"],
        )
        return Response(AssignmentSerializer(assignment).data)

    @extend_schema(
        summary="Submit the review",
        description="The assigned reviewer, after declaring no conflict, once: a score of 1–5 "
        "for every criterion of the call, a comment and a recommendation (fund, "
        "fund_with_changes, do_not_fund). Field errors are keyed `scores.<criterion id>`.",
        request=ReviewSubmitSerializer,
        responses={201: ReviewSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            OpenApiExample(
                "Submit",
                value={
                    "scores": {"1": 4, "2": 3},
                    "comment": "Strong team; the stage-2 KPIs are ambitious.",
                    "recommendation": "fund_with_changes",
                },
                request_only=True,
            ),
            REVIEW_EXAMPLE,
        ],
    )
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_of(request)
        assignment = selectors.get_assignment_for_actor(actor, pk)
        body = ReviewSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        review = svc.review_submit(
            assignment=assignment,
            actor=actor,
            scores=body.score_map(),
            comment=body.validated_data["comment"],
            recommendation=body.validated_data["recommendation"],
        )
        review = (
            Review.objects.select_related("assignment")
            .prefetch_related("scores__criterion")
            .get(pk=review.pk)
        )
        return Response(
            ReviewSerializer(review, context={"viewer": actor}).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema_view(
    list=extend_schema(
        summary="List award decisions",
        description="Fund officers only; filter by proposal.",
        responses={200: AwardDecisionSerializer(many=True), **problems(403)},
        examples=[DECISION_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Read an award decision",
        responses={200: AwardDecisionSerializer, **problems(403, 404)},
        examples=[DECISION_EXAMPLE],
    ),
    create=extend_schema(
        summary="Approve awarding or rejecting a proposal (two-person rule)",
        description="Fund officers of the JP or KR side, signed in (API keys: 403). The first "
        "approval records a pending decision (201); a fund officer of the other side "
        "approving the same outcome completes it (200). The same person again, the same "
        "side, or a different outcome are refused (403, 403, 409). An award completes only "
        "when screening is cleared or not required (409 `screening_pending` otherwise, the "
        "decision stays pending); it then creates the project.",
        request=AwardDecisionCreateSerializer,
        responses={
            201: AwardDecisionSerializer,
            200: AwardDecisionSerializer,
            **problems(400, 403, 409, 422),
        },
        examples=[
            OpenApiExample(
                "Approve the award",
                value={"proposal": 42, "outcome": "award", "reason": "Ranked first."},
                request_only=True,
            ),
            DECISION_EXAMPLE,
        ],
    ),
)
class AwardDecisionViewSet(GenericViewSet):
    queryset = AwardDecision.objects.none()
    serializer_class = AwardDecisionSerializer
    filterset_class = ProposalFilter
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[AwardDecision]:
        return (
            selectors.award_decisions_visible_to(actor_of(self.request))
            .select_related("proposal")
            .order_by("-first_at", "-id")
        )

    def list(self, request: Request) -> Response:
        _require(selectors.can_manage_reviews(actor_of(request)))
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(AwardDecisionSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        decision = selectors.get_award_decision_for_actor(actor_of(request), pk)
        return Response(AwardDecisionSerializer(decision).data)

    def create(self, request: Request) -> Response:
        actor = actor_of(request)
        _require(selectors.can_decide_award(actor))
        body = AwardDecisionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = _visible_proposal(actor, body.validated_data["proposal"])
        decision = award_svc.award_approve(
            proposal=proposal,
            actor=actor,
            outcome=body.validated_data["outcome"],
            reason=body.validated_data["reason"],
        )
        decision = AwardDecision.objects.select_related("proposal").get(pk=decision.pk)
        completed = decision.state == DecisionState.COMPLETED
        return Response(
            AwardDecisionSerializer(decision).data,
            status=status.HTTP_200_OK if completed else status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Cancel a pending award decision (the same as withdraw)",
        description="Only the officer who approved first, while it is pending. Kept for "
        "callers of the first version; use `withdraw`.",
        request=None,
        responses={200: AwardDecisionSerializer, **problems(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._withdraw(request, pk)

    @extend_schema(
        summary="Withdraw your pending approval of an award decision",
        description="Only the officer who approved first, while it is pending (403 for "
        "anyone else, 409 once it is no longer pending). The decision ends; a new one can "
        "be started.",
        request=None,
        responses={200: AwardDecisionSerializer, **problems(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        return self._withdraw(request, pk)

    def _withdraw(self, request: Request, pk: str | None) -> Response:
        actor = actor_of(request)
        decision = selectors.get_award_decision_for_actor(actor, pk)
        decision = award_svc.award_decision_withdraw(decision=decision, actor=actor)
        return Response(AwardDecisionSerializer(decision).data)

    @extend_schema(
        summary="Decline a pending award decision (an officer of the other side)",
        description="A fund officer of the other side than the first approval, with a "
        "reason (422 without). The decision ends; the proposal stays under review and a new "
        "decision can be started.",
        request=DeclineSerializer,
        responses={200: AwardDecisionSerializer, **problems(400, 403, 404, 409, 422)},
        examples=[
            OpenApiExample(
                "Decline",
                value={"reason": "The reviews do not support an award."},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        actor = actor_of(request)
        decision = selectors.get_award_decision_for_actor(actor, pk)
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = award_svc.award_decision_decline(
            decision=decision, actor=actor, reason=body.validated_data["reason"]
        )
        return Response(AwardDecisionSerializer(decision).data)


class RankingFilterSerializer(serializers.Serializer):
    call = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text=gettext_lazy("Call id.")
    )


@extend_schema_view(
    list=extend_schema(
        summary="Ranking of a call's proposals under review",
        description="Fund officers. `?call=<id>` is required. Mean of the reviewers' weighted "
        "scores (decimal string, 4 places) and the number of reviews, best first.",
        parameters=[RankingFilterSerializer],
        responses={200: RankingRowSerializer(many=True), **problems(400, 403, 404)},
    ),
)
class ReviewRankingViewSet(GenericViewSet):
    queryset = Proposal.objects.none()
    serializer_class = RankingRowSerializer
    permission_classes = PERMISSIONS
    pagination_class = None

    def list(self, request: Request) -> Response:
        actor = actor_of(request)
        _require(selectors.can_manage_reviews(actor))
        query = RankingFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        call: Call | None = calls_visible_to(actor).filter(pk=query.validated_data["call"]).first()
        if call is None:
            raise NotFound()
        return Response(RankingRowSerializer(selectors.ranking(call), many=True).data)


def register(router: DefaultRouter) -> None:
    """Register this module's viewsets on the /api/v1/ router."""
    router.register("reviews", ReviewViewSet, basename="review")
    router.register("review-assignments", ReviewAssignmentViewSet, basename="review-assignment")
    router.register("award-decisions", AwardDecisionViewSet, basename="award-decision")
    router.register("review-rankings", ReviewRankingViewSet, basename="review-ranking")
