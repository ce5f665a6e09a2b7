"""Changing a project's return-allocation table (§10.5) under the two-person rule (§2).

The first fund officer's approval records a pending ``AllocationChange`` with the proposed
table; a fund officer of the other side approving the *same* table completes it, which
replaces the project's ``ReturnAllocationEntry`` rows. Royalties posted afterwards follow
the new table; what was posted before stays as it was (the ledger is never rewritten).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from fundapp.accounts.models import User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.approvals import (
    DecisionState,
    decision_approve,
    decision_decline,
    decision_withdraw,
)
from fundapp.kernel.notices import tell_other_side
from fundapp.kernel.registry import ProjectRow, project_directory
from fundapp.ledger.rules import BASIS_POINTS_WHOLE
from ip_licensing.models import AllocationChange, ReturnAllocationEntry
from ip_licensing.permissions import can_change_allocation as can_change_allocation
from ip_licensing.rules import default_allocation_table

PENDING = DecisionState.PENDING
COMPLETED = DecisionState.COMPLETED
MAX_REASON_LENGTH = 4000

Table = list[tuple[int, int]]


def _require_officer(actor: Actor) -> User:
    allowed, reason = can_change_allocation(actor)
    if not allowed or not isinstance(actor, User):
        raise PermissionDenied(reason)
    return actor


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape(table: Any) -> Table:
    """``[[org id, bp], ...]`` (or ``{"organisation", "basis_points"}`` rows) as pairs."""
    if not isinstance(table, list | tuple) or not table:
        message = _("Give the table as a list of [organisation id, basis points] rows.")
        raise ValidationFailed(message, errors={"table": [message]})
    errors: dict[str, list[str]] = {}
    pairs: Table = []
    for index, row in enumerate(table):
        if isinstance(row, dict):
            row = (row.get("organisation"), row.get("basis_points"))
        if (
            not isinstance(row, list | tuple)
            or len(row) != 2
            or not _is_int(row[0])
            or not _is_int(row[1])
        ):
            errors[f"table.{index}"] = [
                _("Each row is [organisation id, basis points], both whole numbers.")
            ]
            continue
        org_id, bp = int(row[0]), int(row[1])
        if not 0 <= bp <= BASIS_POINTS_WHOLE:
            errors[f"table.{index}"] = [_("Basis points run from 0 to 10,000.")]
            continue
        pairs.append((org_id, bp))
    if errors:
        raise ValidationFailed(_("The table has errors; see the rows."), errors=errors)
    return pairs


def _validated(project: ProjectRow, pairs: Table) -> Table:
    """The table over the project's organisations, in their order, summing to 10,000."""
    order = project_directory.get().organisation_ids(project.pk)
    errors: dict[str, list[str]] = {}
    seen: set[int] = set()
    for index, (org_id, _bp) in enumerate(pairs):
        if org_id not in order:
            errors[f"table.{index}"] = [
                _("Organisation %(id)s is not in this project's consortium.") % {"id": org_id}
            ]
        elif org_id in seen:
            errors[f"table.{index}"] = [_("Organisation %(id)s appears twice.") % {"id": org_id}]
        seen.add(org_id)
    total = sum(bp for _org, bp in pairs)
    if total != BASIS_POINTS_WHOLE:
        errors.setdefault("table", []).append(
            _("The basis points must sum to 10,000; these sum to %(total)s.") % {"total": total}
        )
    if errors:
        raise ValidationFailed(_("The table has errors; see the rows."), errors=errors)
    position = {org_id: index for index, org_id in enumerate(order)}
    return sorted(pairs, key=lambda pair: position[pair[0]])


def _same(a: Table, b: Any) -> bool:
    """Equal as allocations: the same basis points for every organisation (0 = absent)."""
    return {org: bp for org, bp in a if bp} == {int(org): int(bp) for org, bp in b if bp}


def current_table(project: ProjectRow) -> Table:
    return list(
        ReturnAllocationEntry.objects.filter(project=project)
        .order_by("id")
        .values_list("organisation_id", "basis_points")
    )


def allocation_table_start(
    project: ProjectRow, budget_by_org: Sequence[tuple[int, str, int]], krw_per_jpy: Decimal
) -> Table:
    """Write a new project's default return-allocation table: each organisation's share of
    the whole budget (``rules.default_allocation_table``), in one insert; in-kind
    organisations weigh nothing. Runs inside the project's creation (registered with the
    kernel as ``return_allocation_start``) and returns the table for its audit event.
    ``ValueError`` for a budget of zero."""
    table = default_allocation_table(budget_by_org, krw_per_jpy)
    ReturnAllocationEntry.objects.bulk_create(
        [
            ReturnAllocationEntry(project=project, organisation_id=org_id, basis_points=bp)
            for org_id, bp in table
        ]
    )
    return table


