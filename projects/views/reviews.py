"""Review and award pages (§6, §15).

Reviewer: the queue of their assignments, the conflict declaration, the scoring form.
Fund officer: the review panel of a proposal (start review, assign reviewers with the
automatic exclusions and their reasons, every review, the award decision with the
two-person rule and the screening status) and the ranking of a call's proposals.

Views fetch through the selectors (anything not visible answers 404), ask the ``can_*``
questions before an action (403 with the reason), and change state only through
``projects.services.reviews`` and ``projects.services.awards``. A refused change renders
the page again with the service's messages beside the fields and the service's status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import Side, User
from fundapp.errors import DomainError, NotFound, PermissionDenied
from fundapp.kernel.approval_pages import DeclineForm, two_person_panel
from fundapp.kernel.approvals import ENDED_STATES, can_act_on_decision
from fundapp.screening.reasons import reason_label
from fundapp.screening.selectors import live_case
from projects.forms.reviews import AssignForm, AwardForm, DeclarationForm, ScoreForm
from projects.models import (
    AssignmentState,
    AwardDecision,
    AwardOutcome,
    Call,
    DecisionState,
    DuplicateFlagState,
    DuplicateFundingFlag,
    Proposal,
    ProposalState,
    ResearchArea,
    ReviewCriterion,
    ReviewerAssignment,
)
from projects.permissions import can_see_duplicate_flags
from projects.selectors import reviews as selectors
from projects.selectors.calls import calls_visible_to
from projects.selectors.proposals import get_proposal_for_actor
from projects.services import awards as award_svc
from projects.services import reviews as svc

FORBIDDEN_TEMPLATE = "projects/proposals/forbidden.html"


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _forbidden(request: HttpRequest, message: object, proposal: Proposal | None = None):
    return render(
        request, FORBIDDEN_TEMPLATE, {"message": str(message), "proposal": proposal}, status=403
    )


def _assignment_or_404(user: User, pk: object) -> ReviewerAssignment:
    try:
        return selectors.get_assignment_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _proposal_or_404(user: User, pk: object) -> Proposal:
    try:
        return get_proposal_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


# --------------------------------------------------------------------------- reviewer steps
# The reviewer's pages of proposals and of visit applications (mobility) share these steps;
# each page passes what differs: its services, its page renderer, its words and URLs.

PENDING_STATES = (AssignmentState.AWAITING_DECLARATION, AssignmentState.ACTIVE)


class RenderAssignment(Protocol):
    def __call__(
        self,
        request: HttpRequest,
        assignment: Any,
        *,
        declaration_form: DeclarationForm | None = None,
        score_form: ScoreForm | None = None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse: ...


def queue_context(
    assignments: Sequence[Any], *, subject: Callable[[Any], object], call: Callable[[Any], Call]
) -> dict[str, Any]:
    """The rows of the shared queue table (``includes/reviews/queue_table.html``) and how
    many of them wait for the reviewer."""
    return {
        "assignment_rows": [
            {"assignment": a, "subject": subject(a), "call": call(a)} for a in assignments
        ],
        "pending_count": sum(1 for a in assignments if a.state in PENDING_STATES),
    }


def reviewer_forms(
    *,
    may_declare: bool,
    may_score: bool,
    criteria: Iterable[ReviewCriterion],
    declaration_form: DeclarationForm | None = None,
    score_form: ScoreForm | None = None,
    declaration_class: type[DeclarationForm] = DeclarationForm,
) -> dict[str, Any]:
    """The declaration and scoring forms of an assignment page: the bound ones given back
    after a refused POST, empty ones otherwise, none where the step is not open."""
    if may_declare and declaration_form is None:
        declaration_form = declaration_class()
    if may_score and score_form is None:
        score_form = ScoreForm(criteria=criteria)
    return {
        "declaration_form": declaration_form if may_declare else None,
        "score_form": score_form if may_score else None,
    }


def _refused(
    exc: DomainError,
    form: DeclarationForm | ScoreForm,
    forbidden: Callable[[object], HttpResponse] | None,
) -> HttpResponse | None:
    if forbidden is not None and isinstance(exc, PermissionDenied):
        return forbidden(exc.message)
    form.add_service_errors(exc.errors, exc.message)
    return None


def declaration_post(
    request: HttpRequest,
    assignment: Any,
    *,
    declare: Callable[..., Any],
    render_page: RenderAssignment,
    reload: Callable[[], Any],
    conflicted_message: str,
    cleared_message: str,
    url_name: str,
    declaration_class: type[DeclarationForm] = DeclarationForm,
    forbidden: Callable[[object], HttpResponse] | None = None,
) -> HttpResponse:
    """Validate the declaration, record it through ``declare`` (the domain's service) and
    redirect to the assignment page with a message; a refusal renders the page again with
    the messages beside the fields (422 for the form, the service's status otherwise).
    With ``forbidden``, a ``PermissionDenied`` answers its page instead."""
    form = declaration_class(request.POST)
    if not form.is_valid():
        return render_page(request, assignment, declaration_form=form, status=422)
    try:
        assignment = declare(
            assignment=assignment,
            actor=_user(request),
            conflict=form.cleaned_data["conflict"],
            note=form.cleaned_data["note"],
        )
    except DomainError as exc:
        response = _refused(exc, form, forbidden)
        if response is not None:
            return response
        return render_page(
            request, reload(), declaration_form=form, error=str(exc.message), status=exc.status
        )
    if assignment.state == AssignmentState.CONFLICTED:
        messages.success(request, conflicted_message)
    else:
        messages.success(request, cleared_message)
    return redirect(url_name, pk=assignment.pk)


def score_post(
    request: HttpRequest,
    assignment: Any,
    *,
    criteria: Iterable[ReviewCriterion],
    submit: Callable[..., Any],
    render_page: RenderAssignment,
    reload: Callable[[], Any],
    url_name: str,
    forbidden: Callable[[object], HttpResponse] | None = None,
) -> HttpResponse:
    """Validate the scores, submit the review through ``submit`` (the domain's service)
    and redirect to the assignment page; refusals as in ``declaration_post``."""
    form = ScoreForm(request.POST, criteria=criteria)
    if not form.is_valid():
        return render_page(request, assignment, score_form=form, status=422)
    try:
        submit(
            assignment=assignment,
            actor=_user(request),
            scores=form.scores(),
            comment=form.cleaned_data["comment"],
            recommendation=form.cleaned_data["recommendation"],
        )
    except DomainError as exc:
        response = _refused(exc, form, forbidden)
        if response is not None:
            return response
        return render_page(
            request, reload(), score_form=form, error=str(exc.message), status=exc.status
        )
    messages.success(request, _("Your review has been submitted."))
    return redirect(url_name, pk=assignment.pk)


# --------------------------------------------------------------------------- reviewer queue


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The reviewer's assignments with their state; for fund officers also the calls whose
    proposals are in review, each linking to its ranking."""
    user = _user(request)
    assignments = list(selectors.reviewer_queue(user))
    calls: list[Call] = []
    if selectors.can_manage_reviews(user)[0]:
        calls = list(
            calls_visible_to(user)
            .annotate(
                in_review=Count("proposals", filter=Q(proposals__state=ProposalState.UNDER_REVIEW)),
                eligible=Count("proposals", filter=Q(proposals__state=ProposalState.ELIGIBLE)),
            )
            .filter(Q(in_review__gt=0) | Q(eligible__gt=0))
            .order_by("-opens_at", "id")
        )
    return render(
        request,
        "projects/reviews/queue.html",
        {
            "assignments": assignments,
            **queue_context(
                assignments, subject=lambda a: a.proposal, call=lambda a: a.proposal.call
            ),
            "calls": calls,
            "is_officer": bool(calls) or selectors.can_manage_reviews(user)[0],
        },
    )


# --------------------------------------------------------------------------- one assignment


def _criteria(assignment: ReviewerAssignment) -> list[ReviewCriterion]:
    return list(ReviewCriterion.objects.filter(call_id=assignment.proposal.call_id))


def _render_assignment(
    request: HttpRequest,
    assignment: ReviewerAssignment,
    *,
    declaration_form: DeclarationForm | None = None,
    score_form: ScoreForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    criteria = _criteria(assignment)
    # Blind: until their own review is in, the selector returns no other review.
    reviews = selectors.proposal_reviews_for(user, assignment.proposal)
    own = next((r for r in reviews if r.assignment_id == assignment.pk), None)
    conflict_free = assignment.state in selectors.CONFLICT_FREE_STATES
    return render(
        request,
        "projects/reviews/assignment.html",
        {
            "assignment": assignment,
            "proposal": assignment.proposal,
            "call": assignment.proposal.call,
            "criteria": criteria,
            **reviewer_forms(
                may_declare=selectors.can_declare(user, assignment)[0],
                may_score=selectors.can_score(user, assignment)[0],
                criteria=criteria,
                declaration_form=declaration_form,
                score_form=score_form,
            ),
            "own_review": own,
            "other_reviews": [r for r in reviews if r.assignment_id != assignment.pk],
            "show_content": conflict_free or selectors.sees_all_reviews(user),
            "is_reviewer": assignment.reviewer_id == user.pk,
            "error": error,
        },
        status=status,
    )


@login_required
@require_GET
def assignment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_assignment(request, _assignment_or_404(_user(request), pk))


@login_required
@require_POST
def assignment_declare(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    assignment = _assignment_or_404(user, pk)
    if assignment.reviewer_id != user.pk:
        return _forbidden(
            request, _("Only the assigned reviewer may declare their conflicts of interest.")
        )
    allowed, reason = selectors.can_declare(user, assignment)
    if not allowed:
        return _render_assignment(request, assignment, error=reason, status=409)
    return declaration_post(
        request,
        assignment,
        declare=svc.assignment_declare,
        render_page=_render_assignment,
        reload=lambda: _assignment_or_404(user, pk),
        conflicted_message=_(
            "Your conflict of interest is recorded; you will not review this proposal."
        ),
        cleared_message=_("Thank you. You may now read and score the proposal."),
        url_name="reviews:assignment",
        forbidden=lambda message: _forbidden(request, message),
    )


@login_required
@require_POST
def assignment_score(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    assignment = _assignment_or_404(user, pk)
    if assignment.reviewer_id != user.pk:
        return _forbidden(request, _("Only the assigned reviewer may score this proposal."))
    allowed, reason = selectors.can_score(user, assignment)
    if not allowed:
        return _render_assignment(request, assignment, error=reason, status=409)
    return score_post(
        request,
        assignment,
        criteria=_criteria(assignment),
        submit=svc.review_submit,
        render_page=_render_assignment,
        reload=lambda: _assignment_or_404(user, pk),
        url_name="reviews:assignment",
        forbidden=lambda message: _forbidden(request, message),
    )


# --------------------------------------------------------------------------- officer panel


def _officer_proposal(request: HttpRequest, pk: int) -> Proposal | HttpResponse:
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    allowed, reason = selectors.can_manage_reviews(user)
    if not allowed:
        return _forbidden(request, reason, proposal)
    return proposal


def _award_panel(
    user: User, proposal: Proposal, decline_form: DeclineForm | None = None
) -> dict[str, Any]:
    """Who approved first, on which side, and what is still needed (§2 two-person rule)."""
    live = selectors.live_award_decision(proposal)
    cancelled = list(
        AwardDecision.objects.filter(proposal=proposal, state__in=ENDED_STATES)
        .select_related("first_officer")
        .order_by("-first_at")
    )
    needed = ""
    can_approve = (
        selectors.can_decide_award(user)[0] and proposal.state == ProposalState.UNDER_REVIEW
    )
    if live is None:
        needed = _(
            "Two approvals are needed: one fund officer from each side, with the same decision."
        )
    elif live.state == DecisionState.PENDING:
        other = Side.KR if live.first_side == Side.JP else Side.JP
        needed = _("Waiting for a fund officer of the %(side)s side to approve “%(outcome)s”.") % {
            "side": Side(other).label,
            "outcome": live.get_outcome_display(),
        }
        can_approve = can_approve and can_act_on_decision(user, live, "approve")[0]
    else:
        can_approve = False
    clearance = ""
    reasons: list[dict[str, str]] = []
    if proposal.state in (ProposalState.UNDER_REVIEW, ProposalState.AWARDED):
        clearance = award_svc.proposal_screening_clearance(proposal)
        case = live_case(subject_type=award_svc.SCREENING_SUBJECT, subject_id=proposal.pk)
        if case is not None:
            reasons = [
                {"label": reason_label(r.get("code", "")), "detail": r.get("detail", "")}
                for r in case.reasons
            ]
    flags = (
        list(DuplicateFundingFlag.objects.filter(proposal=proposal).order_by("id"))
        if can_see_duplicate_flags(user)
        else []
    )
    shown = live or (cancelled[0] if cancelled else None)
    return {
        "duplicate_flags": flags,
        "duplicate_flags_open": any(f.state == DuplicateFlagState.OPEN for f in flags),
        "decision": live,
        "two_person": two_person_panel(
            user,
            shown,
            withdraw_url=reverse("reviews:award_withdraw", args=[shown.pk]) if shown else "",
            decline_url=reverse("reviews:award_decline", args=[shown.pk]) if shown else "",
            decline_form=decline_form,
        ),
        "cancelled_decisions": cancelled,
        "needed": needed,
        "can_approve": can_approve,
        "user_side": Side(user.side).label if user.side in (Side.JP, Side.KR) else "",
        "screening": clearance,
        "screening_reasons": reasons,
        "screening_label": {
            "not_required": _("Not required (no reason and no restricted-party match)"),
            "open": _("Open: waiting for a screening officer"),
            "cleared": _("Cleared"),
            "blocked": _("Blocked"),
        }.get(clearance, ""),
        "outcomes": AwardOutcome.choices,
    }


def _render_panel(
    request: HttpRequest,
    proposal: Proposal,
    *,
    assign_form: AssignForm | None = None,
    award_form: AwardForm | None = None,
    decline_form: DeclineForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    candidates = selectors.reviewer_candidates().exclude(review_assignments__proposal=proposal)
    return render(
        request,
        "projects/reviews/proposal.html",
        {
            "proposal": proposal,
            "assignments": list(selectors.proposal_assignments(proposal)),
            "reviews": selectors.proposal_reviews_for(user, proposal),
            "criteria": list(ReviewCriterion.objects.filter(call_id=proposal.call_id)),
            "can_start": proposal.state == ProposalState.ELIGIBLE,
            "can_assign": proposal.state in selectors.ASSIGNABLE_STATES,
            "assign_form": assign_form or AssignForm(candidates=candidates),
            "has_candidates": candidates.exists(),
            "award_form": award_form or AwardForm(),
            "error": error,
            **_award_panel(user, proposal, decline_form),
        },
        status=status,
    )


@login_required
@require_GET
def proposal_panel(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _officer_proposal(request, pk)
    if isinstance(proposal, HttpResponse):
        return proposal
    return _render_panel(request, proposal)


@login_required
@require_POST
def proposal_start(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _officer_proposal(request, pk)
    if isinstance(proposal, HttpResponse):
        return proposal
    try:
        svc.proposal_start_review(proposal=proposal, actor=_user(request))
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except DomainError as exc:
        proposal.refresh_from_db()
        return _render_panel(request, proposal, error=str(exc.message), status=exc.status)
    messages.success(request, _("The review of this proposal has started."))
    return redirect("reviews:proposal", pk=proposal.pk)


@login_required
@require_POST
def proposal_assign(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    proposal = _officer_proposal(request, pk)
    if isinstance(proposal, HttpResponse):
        return proposal
    form = AssignForm(request.POST, candidates=selectors.reviewer_candidates())
    if not form.is_valid():
        return _render_panel(request, proposal, assign_form=form, status=422)
    excluded = 0
    try:
        for reviewer in form.cleaned_data["reviewers"]:
            assignment = svc.reviewer_assign(proposal=proposal, reviewer=reviewer, actor=user)
            excluded += assignment.state == AssignmentState.EXCLUDED
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        proposal.refresh_from_db()
        return _render_panel(
            request, proposal, assign_form=form, error=str(exc.message), status=exc.status
        )
    if excluded:
        messages.warning(
            request,
            _("Some reviewers were excluded automatically; the reasons are shown in the list."),
        )
    else:
        messages.success(request, _("The reviewers have been asked to declare their conflicts."))
    return redirect("reviews:proposal", pk=proposal.pk)


@login_required
@require_POST
def proposal_award(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve awarding or rejecting (first or second approval of the two-person rule)."""
    user = _user(request)
    proposal = _officer_proposal(request, pk)
    if isinstance(proposal, HttpResponse):
        return proposal
    allowed, reason = selectors.can_decide_award(user)
    if not allowed:
        return _forbidden(request, reason, proposal)
    form = AwardForm(request.POST)
    if not form.is_valid():
        return _render_panel(request, proposal, award_form=form, status=422)
    try:
        decision = award_svc.award_approve(
            proposal=proposal,
            actor=user,
            outcome=form.cleaned_data["outcome"],
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        proposal.refresh_from_db()
        return _render_panel(
            request, proposal, award_form=form, error=str(exc.message), status=exc.status
        )
    if decision.state == DecisionState.COMPLETED:
        messages.success(request, _("The decision is complete."))
    else:
        messages.success(
            request,
            _("Your approval is recorded; a fund officer of the other side must approve too."),
        )
    return redirect("reviews:proposal", pk=proposal.pk)


@login_required
@require_POST
def award_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """The first approver withdraws a pending award decision (§2)."""
    user = _user(request)
    try:
        decision = selectors.get_award_decision_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    try:
        award_svc.award_decision_withdraw(decision=decision, actor=user)
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, decision.proposal)
    except DomainError as exc:
        proposal = decision.proposal
        proposal.refresh_from_db()
        return _render_panel(request, proposal, error=str(exc.message), status=exc.status)
    messages.success(request, _("Your pending approval has been withdrawn."))
    return redirect("reviews:proposal", pk=decision.proposal_id)


@login_required
@require_POST
def award_decline(request: HttpRequest, pk: int) -> HttpResponse:
    """An officer of the other side declines a pending award decision with a reason (§2)."""
    user = _user(request)
    try:
        decision = selectors.get_award_decision_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    proposal = decision.proposal
    form = DeclineForm(request.POST)
    if not form.is_valid():
        return _render_panel(request, proposal, decline_form=form, status=422)
    try:
        award_svc.award_decision_decline(
            decision=decision, actor=user, reason=form.cleaned_data["reason"]
        )
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        proposal.refresh_from_db()
        return _render_panel(
            request, proposal, decline_form=form, error=str(exc.message), status=exc.status
        )
    messages.success(request, _("The pending decision has been declined."))
    return redirect("reviews:proposal", pk=decision.proposal_id)


# --------------------------------------------------------------------------- ranking


RANKING_STATES = {
    "under_review": (ProposalState.UNDER_REVIEW,),
    "decided": (ProposalState.AWARDED, ProposalState.REJECTED),
    "awarded": (ProposalState.AWARDED,),
    "rejected": (ProposalState.REJECTED,),
    "all": (ProposalState.UNDER_REVIEW, ProposalState.AWARDED, ProposalState.REJECTED),
}


@login_required
@require_http_methods(["GET"])
def call_ranking(request: HttpRequest, pk: int) -> HttpResponse:
    """The proposal pipeline of a call: filters (state, research area) and the ranking by
    mean weighted review score."""
    user = _user(request)
    call = calls_visible_to(user).filter(pk=pk).first()
    if call is None:
        raise Http404
    allowed, reason = selectors.can_manage_reviews(user)
    if not allowed:
        return _forbidden(request, reason)
    state_key = request.GET.get("state", "under_review")
    if state_key not in RANKING_STATES:
        state_key = "under_review"
    rows = selectors.ranking(call, states=RANKING_STATES[state_key])
    area = request.GET.get("area", "")
    if area:
        rows = rows.filter(
            Q(research_area__code=area) | Q(research_area__code__startswith=f"{area}.")
        )
    state_labels = {
        "under_review": _("Under review"),
        "decided": _("Decided"),
        "awarded": _("Awarded"),
        "rejected": _("Rejected"),
        "all": _("All"),
    }
    return render(
        request,
        "projects/reviews/ranking.html",
        {
            "call": call,
            "rows": list(rows),
            "state_filters": list(state_labels.items()),
            "selected_state": state_key,
            "areas": list(
                ResearchArea.objects.filter(Q(calls=call) | Q(proposals__call=call))
                .distinct()
                .order_by("code")
            ),
            "selected_area": area,
        },
    )


_routes = [
    path("", queue, name="queue"),
    path("assignments/<int:pk>/", assignment_detail, name="assignment"),
    path("assignments/<int:pk>/declare/", assignment_declare, name="declare"),
    path("assignments/<int:pk>/review/", assignment_score, name="score"),
    path("proposals/<int:pk>/", proposal_panel, name="proposal"),
    path("proposals/<int:pk>/start/", proposal_start, name="start"),
    path("proposals/<int:pk>/assign/", proposal_assign, name="assign"),
    path("proposals/<int:pk>/award/", proposal_award, name="award"),
    path("award-decisions/<int:pk>/cancel/", award_withdraw, name="award_cancel"),
    path("award-decisions/<int:pk>/withdraw/", award_withdraw, name="award_withdraw"),
    path("award-decisions/<int:pk>/decline/", award_decline, name="award_decline"),
    path("calls/<int:pk>/ranking/", call_ranking, name="ranking"),
]

# Namespaced "reviews:…"; the lead includes these in projects/urls.py.
urlpatterns: list[URLPattern | URLResolver] = [
    path("reviews/", include((_routes, "reviews"))),
]
