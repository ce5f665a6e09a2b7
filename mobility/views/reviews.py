"""Review pages of the talent exchange (§25 as §6, §15), as the proposals' review pages.

Reviewer: the queue of their visit-application assignments, the conflict declaration
and the scoring form of one assignment; the application (visitor, organisations and
countries, dates, plan, host supervisor) shows only once they have declared no conflict,
and a submitted review is read-only. The assignment page answers 404 to anyone but its
reviewer.

Fund officer: an application's reviewers page (from the per-call list and the award
page): the assignments with their state and any exclusion reason, the submitted reviews,
and the form that assigns eligible reviewers; those the conflict rules exclude are listed
with the reasons and cannot be chosen. The page answers 404 to anyone else.

State changes only through ``mobility.services.reviews``; a refused change renders the
page again with the service's messages beside the fields and the service's status.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer
from fundapp.errors import DomainError, NotFound
from mobility.models import ApplicationState, VisitApplication, VisitReviewerAssignment
from mobility.permissions import can_score_application, get_application_for_actor
from mobility.selectors import reviews as selectors
from mobility.services.reviews import (
    ASSIGNABLE_STATES,
    application_assignment_declare,
    application_review_submit,
    application_reviewer_assign,
)
from projects.forms.reviews import AssignForm, ScoreForm
from projects.forms.reviews import DeclarationForm as ProposalDeclarationForm
from projects.models import AssignmentState, ReviewCriterion
from projects.views.reviews import declaration_post, queue_context, reviewer_forms, score_post


class DeclarationForm(ProposalDeclarationForm):
    question = gettext_lazy("Do you have a conflict of interest with this visit application?")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _assignment_or_404(user: User, pk: object) -> VisitReviewerAssignment:
    try:
        return selectors.get_assignment_for_reviewer(user, pk)
    except NotFound:
        raise Http404 from None


def _criteria(application: VisitApplication) -> list[ReviewCriterion]:
    return list(ReviewCriterion.objects.filter(call_id=application.call_id).order_by("order", "id"))


# --------------------------------------------------------------------------- reviewer


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The reviewer's visit-application assignments with their state. One query for the
    list whatever its length."""
    assignments = list(selectors.reviewer_queue(_user(request)))
    return render(
        request,
        "mobility/reviews/queue.html",
        {
            "assignments": assignments,
            **queue_context(
                assignments,
                subject=lambda a: a.application.title,
                call=lambda a: a.application.call,
            ),
        },
    )


def _may_declare(assignment: VisitReviewerAssignment) -> bool:
    return (
        assignment.state == AssignmentState.AWAITING_DECLARATION
        and assignment.application.state in ASSIGNABLE_STATES
    )


def _may_score(user: User, assignment: VisitReviewerAssignment) -> bool:
    return (
        can_score_application(user, assignment)[0]
        and assignment.application.state == ApplicationState.UNDER_REVIEW
    )


