"""Reading deliverables (§24): a project's, the officers' queue of submissions, and the
mandatory ones that hold a gate. Visibility is the project's (``visible_project_ids``),
decided in SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet

from fundapp.actors import Actor
from fundapp.errors import NotFound
from projects.models import Deliverable, DeliverableFile, DeliverableState, Project
from projects.selectors.projects import restrict_to_visible_projects

# The name a gate's "decision needed" notification stores for this hold (§24), explained
# when read by ``projects.notifications.gate_hold_reason``.
DELIVERABLES_HOLD = "projects.deliverables_accepted"


def deliverable_queryset(rows: QuerySet[Deliverable] | None = None) -> QuerySet[Deliverable]:
    """Deliverables with their stage and files (newest submission first): two queries
    for any number of rows."""
    rows = rows if rows is not None else Deliverable.objects.all()
    return rows.select_related("stage").prefetch_related(
        Prefetch("files", queryset=DeliverableFile.objects.order_by("-submission", "id"))
    )


def deliverables_visible_to(actor: Actor | None) -> QuerySet[Deliverable]:
    return restrict_to_visible_projects(Deliverable.objects.all(), actor, via="project_id")


def project_deliverables(project: Project) -> list[Deliverable]:
    """The project's deliverables by stage and due date, with their files (two queries)."""
    return list(
        deliverable_queryset(Deliverable.objects.filter(project=project)).order_by(
            "stage__number", "due_on", "id"
        )
    )


def get_deliverable_for_actor(actor: Actor | None, project: Project, pk: object) -> Deliverable:
    """A deliverable of a project the actor sees; a missing one and another project's
    answer the same 404."""
    try:
        pk_int = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None
    found = (
        deliverable_queryset(deliverables_visible_to(actor))
        .filter(project=project, pk=pk_int)
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def submitted_deliverables() -> QuerySet[Deliverable]:
    """The officers' queue: deliverables awaiting acceptance, oldest submission first,
    with their project and stage joined (one query for any number of rows)."""
    return (
        Deliverable.objects.filter(state=DeliverableState.SUBMITTED)
        .select_related("project", "stage", "submitted_by", "submitted_by_api_key")
        .order_by("submitted_at", "id")
    )


def deliverables_holding_gates(stage_ids: Iterable[int]) -> dict[int, list[Deliverable]]:
    """For each of the stages that has any, its mandatory deliverables not yet accepted
    (§24: its gate cannot be decided), by stage id, in due order; one query, none for no
    stages."""
    ids = sorted({int(pk) for pk in stage_ids})
    held: dict[int, list[Deliverable]] = defaultdict(list)
    if not ids:
        return {}
    for deliverable in (
        Deliverable.objects.filter(stage_id__in=ids, mandatory=True)
        .exclude(state=DeliverableState.ACCEPTED)
        .order_by("stage_id", "due_on", "id")
    ):
        held[deliverable.stage_id].append(deliverable)
    return dict(held)
