"""Monthly stipends of visits (§25, §16): released in advance, month by month, by the daily
job while a visit is active, exactly once per visit-month.

Lock order, shared with ``mobility.services.visits``: visits (in ``pk`` order) → ledger
accounts (the ledger's own order). The job works on the set: whatever the number of visits
it reads and writes in a fixed number of statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record_many_parts
from fundapp.errors import Conflict
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.services import (
    NEXT_TRANSACTION_ID_SQL,
    NewPosting,
    insufficient_funds_from,
    ledger_post_many_parts,
)
from fundapp.notifications.outbox import Event, event_record_many_part
from fundapp.statements import execute_prepared_rows, insert_part, statement_run
from mobility.events import stipend_data
from mobility.models import PaymentKind, Visit, VisitPayment, VisitState
from mobility.rules import stipend_due_on, stipend_months_due


def stipend_reference(visit_id: int, month: int) -> str:
    """The ledger's idempotency reference of a visit-month's stipend."""
    return f"visit:{visit_id}:stipend:{month}"


def visit_organisation_ids(visit: Visit) -> list[int]:
    """Who sees a visit's events (§13.3): its home, host and payee organisations."""
    application = visit.application
    return sorted(
        {application.home_organisation_id, application.host_organisation_id, visit.payee_id}
    )


@dataclass(frozen=True)
class StipendDue:
    """One visit-month to pay: the locked visit, the month and its due day."""

    visit: Visit
    month: int
    due_on: date


@dataclass
class StipendsReleased:
    """What one run released: ``(visit id, month)`` pairs in order."""

    released: list[tuple[int, int]] = field(default_factory=list)


def stipends_unreleased_due(visits: Sequence[Visit], *, until: date) -> list[StipendDue]:
    """The months of ``visits`` (locked by the caller, arrived) due on or before ``until``
    that have no payment yet, in (visit, month) order: one query for their payments."""
    if not visits:
        return []
    paid = set(
        VisitPayment.objects.filter(
            visit_id__in=[v.pk for v in visits], kind=PaymentKind.STIPEND
        ).values_list("visit_id", "month")
    )
    due: list[StipendDue] = []
    for visit in visits:
        assert visit.arrived_on is not None
        if not visit.stipend_month_amount:
            continue
        for month in stipend_months_due(
            arrived_on=visit.arrived_on, months=visit.months, until=until
        ):
            if (visit.pk, month) not in paid:
                due.append(StipendDue(visit, month, stipend_due_on(visit.arrived_on, month)))
    return due


# The ledger transactions' ids of a batch, drawn in one statement (``NewPosting``).
_DRAW_IDS_SQL = f"SELECT {NEXT_TRANSACTION_ID_SQL} FROM generate_series(1, %s::int)"  # noqa: S608


def _draw_transaction_ids(count: int) -> list[int]:
    rows = execute_prepared_rows(_DRAW_IDS_SQL, [count])
    return [row[0] for row in rows]


def stipends_post(due: Sequence[StipendDue], *, actor: Actor | None = None) -> list[VisitPayment]:
    """Release the visit-months ``due`` (their visits locked by the caller, inside its
    transaction) in one statement: per month one ``tranche_release`` ledger transaction
    committed → the payee's payable (reference ``visit:{id}:stipend:{month}``), one
    ``VisitPayment``, the ``ledger.posted`` and ``visit.stipend_released`` audit events and
    one ``visit.stipend_released`` outbox event.

    Exactly once per visit-month: the ledger's unique reference and the payments' unique
    (visit, kind, month) decide; a month another path already paid raises ``Conflict`` and
    the caller's transaction is rolled back with it."""
    if not due:
        return []
    ids = _draw_transaction_ids(len(due))
    now = timezone.now()
    postings = []
    payments = []
    entries: list[AuditEntry] = []
    events = []
    for item, txn_id in zip(due, ids, strict=True):
        visit = item.visit
        committed = ledger_rules.account_code_visit_committed(visit.pk, visit.paying_side)
        payable = ledger_rules.account_code_org_payable(visit.payee_id, visit.currency)
        postings.append(
            NewPosting(
                transaction_id=txn_id,
                kind=TransactionKind.TRANCHE_RELEASE,
                currency=visit.currency,
                legs=[
                    (committed, -visit.stipend_month_amount),
                    (payable, visit.stipend_month_amount),
                ],
                reference=stipend_reference(visit.pk, item.month),
                memo=f"Visit {visit.pk}, stipend of month {item.month}",
            )
        )
        payments.append(
            VisitPayment(
                visit=visit,
                kind=PaymentKind.STIPEND,
                month=item.month,
                amount=visit.stipend_month_amount,
                transaction_id=txn_id,
                released_at=now,
            )
        )
        data = stipend_data(
            visit, month=item.month, due_on=item.due_on, released_at=now, transaction_id=txn_id
        )
        entries.append(
            AuditEntry(
                actor=actor,
                action="visit.stipend_released",
                obj=visit,
                after={
                    "month": item.month,
                    "amount": visit.stipend_month_amount,
                    "currency": visit.currency,
                    "due_on": item.due_on,
                    "ledger_transaction": txn_id,
                },
            )
        )
        events.append(
            Event(
                kind="visit.stipend_released",
                obj=visit,
                organisation_ids=visit_organisation_ids(visit),
                payload=data,
            )
        )
    posting = ledger_post_many_parts(postings, actor=actor)
    audit = audit_record_many_parts([*posting.audits, *entries])
    statement = [
        *posting.parts,
        insert_part("visit_payments", payments, only_if="ledger_transaction"),
        audit.part,
        event_record_many_part("outbox_events", events, only_if="ledger_transaction"),
    ]
    from mobility.services.notices import stipend_notices_part

    notices = stipend_notices_part(due)
    if notices is not None:
        statement.append(notices.part)
    try:
        results = statement_run(statement)
    except IntegrityError as exc:
        refused = insufficient_funds_from(exc)
        if refused is not None:
            raise refused from exc
        raise
    posted = {txn.pk for txn in posting.posted(results)}
    for item, txn_id in zip(due, ids, strict=True):
        if txn_id not in posted:
            raise Conflict(
                f"Reference {stipend_reference(item.visit.pk, item.month)} is already posted.",
                code="ledger_reference_reused",
            )
    audit.appended(results)
    if notices is not None:
        notices.notified(results)
    return payments


def stipends_release(
    *, today: date | None = None, visit_ids: Sequence[int] | None = None
) -> StipendsReleased:
    """The daily job (§25, §16): release every month of every active visit due on or before
    ``today`` (the fund's day, Asia/Tokyo, by default) that is not released yet; only the
    visits ``visit_ids`` when given (the arrival asks for its own visit's first month).

    Guarantees: one transaction; the active visits are locked in ``pk`` order (one query),
    so concurrent runs and a departure being confirmed wait for each other and the later
    one finds the months paid; their payments are read in one query and every due month is
    written in one statement (``stipends_post``). A run cut short (a killed worker) leaves
    nothing; a rerun pays what is still due. Whatever the retries, each visit-month is paid
    once: the ledger reference and the payments' unique key decide."""
    until = today or today_in_tokyo()
    with transaction.atomic():
        visits = Visit.objects.select_for_update(of=("self",)).select_related(
            "application", "application__visitor"
        )
        visits = visits.filter(state=VisitState.ACTIVE, arrived_on__lte=until)
        if visit_ids is not None:
            visits = visits.filter(pk__in=list(visit_ids))
        due = stipends_unreleased_due(list(visits.order_by("pk")), until=until)
        stipends_post(due)
    return StipendsReleased([(item.visit.pk, item.month) for item in due])
