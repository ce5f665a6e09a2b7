"""Tranches: deciding them and releasing them into the ledger exactly once (§8, §9, §16).

Lock order across the engine's services, so concurrent work waits instead of deadlocking:
gate → project → stage → tranche → disbursement → ledger accounts (the ledger locks its
accounts in ``pk`` order, currency by currency when one statement posts in both). Rows of
one kind are locked in ``pk`` order; a batch of releases locks all its projects, then all
its tranches, then all its accounts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

from django.db import IntegrityError, connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Role, User
from fundapp.actors import Actor
from fundapp.audit.services import (
    AuditEntry,
    audit_record_many,
    audit_record_many_parts,
    object_type_of,
)
from fundapp.errors import Conflict, DomainError, NotFound
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Account, TransactionKind
from fundapp.ledger.services import (
    NEXT_TRANSACTION_ID_SQL,
    NewPosting,
    insufficient_funds_from,
    ledger_accounts_lock,
    ledger_post_many_parts,
)
from fundapp.notifications.outbox import Event, event_record_many_part
from fundapp.rows import rows_update
from fundapp.statements import Part, execute_prepared_rows, insert_part, statement_run
from projects.events import tranche_data
from projects.models import (
    Disbursement,
    GateDecision,
    Project,
    ProjectOrganisation,
    ProjectPerson,
    ProjectState,
    Stage,
    Tranche,
    TrancheState,
)
from projects.models.projects import TRANCHE_WORKFLOW
from projects.rules.gates import split_by_budget, tranche_amounts

from .notices import RecipientsNotice, notify_people_many_parts, project_urls_by_id

logger = logging.getLogger(__name__)


def release_reference(tranche_id: int) -> str:
    """The ledger's idempotency reference of a tranche's release."""
    return f"tranche:{tranche_id}:release"


def tranche_enqueue_release(tranche_id: int) -> None:
    """Ask a worker to release the tranche once the current transaction commits (§16).

    The releases asked for in one transaction go out together, as batches of
    ``RELEASE_BATCH_SIZE`` (``release_tranches``, one message per batch): each call adds
    its id to the transaction's batch and its own after-commit callback; the first of them
    to run sends every id of the batch whose tranche is decided now (one query: an id whose
    decision was rolled back with a savepoint is left out), and the others find it sent.

    A broker that cannot take the message does not fail the committed change (the
    callback is robust: logged, not raised); the reconciler enqueues the release again.
    """
    conn = transaction.get_connection()
    batch = next(
        (
            getattr(func, "release_batch")  # noqa: B009 (set on our own callbacks only)
            for _sids, func, _robust in reversed(conn.run_on_commit)
            if hasattr(func, "release_batch")
        ),
        None,
    )
    if not isinstance(batch, _ReleaseBatch) or batch.sent:
        batch = _ReleaseBatch()
    batch.ids.append(tranche_id)

    def send_releases() -> None:
        batch.send()

    send_releases.release_batch = batch  # type: ignore[attr-defined]
    send_releases.tranche_id = tranche_id  # type: ignore[attr-defined]
    transaction.on_commit(send_releases, robust=True)


class _ReleaseBatch:
    """The releases asked for in one transaction (``tranche_enqueue_release``)."""

    def __init__(self) -> None:
        self.sent = False
        self.ids: list[int] = []

    def send(self) -> None:
        if self.sent:
            return
        self.sent = True
        from projects.tasks import release_tranches

        # Django has taken the transaction's callbacks off the connection before running
        # them, so which of them a savepoint rolled back is read from the tranches: those
        # decided now are the ones to release (a release is idempotent either way).
        ids = sorted(
            Tranche.objects.filter(
                pk__in=sorted(set(self.ids)), state=TrancheState.DECIDED
            ).values_list("pk", flat=True)
        )
        for start in range(0, len(ids), RELEASE_BATCH_SIZE):
            release_tranches.delay(tranche_ids=ids[start : start + RELEASE_BATCH_SIZE])


def tranches_decide(
    *,
    tranches: list[Tranche],
    multiplier: Decimal,
    decision: GateDecision | None,
    actor: Actor | None,
) -> list[Tranche]:
    """Mark planned tranches decided with ``multiplier`` and enqueue their release.

    The caller holds the project's lock inside its transaction; the tranches are re-read
    locked in ``pk`` order here. Audited per tranche; release runs after commit.
    """
    return tranches_decide_many(
        [
            TrancheDecision(
                tranche_ids=[t.pk for t in tranches], multiplier=multiplier, decision=decision
            )
        ],
        actor=actor,
    )


@dataclass(frozen=True)
class TrancheDecision:
    """Tranches to decide with one multiplier, by one gate decision."""

    tranche_ids: Sequence[int]
    multiplier: Decimal
    decision: GateDecision | None


def tranches_decide_many(
    groups: Sequence[TrancheDecision], *, actor: Actor | None
) -> list[Tranche]:
    """``tranches_decide`` for several decisions at once, in a fixed number of queries.

    The caller holds the projects' locks inside its transaction. Every tranche is re-read
    locked in ``pk`` order (one query), checked against ``TRANCHE_WORKFLOW``, updated in
    one statement (``rows_update``: no ``CASE`` per row and field) and audited per tranche (``tranche.decided``, in the order of ``groups``);
    each release is enqueued after commit.
    """
    wanted = {pk: group for group in groups for pk in group.tranche_ids}
    if not wanted:
        return []
    now = timezone.now()
    locked = {
        t.pk: t
        for t in Tranche.objects.select_for_update(of=("self",))
        .filter(pk__in=sorted(wanted))
        .order_by("pk")
    }
    decided: list[Tranche] = []
    entries: list[AuditEntry] = []
    for group in groups:
        for pk in sorted(group.tranche_ids):
            tranche = locked.get(pk)
            if tranche is None:
                continue
            before = TRANCHE_WORKFLOW.move(tranche, TrancheState.DECIDED, actor=actor)
            tranche.multiplier = group.multiplier
            tranche.decision = group.decision
            tranche.decided_at = now
            entries.append(
                _decided_entry(
                    tranche.pk, before, tranche.planned, tranche.currency, group, actor=actor
                )
            )
            decided.append(tranche)
    rows_update(Tranche, decided, ["state", "multiplier", "decision", "decided_at"])
    audit_record_many(entries)
    for tranche in decided:
        # One after-commit callback per tranche, no query: a lost one is re-enqueued by
        # the reconciler.
        tranche_enqueue_release(tranche.pk)
    return decided


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_TRANCHE_OBJECT_TYPE = object_type_of(Tranche)


def _decided_entry(
    tranche_id: int,
    before: str,
    planned: int,
    currency: str,
    group: TrancheDecision,
    *,
    actor: Actor | None,
) -> AuditEntry:
    """The audit entry of one tranche decided by ``group``."""
    return AuditEntry(
        actor=actor,
        action="tranche.decided",
        object_type=_TRANCHE_OBJECT_TYPE,
        object_id=tranche_id,
        before={"state": before},
        after={
            "state": str(TrancheState.DECIDED),
            "multiplier": group.multiplier,
            "decision": group.decision.pk if group.decision else None,
            "planned": planned,
            "currency": currency,
        },
    )


@dataclass(frozen=True)
class StageTranches:
    """The planned tranches of a stage, to decide with one multiplier by one decision."""

    stage_id: int
    multiplier: Decimal
    decision: GateDecision | None


@dataclass(frozen=True)
class TranchesDecided:
    """Tranches decided as a part of the caller's one statement (``fundapp.statements``):
    ``part`` updates them, ``entries`` are their audit entries for the caller's audit part,
    and ``enqueue()`` asks for their releases after commit. ``part`` is ``None`` when
    there is no tranche to decide. ``by_stage``: the ids decided, by stage id, in ``pk``
    order (a stage without a planned tranche is not named), so the caller knows what each
    decision decided without reading it back."""

    tranche_ids: list[int]
    entries: list[AuditEntry]
    part: Part | None
    by_stage: dict[int, list[int]] = field(default_factory=dict)

    def enqueue(self) -> None:
        for tranche_id in self.tranche_ids:
            # One after-commit callback per tranche, no query: a lost one is re-enqueued
            # by the reconciler.
            tranche_enqueue_release(tranche_id)


_DECIDED_SQL = f"""UPDATE {_table(Tranche)} AS t
   SET state = %s::text, multiplier = v.multiplier, decision_id = v.decision_id,
       decided_at = %s::timestamptz
  FROM unnest(%s::bigint[], %s::numeric(14, 10)[], %s::bigint[])
       AS v(id, multiplier, decision_id)
 WHERE t.id = v.id"""  # noqa: S608 (table name from the model, values as parameters)


# The planned tranches of some stages, locked in ``pk`` order (as ``select_for_update``
# would: only the tranches' rows), as the plain values deciding them needs.
_PLANNED_LOCK_SQL = f"""SELECT id, stage_id, state, planned, currency FROM {_table(Tranche)}
 WHERE stage_id = ANY(%s::bigint[]) AND state = %s::text
 ORDER BY id
   FOR UPDATE"""  # noqa: S608 (table name from the model, values as parameters)


def tranches_decide_planned_parts(
    stages: Sequence[StageTranches], *, actor: Actor | None, name: str = "tranches_decided"
) -> TranchesDecided:
    """``tranches_decide_many`` for the planned tranches of ``stages``, as the part ``name``
    of the caller's one statement: the same rows and audit entries (``tranche.decided``, in
    the order of ``stages``, each stage's tranches in ``pk`` order) and the same releases
    after commit once the caller calls ``enqueue()``.

    The caller holds the projects' and stages' locks inside its transaction; the planned
    tranches of the stages are read locked in ``pk`` order here (one statement, prepared
    once per connection; none for no stage), as plain values, and checked against
    ``TRANCHE_WORKFLOW``.
    """
    if not stages:
        return TranchesDecided([], [], None)
    by_stage: dict[int, list[tuple[int, str, int, str]]] = {s.stage_id: [] for s in stages}
    for pk, stage_id, state, planned, currency in execute_prepared_rows(
        _PLANNED_LOCK_SQL, [sorted(by_stage), TrancheState.PLANNED.value]
    ):
        by_stage[stage_id].append((pk, state, planned, currency))
    ids: list[int] = []
    multipliers: list[Decimal] = []
    decision_ids: list[int | None] = []
    entries: list[AuditEntry] = []
    decided: dict[int, list[int]] = {}
    for stage in stages:
        planned_rows = by_stage[stage.stage_id]
        if not planned_rows:
            continue
        stage_ids = decided[stage.stage_id] = [pk for pk, *_rest in planned_rows]
        group = TrancheDecision(
            tranche_ids=stage_ids, multiplier=stage.multiplier, decision=stage.decision
        )
        decision_id = stage.decision.pk if stage.decision else None
        for pk, state, planned, currency in planned_rows:
            TRANCHE_WORKFLOW.check(state, TrancheState.DECIDED, actor=actor)
            entries.append(_decided_entry(pk, state, planned, currency, group, actor=actor))
        ids.extend(stage_ids)
        multipliers.extend([stage.multiplier] * len(stage_ids))
        decision_ids.extend([decision_id] * len(stage_ids))
    if not ids:
        return TranchesDecided([], [], None)
    part = Part(
        name,
        _DECIDED_SQL,
        [TrancheState.DECIDED.value, timezone.now(), ids, multipliers, decision_ids],
    )
    return TranchesDecided(ids, entries, part, decided)


_TRANCHE_FIELDS = [field.attname for field in Tranche._meta.concrete_fields]
_PROJECT_TITLES = [
    f.attname for f in Project._meta.concrete_fields if f.attname.startswith("title_")
]

# How many tranches one release task takes (``tranches_release``): enough to spread a
# transaction's fixed cost, few enough that a batch holds its locks briefly and that the
# one-by-one fallback of a refused batch stays cheap.
RELEASE_BATCH_SIZE = 100

_project_title = cast(Callable[[Any], str], cast(property, vars(Project)["title"]).fget)

# One statement locks the projects (in ``pk`` order), then the tranches (in ``pk`` order;
# the InitPlan over ``locked_project`` runs before the first tranche is locked, so the
# documented lock order holds), and reads per tranche all its release needs: the tranche
# as locked now, the project's state and title, the stage's number, the side's
# organisations and budgets in split order (ties go to the organisation listed first), the
# people to notify (the project's active PIs and the side's active finance officers; a
# UNION, so each half can use its own index), the project's organisations and, only when
# the tranche will be released, the id of its ledger transaction.
_RELEASE_READ_SQL = f"""
WITH locked_project AS MATERIALIZED (
    SELECT p.id, p.state, {", ".join(f"p.{a}" for a in _PROJECT_TITLES)} FROM {_table(Project)} p
     WHERE p.id IN (SELECT t.project_id FROM {_table(Tranche)} t WHERE t.id = ANY(%s::bigint[]))
     ORDER BY p.id
       FOR NO KEY UPDATE
), locked_tranche AS MATERIALIZED (
    SELECT {", ".join(f"t.{connection.ops.quote_name(a)}" for a in _TRANCHE_FIELDS)}
      FROM {_table(Tranche)} t
     WHERE t.id = ANY(%s::bigint[])
       AND t.project_id = ANY(ARRAY(SELECT id FROM locked_project))
     ORDER BY t.id
       FOR UPDATE
)
SELECT t.*, p.state, {", ".join(f"p.{a}" for a in _PROJECT_TITLES)}, s.number,
       ARRAY(SELECT po.organisation_id FROM {_table(ProjectOrganisation)} po
              WHERE po.project_id = t.project_id AND po.side = t.side
              ORDER BY po."order", po.id),
       ARRAY(SELECT po.budget FROM {_table(ProjectOrganisation)} po
              WHERE po.project_id = t.project_id AND po.side = t.side
              ORDER BY po."order", po.id),
       (SELECT json_agg(json_build_array(u.id, u.preferred_language, u.is_active, u.email)
                        ORDER BY u.id)
          FROM {_table(User)} u
         WHERE u.is_active AND u.id IN (
               SELECT pp.user_id FROM {_table(ProjectPerson)} pp
                WHERE pp.project_id = t.project_id AND pp.role = 'pi'
               UNION
               SELECT f.id FROM {_table(User)} f
                WHERE f.role = %s::text AND f.side = t.side)),
       CASE WHEN t.state = %s::text AND p.state <> %s::text
            THEN {NEXT_TRANSACTION_ID_SQL} END,
       ARRAY(SELECT po.organisation_id FROM {_table(ProjectOrganisation)} po
              WHERE po.project_id = t.project_id ORDER BY po.id)
  FROM locked_tranche t
  JOIN locked_project p ON p.id = t.project_id
  JOIN {_table(Stage)} s ON s.id = t.stage_id
 ORDER BY t.id
