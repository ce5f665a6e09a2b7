"""Which projects an actor may see, filtered in SQL (§2)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from fundapp.accounts.models import ApiKey, Membership, Role, User
from fundapp.actors import Actor, is_fund_staff
from fundapp.errors import NotFound
from projects.models import Project, ProjectOrganisation, ProjectUserObjectPermission


def projects_visible_to(actor: Actor | None) -> QuerySet[Project]:
    """One SQL query, no per-row checks.

    - fund and finance officers and admins: every project (finance works from tranches
      and disbursements, which the project page shows);
    - a person: projects they hold guardian's ``view_project`` on (the consortium's named
      people, granted at award), and projects of organisations whose research office they staff;
    - an API key: projects whose consortium includes its organisation.
    """
    qs = Project.objects.all()
    if actor is None:
        return qs.none()
    if isinstance(actor, ApiKey):
        return qs.filter(
            Exists(
                ProjectOrganisation.objects.filter(
                    project=OuterRef("pk"), organisation_id=actor.organisation_id
                )
            )
        )
    if not isinstance(actor, User) or not actor.is_authenticated or not actor.is_active:
        return qs.none()
    if is_fund_staff(actor) and actor.role != Role.SCREENING_OFFICER:
        return qs
    if actor.role in (Role.REVIEWER, Role.SCREENING_OFFICER):
        # Reviewers see proposals assigned to them and screening officers the proposals
        # and licences that need screening (§2); neither sees running projects.
        return qs.none()
    granted = ProjectUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=actor, permission__codename="view_project"
    )
    office = ProjectOrganisation.objects.filter(
        project=OuterRef("pk"),
        organisation__in=Membership.objects.filter(user=actor, research_office=True).values(
            "organisation"
        ),
    )
    return qs.filter(Exists(granted) | Exists(office))


def get_project_for_actor(actor: Actor | None, pk: object) -> Project:
    """Fetch and authorise in one step: missing and not-yours give the same 404."""
    try:
        pk_int = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None
    project = (
        projects_visible_to(actor)
        .select_related("call", "research_area", "current_stage")
        .filter(pk=pk_int)
        .first()
    )
    if project is None:
        raise NotFound()
    return project
