"""Who may do what with stage reports (§24), beside ``projects.permissions``.

Seeing a report is seeing its project (``projects.selectors.projects``: 404 otherwise).
On a report one can see:

- the project's **principal investigators** open the report of a stage, write its
  narrative, enter any organisation's spending lines and submit it;
- the project's other **named researchers** enter their own organisation's lines;
- a **partner system** of a consortium organisation with ``kpi:write`` (the scope for
  reporting facts, §14) enters its own organisation's lines;
- **fund officers** accept a submitted report or return it with a reason; they never
  write the consortium's figures;
- everyone else who sees the project (research offices, finance officers, keys with
  ``projects:read``) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Role, Scope, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.kernel.decisions import Decision
from projects.models import Project, ProjectOrganisation, ProjectPerson, StageReport


@dataclass(frozen=True)
class ReportRole:
    """What the actor is to one project's reports, read in one query."""

    is_pi: bool = False
    # The organisations whose lines the actor may enter (all of them for a PI).
    line_organisation_ids: frozenset[int] = frozenset()
    is_officer: bool = False


def report_role(actor: Actor | None, project: Project) -> ReportRole:
    """The actor's part in the project's reports (one query, none for officers)."""
    if is_fund_officer(actor):
        return ReportRole(is_officer=True)
    if isinstance(actor, ApiKey):
        if not actor.is_usable() or not actor.has_scope(Scope.KPI_WRITE):
            return ReportRole()
        if ProjectOrganisation.objects.filter(
            project=project, organisation_id=actor.organisation_id
        ).exists():
            return ReportRole(line_organisation_ids=frozenset({actor.organisation_id}))
        return ReportRole()
    if not isinstance(actor, User) or not actor.is_active or actor.role != Role.RESEARCHER:
        return ReportRole()
    people = list(
        ProjectPerson.objects.filter(project=project, user=actor).values_list(
            "role", "organisation_id"
        )
    )
    if any(role == "pi" for role, _org in people):
        funded = ProjectOrganisation.objects.filter(project=project).exclude(currency="")
        return ReportRole(
            is_pi=True,
            line_organisation_ids=frozenset(funded.values_list("organisation_id", flat=True)),
        )
    return ReportRole(line_organisation_ids=frozenset(org for _role, org in people))


def can_write_report(role: ReportRole) -> Decision:
    """Opening a stage's report, writing its narrative and submitting it: the PIs."""
    if role.is_pi:
        return True, ""
    return False, _("Only the project's principal investigators may write and submit its report.")


def can_enter_lines(role: ReportRole, organisation_id: int | None = None) -> Decision:
    """Entering spending lines: the PIs for every organisation, the other researchers and
    partner systems for their own organisation."""
    if organisation_id is None and role.line_organisation_ids:
        return True, ""
    if organisation_id is not None and organisation_id in role.line_organisation_ids:
        return True, ""
    return False, _(
        "Only the project's principal investigators, or the researchers and systems of that "
        "organisation, may enter its spending."
    )


def can_review_report(actor: Actor | None) -> Decision:
    """Accepting or returning a submitted report: fund officers."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers may accept or return a stage report.")


def report_is_open(report: StageReport) -> Decision:
    if report.is_open:
        return True, ""
    return False, _("This report has been submitted; it can no longer be changed.")
