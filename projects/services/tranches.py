"""Tranches: deciding them and releasing them into the ledger exactly once (§8, §9, §16).

Lock order across the engine's services, so concurrent work waits instead of deadlocking:
gate → project → stage → tranche → disbursement → ledger accounts (the ledger locks its
accounts in ``pk`` order). Rows of one kind are locked in ``pk`` order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import Role, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record_many, audit_record_many_parts
from fundapp.errors import Conflict, NotFound
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Account, TransactionKind
from fundapp.ledger.services import (
    NEXT_TRANSACTION_ID_SQL,
    insufficient_funds_from,
    ledger_accounts_lock,
    ledger_post_parts,
)
from fundapp.money import format_amount
from fundapp.notifications.outbox import Event, event_record_many_part
from fundapp.statements import Part, execute_prepared, insert_part, statement_run
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

from .notices import notify_people_parts, project_url_of


def release_reference(tranche_id: int) -> str:
    """The ledger's idempotency reference of a tranche's release."""
    return f"tranche:{tranche_id}:release"


def tranche_enqueue_release(tranche_id: int) -> None:
    """Ask a worker to release the tranche once the current transaction commits (§16).

    A broker that cannot take the message does not fail the committed change (the
    callback is robust: logged, not raised); the reconciler enqueues the release again.
    """
    from projects.tasks import release_tranche

    transaction.on_commit(lambda: release_tranche.delay(tranche_id=tranche_id), robust=True)


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
    one statement and audited per tranche (``tranche.decided``, in the order of ``groups``);
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
                AuditEntry(
                    actor=actor,
                    action="tranche.decided",
                    obj=tranche,
                    before={"state": before},
                    after={
                        "state": tranche.state,
                        "multiplier": group.multiplier,
                        "decision": group.decision.pk if group.decision else None,
                        "planned": tranche.planned,
                        "currency": tranche.currency,
                    },
                )
            )
            decided.append(tranche)
    Tranche.objects.bulk_update(decided, ["state", "multiplier", "decision", "decided_at"])
    audit_record_many(entries)
    for tranche in decided:
        # One after-commit callback per tranche, no query: a lost one is re-enqueued by
        # the reconciler.
        tranche_enqueue_release(tranche.pk)
    return decided


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_TRANCHE_FIELDS = [field.attname for field in Tranche._meta.concrete_fields]
_PROJECT_FIELDS = ["id", "state", "title_en", "title_ja", "title_ko"]

# One statement locks the project, then the tranche (the InitPlan on ``locked_project``
# runs before the tranche is scanned, so the documented lock order holds), and reads all
# a release needs: the tranche as locked now, the project's state and title, the stage's
# number, the side's organisations and budgets in split order (ties go to the organisation
# listed first), the people to notify (the project's active PIs and the side's active
# finance officers; a UNION, so each half can use its own index) and, only when the
# tranche will be released, the id of its ledger transaction.
_RELEASE_READ_SQL = f"""
WITH locked_project AS MATERIALIZED (
    SELECT p.id, p.state, p.title_en, p.title_ja, p.title_ko FROM {_table(Project)} p
     WHERE p.id = (SELECT t.project_id FROM {_table(Tranche)} t WHERE t.id = %s::bigint)
       FOR NO KEY UPDATE
), locked_tranche AS MATERIALIZED (
    SELECT {", ".join(f"t.{connection.ops.quote_name(a)}" for a in _TRANCHE_FIELDS)}
      FROM {_table(Tranche)} t
     WHERE t.id = %s::bigint AND t.project_id = (SELECT id FROM locked_project)
       FOR UPDATE
)
SELECT t.*, p.state, p.title_en, p.title_ja, p.title_ko, s.number,
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
 CROSS JOIN locked_project p
  JOIN {_table(Stage)} s ON s.id = t.stage_id
