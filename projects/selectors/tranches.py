"""Which tranches and disbursements an actor may see, filtered in SQL (§2, §9, §14)."""

from __future__ import annotations

from django.db.models import QuerySet

from fundapp.accounts.models import ApiKey, Organisation
from fundapp.actors import Actor
from projects.models import Disbursement, Tranche
from projects.selectors.projects import (
    EVERYTHING,
    restrict_to_visible_projects,
    visible_project_ids,
)


def agency_side(organisation: Organisation) -> str | None:
    """An agency's finance system speaks for its side's payments (see
    ``projects.permissions.can_confirm_disbursement``)."""
    if organisation.kind == Organisation.Kind.AGENCY and organisation.side in ("JP", "KR"):
        return organisation.side
    return None


def tranches_visible_to(actor: Actor | None) -> QuerySet[Tranche]:
    """The tranches of the projects the actor sees."""
    return restrict_to_visible_projects(Tranche.objects.all(), actor, via="project_id")


def disbursements_visible_to(actor: Actor | None) -> QuerySet[Disbursement]:
    """Those of the projects the actor sees; an agency's key also sees its side's."""
    rows = Disbursement.objects.all()
    side = agency_side(actor.organisation) if isinstance(actor, ApiKey) else None
    if side is None:
        return restrict_to_visible_projects(rows, actor, via="tranche__project_id")
    ids = visible_project_ids(actor)
    if ids is EVERYTHING:  # pragma: no cover - keys never see everything
        return rows
    # The side's tranches UNION those of the key's projects: a semi-join, not an OR.
    tranches = (
        Tranche.objects.filter(side=side)
        .values("id")
        .order_by()
        .union(Tranche.objects.filter(project_id__in=ids).values("id").order_by())
    )
    return rows.filter(tranche_id__in=tranches)
