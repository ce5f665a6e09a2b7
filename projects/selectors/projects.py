"""Which projects an actor may see, filtered in SQL (§2).

The filter is a semi-join: the ids of the grants UNION those of the research offices'
consortia are collected once and the projects fetched by primary key
(``id = ANY(ARRAY(… UNION …))``, see ``EqualsAny``), never an OR of ``EXISTS``, which
PostgreSQL can only evaluate row by row over the whole projects table. The lists derived
from projects (stages, gates, KPIs, measurements, tranches, disbursements, import jobs)
filter their ``project_id`` by the same ids, so none of them reads the projects table to
decide visibility. ``tests/projects/selectors/test_visibility_plans.py`` EXPLAINs them."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import F, Lookup, Model, QuerySet

from fundapp.accounts.models import ApiKey, Membership, Role, User
from fundapp.actors import Actor, is_fund_staff
from fundapp.errors import NotFound
from projects.models import Project, ProjectOrganisation, ProjectUserObjectPermission

M = TypeVar("M", bound=Model)


class _Everything:
    """The answer for fund staff: no filter at all (not a subquery that selects every id)."""


EVERYTHING = _Everything()


def visible_project_ids(actor: Actor | None) -> QuerySet[Any] | _Everything:
    """The ids of the projects the actor may see, as a subquery (one column, ``id``), or
    ``EVERYTHING``.

    - fund and finance officers and admins: every project (finance works from tranches
      and disbursements, which the project page shows);
    - a person: projects they hold guardian's ``view_project`` on (the consortium's named
      people, granted at award), and projects of organisations whose research office they
      staff;
    - an API key: projects whose consortium includes its organisation;
    - anyone else (reviewers and screening officers included): none.

    Each branch is served by an index: the grant table's unique (user, permission,
    project), memberships' unique (user, organisation) and consortium rows'
    (organisation, project).
    """
    nothing = Project.objects.none().values("pk")
    if actor is None:
        return nothing
    if isinstance(actor, ApiKey):
        return (
            ProjectOrganisation.objects.filter(organisation_id=actor.organisation_id)
            .values("project_id")
            .order_by()
        )
    if not isinstance(actor, User) or not actor.is_authenticated or not actor.is_active:
        return nothing
    if is_fund_staff(actor) and actor.role != Role.SCREENING_OFFICER:
        return EVERYTHING
    if actor.role in (Role.REVIEWER, Role.SCREENING_OFFICER):
        # Reviewers see proposals assigned to them and screening officers the proposals
        # and licences that need screening (§2); neither sees running projects.
        return nothing
    granted = (
        ProjectUserObjectPermission.objects.filter(user=actor, permission__codename="view_project")
        .values("content_object_id")
        .order_by()
    )
    office = (
        ProjectOrganisation.objects.filter(
            EqualsAny(
                F("organisation_id"),
                ArraySubquery(
                    Membership.objects.filter(user=actor, research_office=True).values(
                        "organisation_id"
                    )
                ),
            )
        )
        .values("project_id")
        .order_by()
    )
    # UNION (not UNION ALL): a project both granted and of the office is probed once.
    return granted.union(office)


class EqualsAny(Lookup):
    """``column = ANY(ARRAY(subquery))``: the visible ids are collected once (an
    InitPlan), then the rows are fetched by index for each of them.

    ``IN (subquery)`` gives the same answer, but the planner then estimates the size of
    the grant × membership union from column statistics, and at scale it guesses wrong:
    it hash-joins a sequential scan of all measurements against 100 granted projects, or
    walks the whole list-order index probing every project for an API key's few hundred.
    An array of unknown length is estimated small, which is the truth for every
    restricted actor (fund staff get no filter at all).
    """

    lookup_name = "equals_any"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def restrict_to_visible_projects(qs: QuerySet[M], actor: Actor | None, *, via: str) -> QuerySet[M]:
    """``qs`` narrowed to rows whose project (reached through the lookup ``via``, e.g.
    ``"project_id"`` or ``"stage__project_id"``) the actor may see."""
    ids = visible_project_ids(actor)
    if isinstance(ids, _Everything):
        return qs
    if not ids.query.combinator and ids.query.is_empty():
        return qs.none()
    return qs.filter(EqualsAny(F(via), ArraySubquery(ids)))


def projects_visible_to(actor: Actor | None) -> QuerySet[Project]:
    """One SQL query, no per-row checks; who sees what is ``visible_project_ids``."""
    return restrict_to_visible_projects(Project.objects.all(), actor, via="pk")


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
