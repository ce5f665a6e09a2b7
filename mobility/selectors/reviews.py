"""Reading the review of visit applications (§25 as §6): a reviewer's queue and their one
assignment (404 for anyone else), the people an officer may assign, and the screening
status of a call's applications in one query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from fundapp.accounts.models import Membership, Role, User
from fundapp.actors import Actor
from fundapp.errors import NotFound
from fundapp.screening.models import LIVE_STATES, ScreeningCase
from mobility.models import (
    ApplicationState,
    VisitApplication,
    VisitReview,
    VisitReviewerAssignment,
)
from mobility.permissions import CONFLICT_FREE_STATES
from mobility.services.screening import SCREENING_SUBJECT
from projects.models import ProjectPerson, ProjectState

__all__ = [
    "CONFLICT_FREE_STATES",
    "exclusions_for",
    "ScreeningStatus",
    "get_assignment_for_reviewer",
    "reviewer_candidates",
    "reviewer_queue",
    "reviews_of_application",
    "screening_statuses",
]


# The states in which the review has been opened, and with it the screening case.
REVIEWED_STATES = (
    ApplicationState.UNDER_REVIEW,
    ApplicationState.AWARDED,
    ApplicationState.REJECTED,
)


def _person(actor: Actor | None) -> User | None:
    if isinstance(actor, User) and actor.is_authenticated and actor.is_active:
        return actor
    return None


def reviewer_queue(actor: Actor | None) -> QuerySet[VisitReviewerAssignment]:
    """The reviewer's own assignments, newest first, with what the queue shows (the
    application's title and call): one query."""
    person = _person(actor)
    if person is None:
        return VisitReviewerAssignment.objects.none()
    return (
        VisitReviewerAssignment.objects.filter(reviewer=person)
        .select_related("application__call")
        .order_by("-assigned_at", "-id")
    )


def get_assignment_for_reviewer(actor: Actor | None, pk: object) -> VisitReviewerAssignment:
    """The assignment ``pk`` if ``actor`` is its reviewer; ``NotFound`` for missing and for
    anyone else's alike (officers follow the reviews on the application's review page)."""
    try:
        number = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound(_("No such review assignment.")) from None
    assignment = (
        reviewer_queue(actor)
        .select_related(
            "application__home_organisation",
            "application__host_organisation",
            "application__visitor",
            "application__research_area",
        )
        .filter(pk=number)
        .first()
    )
    if assignment is None:
        raise NotFound(_("No such review assignment."))
    return assignment


def reviewer_candidates() -> QuerySet[User]:
    """Everyone an officer may ask to review: active people with the reviewer role."""
    return User.objects.filter(role=Role.REVIEWER, is_active=True).order_by(
        "last_name", "first_name", "username"
    )


def reviews_of_application(application: VisitApplication) -> list[VisitReview]:
    """The submitted reviews of an application with their reviewer and per-criterion
    scores: two queries."""
    return list(
        VisitReview.objects.filter(assignment__application=application)
        .select_related("assignment__reviewer")
        .prefetch_related("scores__criterion")
        .order_by("submitted_at", "id")
    )


@dataclass(frozen=True)
class ScreeningStatus:
    """The live screening case's state (``open``, ``cleared``, ``blocked``) or
    ``not_required`` when the review opened without one, and the officer's reason."""

    state: str
    reason: str = ""


def screening_statuses(applications: Iterable[VisitApplication]) -> dict[int, ScreeningStatus]:
    """The screening status of each application whose review has opened (the case is
    opened then, §11): one query whatever their number. Applications not yet in review
    are left out: nothing has been screened for them yet."""
    opened = [a.pk for a in applications if a.state in REVIEWED_STATES]
    if not opened:
        return {}
    cases = {
        subject_id: ScreeningStatus(state=state, reason=reason)
        for subject_id, state, reason in ScreeningCase.objects.filter(
            subject_type=SCREENING_SUBJECT, subject_id__in=opened, state__in=LIVE_STATES
        )
        .order_by("subject_id", "pk")
        .values_list("subject_id", "state", "decision_reason")
    }
    return {pk: cases.get(pk, ScreeningStatus(state="not_required")) for pk in opened}


def exclusions_for(
    application: VisitApplication, reviewers: Iterable[User]
) -> dict[int, list[str]]:
    """``exclusion_reasons`` for many reviewers at once: reviewer id → the reasons (in the
    current language and the same words and order), for those the conflict rules exclude.
    Two queries whatever the number of reviewers; the assign service still asks
    ``exclusion_reasons`` for each reviewer it records."""
    people = {person.pk: person for person in reviewers}
    if not people:
        return {}
    reasons: dict[int, list[str]] = {pk: [] for pk in people}
    if application.visitor_id in reasons:
        reasons[application.visitor_id].append(_("The reviewer is the visitor."))
    memberships = (
        Membership.objects.filter(
            user_id__in=list(people),
            organisation_id__in=[
                application.home_organisation_id,
                application.host_organisation_id,
            ],
        )
        .select_related("organisation")
        .order_by("user_id", "organisation__code")
    )
    for membership in memberships:
        reasons[membership.user_id].append(
            _("The reviewer is a member of %(org)s, the visit's home or host organisation.")
            % {"org": membership.organisation.name}
        )
    shared = (
        ProjectPerson.objects.filter(
            user_id__in=list(people),
            project__state=ProjectState.ACTIVE,
            project__in=ProjectPerson.objects.filter(user_id=application.visitor_id).values(
                "project"
            ),
        )
        .select_related("project")
        .order_by("user_id", "project_id", "pk")
    )
    seen: set[tuple[int, int]] = set()
    for row in shared:
        if (row.user_id, row.project_id) in seen:
            continue
        seen.add((row.user_id, row.project_id))
        reasons[row.user_id].append(
            _("The reviewer shares the active project “%(project)s” with the visitor.")
            % {"project": row.project.title}
        )
    return {pk: found for pk, found in reasons.items() if found}