def _as_json(table: Table) -> list[list[int]]:
    return [[org_id, bp] for org_id, bp in table]


def _lock_project(project: ProjectRow) -> ProjectRow:
    return project_directory.get().lock(project.pk)


def allocation_change_approve(
    *, project: ProjectRow, actor: Actor, table: Any, reason: str
) -> AllocationChange:
    """A fund officer approves a new return-allocation table for ``project``.

    Guarantees:

    - fund officers of the JP or KR side only (403); the table is ``[[organisation id,
      basis points], ...]`` over the project's consortium organisations, each once, summing
      to 10,000; a reason is required (422);
    - the project row is locked first, so two officers approving at once are serialised
      (and the database allows one pending change per project);
    - the first approval records a pending change; the second must come from another
      person (403) of the other side (403) with the same table (409); it completes the
      change and replaces the project's ``ReturnAllocationEntry`` rows in the same
      transaction;
    - audited: ``allocation_change.approved`` (with the current and the proposed table),
      then ``allocation_change.completed`` and ``project.return_allocation_changed`` with
      the table before and after. The other side's officers are told a decision is needed.
    """
    officer = _require_officer(actor)
    pairs = _shape(table)
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        message = _("Give a reason for the change.")
        raise ValidationFailed(message, errors={"reason": [message]})
    if len(reason) > MAX_REASON_LENGTH:
        message = _("Use at most %(max)d characters.") % {"max": MAX_REASON_LENGTH}
        raise ValidationFailed(message, errors={"reason": [message]})
    with transaction.atomic():
        locked = _lock_project(project)
        pairs = _validated(locked, pairs)
        live = (
            AllocationChange.objects.select_for_update(of=("self",))
            .filter(project=locked, state=PENDING)
            .select_related("first_officer")
            .first()
        )

        def same_table(pending: AllocationChange) -> None:
            if not _same(pairs, pending.table):
                raise Conflict(
                    _(
                        "The pending change proposes another table. Approve the same table, "
                        "or ask %(first)s to withdraw the pending change first."
                    )
                    % {"first": pending.first_officer},
                    code="table_differs",
                    errors={"table": [_("This is not the table awaiting approval.")]},
                )

        before = current_table(locked) if live is None else []
        change = decision_approve(
            live=live,
            new=lambda: AllocationChange(project=locked, table=_as_json(pairs), reason=reason),
            actor=officer,
            matches=same_table,
            on_complete=lambda completed: _apply(locked, completed, officer, pairs),
            audit_first={
                "project": locked.pk,
                "table": _as_json(pairs),
                "reason": reason,
                "before": {"table": _as_json(before)},
            },
            audit_complete={"second_reason": reason},
        )
        if live is None:
            tell_other_side(
                officer=officer,
                message="allocation.awaits_approval",
                params={"project": locked.pk, "reason": reason},
            )
        return change


def _apply(project: ProjectRow, change: AllocationChange, officer: User, pairs: Table) -> None:
    """The completed change's consequence, in the same transaction: the project's table is
    replaced and the change audited on the project."""
    before = current_table(project)
    ReturnAllocationEntry.objects.filter(project=project).delete()
    ReturnAllocationEntry.objects.bulk_create(
        [
            ReturnAllocationEntry(project=project, organisation_id=org_id, basis_points=bp)
            for org_id, bp in pairs
        ]
    )
    audit_record(
        actor=officer,
        action="project.return_allocation_changed",
        obj=project,
        before={"table": _as_json(before)},
        after={"table": _as_json(pairs), "allocation_change": change.pk},
    )


def allocation_change_withdraw(*, change: AllocationChange, actor: Actor) -> AllocationChange:
    """The officer who approved first withdraws a pending change; a new one can be started.
    Locks the project, then the change; audited ``allocation_change.withdrawn``."""
    _require_officer(actor)
    return decision_withdraw(
        decision=change, actor=actor, lock_subject=lambda: _lock_project(change.project)
    )


# The name the API used first.
allocation_change_cancel = allocation_change_withdraw


def allocation_change_decline(
    *, change: AllocationChange, actor: Actor, reason: Any
) -> AllocationChange:
    """A fund officer of the other side declines a pending change with a reason; the table
    stays as it is and a new change can be started. Locks the project, then the change;
    audited ``allocation_change.declined``."""
    _require_officer(actor)
    return decision_decline(
        decision=change,
        actor=actor,
        reason=reason,
        lock_subject=lambda: _lock_project(change.project),
    )