"""  # noqa: S608 (table and column names from the models, values as parameters)


def tranche_release(*, tranche_id: int) -> Tranche:
    """Release one decided tranche into the ledger, exactly once (§8, §9).

    Guarantees, inside one transaction and in a fixed number of statements whatever the
    number of organisations and people (two at or below plan; two more above it):

    - the project row, then the tranche row, are locked; a tranche already released is
      returned unchanged (idempotent under retries, redelivery and concurrent workers), a
      planned or cancelled one raises ``Conflict``, and one whose project is suspended is
      left decided (nothing moves; the reconciler retries after resume). A completed
      project still receives its last decided tranche;
    - sizing follows ``projects.rules.gates.tranche_amounts`` with the side's reserve as
      locked now: the bonus above plan comes from the reserve and is cut to what it holds,
      a reduction returns the unreleased part to the side's pool. Only when a bonus is
      possible (m > 1) are the accounts locked before sizing — the reserve with every
      other account of the posting, in ``pk`` order — so a release at or below plan never
      waits on the reserve;
    - ONE ledger transaction with reference ``tranche:{id}:release`` moves committed →
      each organisation's payable (split by budget share, largest remainder, ties to the
      organisation listed first), reserve → payables for the bonus, committed → pool for a
      reduction; the ledger's unique reference makes a second posting impossible;
    - one payable ``Disbursement`` per organisation with a non-zero part;
    - the ledger's ``ledger.posted`` and a ``tranche.released`` audit event; the project's
      PIs and the side's finance officers are notified (e-mails after commit).

    The writes — accounts opened, the transaction and its entries, the disbursements, the
    tranche, the audit events and the notifications — are one statement
    (``fundapp.statements``), each part owned by its app; the database still decides: the
    row locks above, the unique reference, and the ledger's triggers and constraints.
    """
    with transaction.atomic():
        row = execute_prepared(
            _RELEASE_READ_SQL,
            [
                tranche_id,
                tranche_id,
                str(Role.FINANCE_OFFICER),
                str(TrancheState.DECIDED),
                str(ProjectState.SUSPENDED),
            ],
        )
        if row is None:
            raise NotFound(_("No such tranche."))
        fields = len(_TRANCHE_FIELDS)
        tranche = Tranche.from_db(connection.alias, _TRANCHE_FIELDS, row[:fields])
        read = dict(
            zip(_PROJECT_FIELDS, (tranche.project_id, *row[fields : fields + 4]), strict=True)
        )
        # from_db takes the values in the model's field order.
        names = [f.attname for f in Project._meta.concrete_fields if f.attname in read]
        project = Project.from_db(connection.alias, names, [read[name] for name in names])
        (
            stage_number,
            organisation_ids,
            organisation_budgets,
            recipients,
            transaction_id,
            project_organisation_ids,
        ) = row[fields + 4 :]
        if tranche.state == TrancheState.RELEASED:
            return tranche
        if tranche.state != TrancheState.DECIDED:
            raise Conflict(
                _("Only a decided tranche can be released; this one is “%(state)s”.")
                % {"state": TrancheState(tranche.state).label},
                code="invalid_state",
            )
        if project.state == ProjectState.SUSPENDED:
            # A suspended project releases nothing; the reconciler retries after resume (§7).
            return tranche
        return _release(
            tranche,
            transaction_id=transaction_id,
            project_title=project.title,
            stage_number=stage_number,
            budgets=list(zip(organisation_ids, organisation_budgets, strict=True)),
            recipients=recipients or [],
            project_organisation_ids=project_organisation_ids,
        )


def _release(
    tranche: Tranche,
    *,
    transaction_id: int,
    project_title: str,
    stage_number: int,
    budgets: list[tuple[int, int]],
    recipients: list[list[Any]],
    project_organisation_ids: list[int],
) -> Tranche:
    """The locked, decided tranche's release: size, then write it all in one statement."""
    project_id, side, currency = tranche.project_id, tranche.side, tranche.currency
    multiplier = tranche.multiplier if tranche.multiplier is not None else Decimal(1)
    committed_code = ledger_rules.account_code_project_committed(project_id, side)
    reserve_code = ledger_rules.account_code_fund_reserve(side)
    locked: dict[str, Account] | None = None
    reserve = 0
    if multiplier > 1:
        # Every account the posting may touch, so the reserve is read under the same
        # pk-ordered lock the posting relies on.
        locked = ledger_accounts_lock(
            codes=[
                committed_code,
                reserve_code,
                *(
                    ledger_rules.account_code_org_payable(org_id, currency)
                    for org_id, budget in budgets
                    if budget
                ),
            ],
            currency=currency,
        )
        reserve = locked[reserve_code].balance
    sizing = tranche_amounts(tranche.planned, multiplier, reserve)
    if sizing.released and not any(budget for _org, budget in budgets):
        raise Conflict(
            _("The %(side)s side has no organisation with a budget to receive this tranche.")
            % {"side": side},
            code="no_budget",
        )
    parts = split_by_budget(sizing.released, budgets) if sizing.released else []
    legs: list[tuple[str, int]] = [
        (committed_code, -(sizing.from_committed + sizing.returned_to_pool)),
        (reserve_code, -sizing.from_reserve),
        (ledger_rules.account_code_fund_pool(side), sizing.returned_to_pool),
    ]
    legs += [
        (ledger_rules.account_code_org_payable(org_id, currency), amount)
        for org_id, amount in parts
    ]
    posting = ledger_post_parts(
        transaction_id=transaction_id,
        kind=TransactionKind.TRANCHE_RELEASE,
        currency=currency,
        legs=[(code, amount) for code, amount in legs if amount],
        reference=release_reference(tranche.pk),
        memo=f"Project {project_id}, stage {stage_number}, {side} tranche",
        locked=locked,
    )
    # The release task (or an officer's retry) pays out what a decision fixed.
    before = TRANCHE_WORKFLOW.move(tranche, TrancheState.RELEASED, actor=None)
    tranche.released = sizing.released
    tranche.from_reserve = sizing.from_reserve
    tranche.returned_to_pool = sizing.returned_to_pool
    tranche.released_at = timezone.now()
    tranche.ledger_transaction_id = transaction_id
    audit = audit_record_many_parts(
        [
            posting.audit,
            AuditEntry(
                actor=None,
                action="tranche.released",
                obj=tranche,
                before={"state": before},
                after={
                    "state": tranche.state,
                    "planned": tranche.planned,
                    "multiplier": multiplier,
                    "released": sizing.released,
                    "currency": currency,
                    "from_reserve": sizing.from_reserve,
                    "returned_to_pool": sizing.returned_to_pool,
                    "bonus_cut": sizing.bonus_cut,
                    "parts": [[org_id, amount] for org_id, amount in parts],
                    "ledger_transaction": transaction_id,
                },
            ),
        ]
    )
    statement = [*posting.parts]
    disbursements = [
        Disbursement(tranche=tranche, organisation_id=org_id, currency=currency, amount=amount)
        for org_id, amount in parts
        if amount
    ]
    if disbursements:
        statement.append(insert_part("disbursements", disbursements, only_if="ledger_transaction"))
    # Only if the posting was written: a reference already taken leaves the tranche as it is.
    statement.append(
        Part(
            "tranche_released",
            f"""UPDATE {_table(Tranche)}
                   SET state = %s::text, released = %s::bigint, from_reserve = %s::bigint,
                       returned_to_pool = %s::bigint, released_at = %s::timestamptz,
                       ledger_transaction_id = posted.id
                  FROM ledger_transaction posted
                 WHERE {_table(Tranche)}.id = %s::bigint
             RETURNING 1""",  # noqa: S608 (table name from the model, values as parameters)
            [
                tranche.state,
                tranche.released,
                tranche.from_reserve,
                tranche.returned_to_pool,
                tranche.released_at,
                tranche.pk,
            ],
        )
    )
    statement.append(audit.part)
    # The partner-facing event, for the project's organisations, only if the posting was
    # written (like the disbursements): one more part of the same statement.
    statement.append(
        event_record_many_part(
            "outbox_events",
            [
                Event(
                    kind="tranche.released",
                    obj=tranche,
                    organisation_ids=project_organisation_ids,
                    payload=tranche_data(tranche, stage_number=stage_number),
                )
            ],
            only_if="ledger_transaction",
        )
    )
    notices = notify_people_parts(
        recipients=[tuple(values) for values in recipients],
        kind="tranche_released",
        title=format_lazy(
            gettext_lazy("{amount} for “{project}”, stage {stage}"),
            amount=format_amount(sizing.released, currency),
            project=project_title,
            stage=stage_number,
        ),
        url=project_url_of(project_id),
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
    txn = posting.posted(results)
    if txn is None:
        # Another movement holds the reference: nothing was written (every part above
        # selects from the posting); the ledger names it.
        raise Conflict(
            _("Reference %(reference)s is already posted with other legs.")
            % {"reference": release_reference(tranche.pk)},
            code="ledger_reference_reused",
        )
    audit.appended(results)
    if notices is not None:
        notices.notified(results)
    tranche.ledger_transaction = txn
    return tranche


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
