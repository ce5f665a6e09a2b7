"""Writing the projects domain's partner-facing events (§13.2) in the caller's
transaction: each names the organisations allowed to see the object (a proposal's
consortium, a project's organisations; §13.3: a delivery never leaks) and carries the
object under its API field names (``projects.events``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fundapp.notifications.outbox import event_record
from projects.events import project_data, proposal_data
from projects.models import ConsortiumMember, Project, Proposal
from projects.services.notices import project_organisation_ids


def proposal_organisation_ids(proposal_id: int) -> list[int]:
    """The proposal's consortium (one query)."""
    return list(
        ConsortiumMember.objects.filter(proposal_id=proposal_id)
        .order_by("order", "id")
        .values_list("organisation_id", flat=True)
    )


def proposal_event(kind: str, proposal: Proposal, **extra: Any) -> None:
    event_record(
        kind=kind,
        obj=proposal,
        organisation_ids=proposal_organisation_ids(proposal.pk),
        payload=proposal_data(proposal, **extra),
    )


def project_event(
    kind: str, project: Project, *, organisation_ids: Iterable[int] | None = None, **extra: Any
) -> None:
    if organisation_ids is None:
        organisation_ids = project_organisation_ids([project.pk])[project.pk]
    event_record(
        kind=kind,
        obj=project,
        organisation_ids=organisation_ids,
        payload=project_data(project, **extra),
    )


def project_event_for(
    kind: str, obj: Any, *, project_id: int, data: Callable[[Any], dict[str, Any]]
) -> None:
    """An event about an object of a project (a measurement, a disbursement), for the
    project's organisations."""
    event_record(
        kind=kind,
        obj=obj,
        organisation_ids=project_organisation_ids([project_id])[project_id],
        payload=data(obj),
    )