"""  # noqa: S608 (table and column names from the models, values as parameters)

# The tranches the posting wrote are marked released (a tranche whose reference was taken
# by another movement is left as it is).
_RELEASED_SQL = f"""UPDATE {_table(Tranche)}
   SET state = %s::text, released = r.released, from_reserve = r.from_reserve,
       returned_to_pool = r.returned_to_pool, released_at = %s::timestamptz,
       ledger_transaction_id = posted.id
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
       AS r(id, transaction_id, released, from_reserve, returned_to_pool)
  JOIN ledger_transaction posted ON posted.id = r.transaction_id
 WHERE {_table(Tranche)}.id = r.id
RETURNING 1"""  # noqa: S608 (table name from the model, values as parameters)


@dataclass(frozen=True)
class TranchesReleased:
    """What ``tranches_release`` did: ``tranches``, every tranche found, as it is now
    (released, or left decided while its project is suspended), in ``pk`` order; and
    ``refused``, why each of the others was not released, by tranche id."""

    tranches: list[Tranche]
    refused: dict[int, DomainError]


def tranche_release(*, tranche_id: int) -> Tranche:
    """Release one decided tranche into the ledger, exactly once (§8, §9): a batch of one
    of ``tranches_release``, whose guarantees it has, except that a tranche that cannot be
    released raises (``NotFound``; ``Conflict`` for a planned or cancelled tranche, a side
    without budget or a reference already taken; ``InsufficientFunds``) instead of being
    reported. Two statements at or below plan, four above it."""
    with transaction.atomic():
        return _release_set([tranche_id], strict=True).tranches[0]


def tranches_release(*, tranche_ids: Sequence[int]) -> TranchesReleased:
    """Release a batch of decided tranches into the ledger, each exactly once (§8, §9, §19).

    Guarantees, inside one transaction and in a fixed number of statements whatever the
    number of tranches, organisations and people (two when no tranche is above plan; two
    more per currency of the batch otherwise):

    - the projects' rows, then the tranches' rows, are locked, each in ``pk`` order; a
      tranche already released is returned unchanged (idempotent under retries,
      redelivery and concurrent workers, also for overlapping batches), a missing one,
      a planned or cancelled one, or one whose side has no organisation with a budget is
      refused (``refused``), and one whose project is suspended is left decided (nothing
      moves; the reconciler retries after resume). A completed project still receives its
      last decided tranche;
    - sizing follows ``projects.rules.gates.tranche_amounts`` with the side's reserve as
      locked now: the bonus above plan comes from the reserve and is cut to what it holds
      (tranches of one side take from it in ``pk`` order), a reduction returns the
      unreleased part to the side's pool. Only when a tranche of the batch is above plan
      are the accounts locked before sizing — every account the batch may post to,
      currency by currency in ``pk`` order, the order in which the postings' entries lock
      them — so a batch at or below plan never waits on the reserve;
    - per tranche ONE ledger transaction with reference ``tranche:{id}:release`` moves
      committed → each organisation's payable (split by budget share, largest remainder,
      ties to the organisation listed first), reserve → payables for the bonus,
      committed → pool for a reduction; the ledger's unique reference makes a second
      posting impossible;
    - one payable ``Disbursement`` per organisation with a non-zero part;
    - per tranche the ledger's ``ledger.posted`` and a ``tranche.released`` audit event and
      a ``tranche.released`` outbox event; the project's PIs and the side's finance
      officers are notified (e-mails after commit).

    The writes are one statement (``fundapp.statements``), each part owned by its app; the
    database still decides: the row locks above, the unique references, and the ledger's
    triggers and constraints. When the database refuses the batch (an account that would
    go below zero, a reference taken by another movement), nothing of it is kept and its
    tranches are released one by one (``tranche_release``), so one tranche that cannot be
    released never holds back the others.
    """
    ids = sorted(set(tranche_ids))
    if not ids:
        return TranchesReleased([], {})
    try:
        with transaction.atomic():
            return _release_set(ids, strict=False)
    except (DomainError, IntegrityError) as exc:
        logger.info("batch of %d tranches refused (%s); releasing them one by one", len(ids), exc)
    tranches: list[Tranche] = []
    refused: dict[int, DomainError] = {}
    for pk in ids:
        try:
            tranches.append(tranche_release(tranche_id=pk))
        except DomainError as exc:
            refused[pk] = exc
    return TranchesReleased(tranches, refused)


@dataclass
class _Releasing:
    """A locked, decided tranche of a batch, with what its release reads."""

    tranche: Tranche
    transaction_id: int
    project_title: str
    stage_number: int
    budgets: list[tuple[int, int]]
    recipients: list[list[Any]]
    project_organisation_ids: list[int]
    multiplier: Decimal


def _release_set(ids: Sequence[int], *, strict: bool) -> TranchesReleased:
    """Lock and read the tranches ``ids`` (sorted), then release the releasable ones in one
    statement. ``strict``: raise what refuses a tranche instead of reporting it."""
    rows = execute_prepared_rows(
        _RELEASE_READ_SQL,
        [
            list(ids),
            list(ids),
            str(Role.FINANCE_OFFICER),
            str(TrancheState.DECIDED),
            str(ProjectState.SUSPENDED),
        ],
    )
    refused: dict[int, DomainError] = {}

    def refuse(pk: int, error: DomainError) -> None:
        if strict:
            raise error
        refused[pk] = error

    fields = len(_TRANCHE_FIELDS)
    titles = len(_PROJECT_TITLES)
    found: list[Tranche] = []
    releasing: list[_Releasing] = []
    for row in rows:
        tranche = Tranche.from_db(connection.alias, _TRANCHE_FIELDS, row[:fields])
        project_state = row[fields]
        (
            stage_number,
            organisation_ids,
            organisation_budgets,
            recipients,
            transaction_id,
            project_organisation_ids,
        ) = row[fields + 1 + titles :]
        if tranche.state == TrancheState.RELEASED:
            found.append(tranche)
            continue
        if tranche.state != TrancheState.DECIDED:
            refuse(
                tranche.pk,
                Conflict(
                    _("Only a decided tranche can be released; this one is “%(state)s”.")
                    % {"state": TrancheState(tranche.state).label},
                    code="invalid_state",
                ),
            )
            continue
        if project_state == ProjectState.SUSPENDED:
            # A suspended project releases nothing; the reconciler retries after resume (§7).
            found.append(tranche)
            continue
        # ``Project.title`` in the worker's language, without building a ``Project``.
        project_title = _project_title(
            SimpleNamespace(
                **dict(zip(_PROJECT_TITLES, row[fields + 1 : fields + 1 + titles], strict=True))
            )
        )
        releasing.append(
            _Releasing(
                tranche=tranche,
                transaction_id=transaction_id,
                project_title=project_title,
                stage_number=stage_number,
                budgets=list(zip(organisation_ids, organisation_budgets, strict=True)),
                recipients=recipients or [],
                project_organisation_ids=project_organisation_ids,
                multiplier=tranche.multiplier if tranche.multiplier is not None else Decimal(1),
            )
        )
    missing = sorted(set(ids) - {row[0] for row in rows})
    for pk in missing:
        refuse(pk, NotFound(_("No such tranche.")))
    released = _release(releasing, refuse) if releasing else []
    tranches = sorted([*found, *released], key=lambda t: t.pk)
    return TranchesReleased(tranches, refused)


def _lock_accounts(releasing: Sequence[_Releasing]) -> dict[str, Account]:
    """Open and lock every account the batch may post to, currency by currency, each in
    ``pk`` order: the order in which the postings' entries would lock them."""
    codes: dict[str, set[str]] = {}
    for r in releasing:
        t = r.tranche
        wanted = codes.setdefault(t.currency, set())
        wanted.add(ledger_rules.account_code_project_committed(t.project_id, t.side))
        if r.multiplier > 1:
            wanted.add(ledger_rules.account_code_fund_reserve(t.side))
        elif r.multiplier < 1:
            wanted.add(ledger_rules.account_code_fund_pool(t.side))
        wanted.update(
            ledger_rules.account_code_org_payable(org_id, t.currency)
            for org_id, budget in r.budgets
            if budget
        )
    locked: dict[str, Account] = {}
    for currency in sorted(codes):
        locked.update(ledger_accounts_lock(codes=sorted(codes[currency]), currency=currency))
    return locked


