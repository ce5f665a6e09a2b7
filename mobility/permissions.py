"""Who may do what with mobility calls and visit applications (§2, §25): every ``can_*``
question of the talent exchange, answered as a ``Decision`` ``(allowed, reason)``.

- the visitor (or a partner system of the home organisation) writes, submits and
  withdraws their application;
- the host organisation's research office (or its partner system) endorses or returns it;
- fund staff see every application; fund officers open the review, assign reviewers and
  decide awards (``projects.permissions.can_decide_award``, the same rule as proposals);
- a reviewer sees the applications they are assigned to and free of conflicts for;
- nobody else sees an application: it answers 404 (``get_application_for_actor``).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Membership, Scope, User
from fundapp.actors import Actor, is_fund_officer, is_fund_staff
from fundapp.errors import NotFound
from fundapp.kernel.decisions import Decision
from mobility.models import ApplicationState, Visit, VisitApplication, VisitReviewerAssignment
from projects.models import AssignmentState
from projects.permissions import can_decide_award

CONFLICT_FREE_STATES = (AssignmentState.ACTIVE, AssignmentState.SUBMITTED)


def _person(actor: Actor | None) -> User | None:
    if isinstance(actor, User) and actor.is_authenticated and actor.is_active:
        return actor
    return None


def applications_visible_to(actor: Actor | None) -> QuerySet[VisitApplication]:
    """The applications ``actor`` may see, as one filter (no query until evaluated)."""
    applications = VisitApplication.objects.all()
    if isinstance(actor, ApiKey):
        return applications.filter(
            Q(home_organisation_id=actor.organisation_id)
            | Q(host_organisation_id=actor.organisation_id)
        )
    person = _person(actor)
    if person is None:
        return applications.none()
    if is_fund_staff(person):
        return applications
    offices = Membership.objects.filter(user=person, research_office=True).values("organisation_id")
    reviewing = VisitReviewerAssignment.objects.filter(
        reviewer=person, state__in=CONFLICT_FREE_STATES
    ).values("application_id")
    return applications.filter(
        Q(visitor=person)
        | Q(host_organisation_id__in=offices, state__in=_SEEN_BY_HOST)
        | Q(home_organisation_id__in=offices, state__in=_SEEN_BY_HOST)
        | Q(pk__in=reviewing)
    )


# A draft is the visitor's alone; the offices see it from the submission on.
_SEEN_BY_HOST = [s for s in ApplicationState.values if s != ApplicationState.DRAFT]


def get_application_for_actor(actor: Actor | None, pk: object) -> VisitApplication:
    """The application ``pk`` if ``actor`` may see it; ``NotFound`` for missing and for
    not yours alike."""
    try:
        number = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound(_("No such visit application.")) from None
    application = (
        applications_visible_to(actor)
        .select_related("call", "home_organisation", "host_organisation", "visitor")
        .filter(pk=number)
        .first()
    )
    if application is None:
        raise NotFound(_("No such visit application."))
    return application


def _is_applicant(actor: Actor | None, application: VisitApplication) -> bool:
    if isinstance(actor, ApiKey):
        return actor.organisation_id == application.home_organisation_id
    person = _person(actor)
    return person is not None and person.pk == application.visitor_id


def can_create_application(actor: Actor | None) -> Decision:
    """A researcher in the browser (for themselves) or a partner system (for one of its
    organisation's researchers)."""
    if isinstance(actor, ApiKey):
        return True, ""
    person = _person(actor)
    if person is not None and not person.is_fund_staff and person.role == "researcher":
        return True, ""
    return False, _("Only researchers apply for visits.")


def can_edit_application(actor: Actor | None, application: VisitApplication) -> Decision:
    if not _is_applicant(actor, application):
        return False, _("Only the visitor may change this application.")
    if application.state != ApplicationState.DRAFT:
        return False, _("Only a draft can be changed.")
    return True, ""


def can_submit_application(actor: Actor | None, application: VisitApplication) -> Decision:
    if not _is_applicant(actor, application):
        return False, _("Only the visitor may submit this application.")
    return True, ""


def can_withdraw_application(actor: Actor | None, application: VisitApplication) -> Decision:
    if not _is_applicant(actor, application):
        return False, _("Only the visitor may withdraw this application.")
    return True, ""


def can_endorse_application(actor: Actor | None, application: VisitApplication) -> Decision:
    """The host organisation's research office, or its partner system (§25)."""
    if isinstance(actor, ApiKey):
        if actor.organisation_id == application.host_organisation_id:
            return True, ""
    else:
        person = _person(actor)
        if (
            person is not None
            and Membership.objects.filter(
                user=person,
                organisation_id=application.host_organisation_id,
                research_office=True,
            ).exists()
        ):
            return True, ""
    return False, _("Only the host organisation's research office may endorse this application.")


def can_manage_application_reviews(actor: Actor | None) -> Decision:
    """Opening the review and assigning reviewers: fund officers."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers may manage the review of visit applications.")


def can_score_application(actor: Actor | None, assignment: VisitReviewerAssignment) -> Decision:
    person = _person(actor)
    if person is None or person.pk != assignment.reviewer_id:
        return False, _("Only the assigned reviewer may score this application.")
    if assignment.state != AssignmentState.ACTIVE:
        return False, _("Declare that you have no conflict of interest before scoring.")
    return True, ""


def can_decide_visit_award(actor: Actor | None) -> Decision:
    """Award decisions: fund officers of the Japanese or the Korean side (§2), as for
    proposals."""
    return can_decide_award(actor)


# --------------------------------------------------------------------------- visits


def _is_host_office(actor: Actor | None, visit: Visit) -> bool:
    host_id = visit.application.host_organisation_id
    return (
        isinstance(actor, User)
        and actor.is_active
        and Membership.objects.filter(
            user=actor, organisation_id=host_id, research_office=True
        ).exists()
    )


def _host_key_decision(actor: ApiKey, visit: Visit) -> Decision:
    if not actor.is_usable():
        return False, _("This API key is revoked or expired.")
    if not actor.has_scope(Scope.PAYMENTS_WRITE):
        return False, _("This API key lacks the payments:write scope.")
    if actor.organisation_id != visit.application.host_organisation_id:
        return False, _("Only the host organisation's system may confirm this visit's dates.")
    return True, ""


def can_confirm_visit_dates(actor: Actor | None, visit: Visit) -> Decision:
    """Confirming a visitor's arrival or departure (§25): the host organisation's research
    office, its partner system (an API key of the host organisation with
    ``payments:write``, since the arrival releases money), or a fund officer standing in."""
    if isinstance(actor, ApiKey):
        return _host_key_decision(actor, visit)
    if is_fund_officer(actor) or _is_host_office(actor, visit):
        return True, ""
    return False, _("Only the host organisation's research office may confirm this visit's dates.")


def can_cancel_visit(actor: Actor | None, visit: Visit) -> Decision:
    """Cancelling a visit before the arrival: a fund officer (§25)."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only a fund officer may cancel a visit.")


def can_submit_final_report(actor: Actor | None, visit: Visit) -> Decision:
    """The final report is the visitor's own (§25)."""
    if isinstance(actor, User) and actor.is_active and actor.pk == visit.application.visitor_id:
        return True, ""
    return False, _("Only the visitor may file the visit's final report.")


def can_download_final_report(actor: Actor | None, visit: Visit) -> Decision:
    """The final report's PDF: the visitor, the host organisation's research office and
    fund officers (§25); anyone else is answered 404."""
    person = _person(actor)
    if person is not None and (
        person.pk == visit.application.visitor_id
        or is_fund_officer(person)
        or _is_host_office(person, visit)
    ):
        return True, ""
    return False, _(
        "Only the visitor, the host organisation's research office and fund officers may read the final report's file."
    )