def _render_assignment(
    request: HttpRequest,
    assignment: VisitReviewerAssignment,
    *,
    declaration_form: ProposalDeclarationForm | None = None,
    score_form: ScoreForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    application = assignment.application
    conflict_free = assignment.state in selectors.CONFLICT_FREE_STATES
    may_score = _may_score(user, assignment)
    criteria = _criteria(application) if may_score else []
    own_review = (
        selectors.reviews_of_application(application)
        if assignment.state == AssignmentState.SUBMITTED
        else []
    )
    return render(
        request,
        "mobility/reviews/assignment.html",
        {
            "assignment": assignment,
            "application": application,
            "call": application.call,
            **reviewer_forms(
                may_declare=_may_declare(assignment),
                may_score=may_score,
                criteria=criteria,
                declaration_form=declaration_form,
                score_form=score_form,
                declaration_class=DeclarationForm,
            ),
            "own_review": next((r for r in own_review if r.assignment_id == assignment.pk), None),
            "show_content": conflict_free,
            "waiting_for_review": conflict_free
            and not may_score
            and assignment.state == AssignmentState.ACTIVE,
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
    if not _may_declare(assignment):
        return _render_assignment(
            request,
            assignment,
            error=_("The declaration has already been made.")
            if assignment.state != AssignmentState.AWAITING_DECLARATION
            else _("The review of this application is over."),
            status=409,
        )
    return declaration_post(
        request,
        assignment,
        declare=application_assignment_declare,
        render_page=_render_assignment,
        reload=lambda: _assignment_or_404(user, pk),
        conflicted_message=_(
            "Your conflict of interest is recorded; you will not review this application."
        ),
        cleared_message=_("Thank you. You may now read and score the application."),
        url_name="visit_reviews:assignment",
        declaration_class=DeclarationForm,
    )


@login_required
@require_POST
def assignment_score(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    assignment = _assignment_or_404(user, pk)
    if not _may_score(user, assignment):
        if assignment.state == AssignmentState.SUBMITTED:
            error = _("Your review has already been submitted; it cannot be changed.")
        elif assignment.state == AssignmentState.ACTIVE:
            error = _("Reviews are accepted only while the application is under review.")
        else:
            error = can_score_application(user, assignment)[1]
        return _render_assignment(request, assignment, error=error, status=409)
    return score_post(
        request,
        assignment,
        criteria=_criteria(assignment.application),
        submit=application_review_submit,
        render_page=_render_assignment,
        reload=lambda: _assignment_or_404(user, pk),
        url_name="visit_reviews:assignment",
    )


# --------------------------------------------------------------------------- officer


def _officer_application(request: HttpRequest, pk: int) -> tuple[User, VisitApplication]:
    user = request.user
    if not isinstance(user, User) or not is_fund_officer(user):
        raise Http404
    try:
        application = get_application_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    if application.state == ApplicationState.DRAFT:
        raise Http404
    return user, application


def _candidates(application: VisitApplication) -> tuple[Any, list[dict[str, Any]]]:
    """The reviewers not yet assigned, split into those who may be chosen (a queryset for
    the form) and those the conflict rules exclude, each with the reasons."""
    unassigned = selectors.reviewer_candidates().exclude(
        visit_review_assignments__application=application
    )
    people = list(unassigned)
    reasons = selectors.exclusions_for(application, people)
    excluded = [
        {"reviewer": person, "reasons": reasons[person.pk]}
        for person in people
        if person.pk in reasons
    ]
    return unassigned.exclude(pk__in=list(reasons)), excluded


def _render_reviewers(
    request: HttpRequest,
    application: VisitApplication,
    *,
    form: AssignForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    may_assign = application.state in ASSIGNABLE_STATES
    eligible, excluded = _candidates(application) if may_assign else (None, [])
    if may_assign and form is None:
        form = AssignForm(candidates=eligible)
    return render(
        request,
        "mobility/reviews/application.html",
        {
            "application": application,
            "assignments": list(
                VisitReviewerAssignment.objects.filter(application=application)
                .select_related("reviewer")
                .order_by("assigned_at", "id")
            ),
            "reviews": selectors.reviews_of_application(application),
            "may_assign": may_assign,
            "form": form if may_assign else None,
            "has_candidates": eligible is not None and eligible.exists(),
            "excluded": excluded,
            "error": error,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def application_reviewers(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the application's reviewers and reviews. POST: assign the chosen reviewers,
    all or none (a reviewer the conflict rules exclude is refused on the field with the
    reasons)."""
    user, application = _officer_application(request, pk)
    if request.method == "GET":
        return _render_reviewers(request, application)
    if application.state not in ASSIGNABLE_STATES:
        return _render_reviewers(
            request,
            application,
            error=_(
                "Reviewers can be assigned only to an endorsed application or one under review."
            ),
            status=409,
        )
    form = AssignForm(
        request.POST,
        candidates=selectors.reviewer_candidates().exclude(
            visit_review_assignments__application=application
        ),
    )
    if not form.is_valid():
        return _render_reviewers(request, application, form=form, status=422)
    chosen = list(form.cleaned_data["reviewers"])
    excluded = selectors.exclusions_for(application, chosen)
    for person in chosen:
        if person.pk in excluded:
            form.add_error(
                "reviewers",
                _("%(reviewer)s may not review this application: %(reasons)s")
                % {"reviewer": person, "reasons": " ".join(excluded[person.pk])},
            )
    if not form.is_valid():
        return _render_reviewers(request, application, form=form, status=422)
    try:
        with transaction.atomic():  # all the chosen reviewers or none
            for person in chosen:
                application_reviewer_assign(application=application, reviewer=person, actor=user)
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        application.refresh_from_db()
        return _render_reviewers(
            request, application, form=form, error=str(exc.message), status=exc.status
        )
    messages.success(request, _("The reviewers have been asked to declare their conflicts."))
    return redirect("visit_reviews:application", pk=application.pk)


_routes: list[URLPattern | URLResolver] = [
    path("visit-applications/reviews/", queue, name="queue"),
    path("visit-applications/reviews/<int:pk>/", assignment_detail, name="assignment"),
    path("visit-applications/reviews/<int:pk>/declare/", assignment_declare, name="declare"),
    path("visit-applications/reviews/<int:pk>/score/", assignment_score, name="score"),
    path(
        "manage/mobility/applications/<int:pk>/reviewers/",
        application_reviewers,
        name="application",
    ),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include((_routes, "visit_reviews"), namespace="visit_reviews")),
]