def _release(releasing: list[_Releasing], refuse: Any) -> list[Tranche]:
    """Size the locked, decided tranches, then write all their releases in one statement."""
    locked: dict[str, Account] | None = None
    reserves: dict[str, int] = {}
    if any(r.multiplier > 1 for r in releasing):
        locked = _lock_accounts(releasing)
    now = timezone.now()
    postings: list[NewPosting] = []
    sized: list[tuple[_Releasing, Any, list[tuple[int, int]]]] = []
    for r in releasing:
        tranche = r.tranche
        project_id, side, currency = tranche.project_id, tranche.side, tranche.currency
        committed_code = ledger_rules.account_code_project_committed(project_id, side)
        reserve_code = ledger_rules.account_code_fund_reserve(side)
        reserve = 0
        if r.multiplier > 1:
            assert locked is not None
            reserve = reserves.setdefault(reserve_code, locked[reserve_code].balance)
        sizing = tranche_amounts(tranche.planned, r.multiplier, reserve)
        if sizing.released and not any(budget for _org, budget in r.budgets):
            refuse(
                tranche.pk,
                Conflict(
                    _(
                        "The %(side)s side has no organisation with a budget to receive "
                        "this tranche."
                    )
                    % {"side": side},
                    code="no_budget",
                ),
            )
            continue
        if r.multiplier > 1:
            reserves[reserve_code] = reserve - sizing.from_reserve
        parts = split_by_budget(sizing.released, r.budgets) if sizing.released else []
        legs: list[tuple[str, int]] = [
            (committed_code, -(sizing.from_committed + sizing.returned_to_pool)),
            (reserve_code, -sizing.from_reserve),
            (ledger_rules.account_code_fund_pool(side), sizing.returned_to_pool),
        ]
        legs += [
            (ledger_rules.account_code_org_payable(org_id, currency), amount)
            for org_id, amount in parts
        ]
        postings.append(
            NewPosting(
                transaction_id=r.transaction_id,
                kind=TransactionKind.TRANCHE_RELEASE,
                currency=currency,
                legs=[(code, amount) for code, amount in legs if amount],
                reference=release_reference(tranche.pk),
                memo=f"Project {project_id}, stage {r.stage_number}, {side} tranche",
            )
        )
        # The release task (or an officer's retry) pays out what a decision fixed.
        TRANCHE_WORKFLOW.move(tranche, TrancheState.RELEASED, actor=None)
        tranche.released = sizing.released
        tranche.from_reserve = sizing.from_reserve
        tranche.returned_to_pool = sizing.returned_to_pool
        tranche.released_at = now
        tranche.ledger_transaction_id = r.transaction_id
        sized.append((r, sizing, parts))
    if not sized:
        return []
    posting = ledger_post_many_parts(postings, locked=locked)
    entries: list[AuditEntry] = []
    for (r, sizing, parts), ledger_audit in zip(sized, posting.audits, strict=True):
        tranche = r.tranche
        entries.append(ledger_audit)
        entries.append(
            AuditEntry(
                actor=None,
                action="tranche.released",
                obj=tranche,
                before={"state": TrancheState.DECIDED},
                after={
                    "state": tranche.state,
                    "planned": tranche.planned,
                    "multiplier": r.multiplier,
                    "released": sizing.released,
                    "currency": tranche.currency,
                    "from_reserve": sizing.from_reserve,
                    "returned_to_pool": sizing.returned_to_pool,
                    "bonus_cut": sizing.bonus_cut,
                    "parts": [[org_id, amount] for org_id, amount in parts],
                    "ledger_transaction": r.transaction_id,
                },
            )
        )
    audit = audit_record_many_parts(entries)
    statement = [*posting.parts]
    disbursements = [
        Disbursement(
            tranche=r.tranche, organisation_id=org_id, currency=r.tranche.currency, amount=amount
        )
        for r, _sizing, parts in sized
        for org_id, amount in parts
        if amount
    ]
    if disbursements:
        statement.append(insert_part("disbursements", disbursements, only_if="ledger_transaction"))
    statement.append(
        Part(
            "tranche_released",
            _RELEASED_SQL,
            [
                str(TrancheState.RELEASED),
                now,
                [r.tranche.pk for r, _s, _p in sized],
                [r.transaction_id for r, _s, _p in sized],
                [r.tranche.released for r, _s, _p in sized],
                [r.tranche.from_reserve for r, _s, _p in sized],
                [r.tranche.returned_to_pool for r, _s, _p in sized],
            ],
        )
    )
    statement.append(audit.part)
    # The partner-facing events, for the projects' organisations, only if the postings were
    # written (like the disbursements): one more part of the same statement.
    statement.append(
        event_record_many_part(
            "outbox_events",
            [
                Event(
                    kind="tranche.released",
                    obj=r.tranche,
                    organisation_ids=r.project_organisation_ids,
                    payload=tranche_data(r.tranche, stage_number=r.stage_number),
                )
                for r, _s, _p in sized
            ],
            only_if="ledger_transaction",
        )
    )
    urls = project_urls_by_id(r.tranche.project_id for r, _s, _p in sized)
    notices = notify_people_many_parts(
        [
            RecipientsNotice(
                recipients=[tuple(values) for values in r.recipients],
                message="tranche.released",
                params={
                    "amount": sizing.released,
                    "currency": r.tranche.currency,
                    "project": r.tranche.project_id,
                    "stage": r.stage_number,
                },
                url=urls[r.tranche.project_id],
            )
            for r, sizing, _p in sized
        ]
    )
    if notices is not None:
        statement.append(notices.part)
    try:
        results = statement_run(statement)
    except IntegrityError as exc:
        refused = insufficient_funds_from(exc)
        if refused is not None:
            raise refused from exc
        raise
    posted = {txn.pk: txn for txn in posting.posted(results)}
    for r, _s, _p in sized:
        if r.transaction_id not in posted:
            # Another movement holds the reference: nothing of this tranche was written
            # (its parts select from the posting); the ledger names it. The caller's
            # transaction is rolled back with the exception.
            raise Conflict(
                _("Reference %(reference)s is already posted with other legs.")
                % {"reference": release_reference(r.tranche.pk)},
                code="ledger_reference_reused",
            )
        r.tranche.ledger_transaction = posted[r.transaction_id]
    audit.appended(results)
    if notices is not None:
        notices.notified(results)
    return [r.tranche for r, _s, _p in sized]


def tranches_awaiting_release(*, decided_before: timedelta | None = None) -> QuerySet[Tranche]:
    """Decided tranches of active (or just completed) projects: what a worker should release.

    A released tranche always has its ledger transaction (a database constraint), so
    "decided" is the only state in which a release can be pending. ``decided_before``
    leaves out tranches decided more recently than that (their task is still on its way).
    """
    qs = Tranche.objects.filter(
        state=TrancheState.DECIDED,
        project__state__in=[ProjectState.ACTIVE, ProjectState.COMPLETED],
    )
    if decided_before is not None:
        qs = qs.filter(decided_at__lte=timezone.now() - decided_before)
    return qs.order_by("pk")
