"""Reading the ledger: balances, statements, totals and the consistency check (§9)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import F, Sum, Window

from . import rules
from .models import Account, Entry, Transaction

STATEMENT_MAX_LIMIT = 500
_MAX_BREACHES_PER_CHECK = 100


def account_get(code: str) -> Account | None:
    return Account.objects.filter(code=code).first()


def account_balance(code: str) -> int:
    """The balance of one account; 0 for an account that has never been used."""
    balance = Account.objects.filter(code=code).values_list("balance", flat=True).first()
    return balance or 0


def account_balances(*, prefix: str = "", currency: str | None = None) -> dict[str, int]:
    """``{code: balance}`` for accounts whose code starts with ``prefix``, in code order.

    Give the prefix up to a separator (``"project:42:"``), or ``project:4`` also matches
    ``project:42``.
    """
    accounts = Account.objects.filter(code__startswith=prefix)
    if currency is not None:
        accounts = accounts.filter(currency=currency)
    return dict(accounts.order_by("code").values_list("code", "balance"))


def balance_total(*, prefix: str, currency: str) -> int:
    """The sum of the balances under ``prefix`` in one currency."""
    total = Account.objects.filter(code__startswith=prefix, currency=currency).aggregate(
        total=Sum("balance")
    )["total"]
    return int(total or 0)


def transaction_get_by_reference(reference: str) -> Transaction | None:
    return Transaction.objects.filter(reference=reference).first()


def transaction_legs(transaction: Transaction) -> list[tuple[str, int]]:
    """``[(account code, amount)]`` of a posted transaction, in entry order."""
    return list(
        Entry.objects.filter(transaction=transaction)
        .order_by("id")
        .values_list("account__code", "amount")
    )


@dataclass(frozen=True)
class StatementLine:
    entry_id: int
    transaction_id: int
    reference: str
    kind: str
    memo: str
    created_at: datetime
    amount: int
    balance: int  # the account's balance after this entry


def account_statement(code: str, *, after_id: int = 0, limit: int = 100) -> list[StatementLine]:
    """The entries of one account in posting (``id``) order, with the running balance.

    Cursor-friendly: pass the last line's ``entry_id`` as ``after_id`` for the next page.
    """
    limit = max(1, min(limit, STATEMENT_MAX_LIMIT))
    account = Account.objects.filter(code=code).first()
    if account is None:
        return []
    entries = Entry.objects.filter(account=account)
    opening = 0
    if after_id:
        opening = int(entries.filter(id__lte=after_id).aggregate(total=Sum("amount"))["total"] or 0)
    rows = (
        entries.filter(id__gt=after_id)
        .annotate(running=Window(Sum("amount"), order_by=F("id").asc()))
        .order_by("id")
        .values(
            "id",
            "transaction_id",
            "transaction__reference",
            "transaction__kind",
            "transaction__memo",
            "transaction__created_at",
            "amount",
            "running",
        )[:limit]
    )
    return [
        StatementLine(
            entry_id=row["id"],
            transaction_id=row["transaction_id"],
            reference=row["transaction__reference"],
            kind=row["transaction__kind"],
            memo=row["transaction__memo"],
            created_at=row["transaction__created_at"],
            amount=row["amount"],
            balance=opening + int(row["running"]),
        )
        for row in rows
    ]


def totals_by_kind(*, currency: str | None = None) -> dict[str, int]:
    """Money moved per transaction kind: the sum of each transaction's positive legs."""
    entries = Entry.objects.filter(amount__gt=0)
    if currency is not None:
        entries = entries.filter(currency=currency)
    rows = (
        entries.values("transaction__kind")
        .annotate(total=Sum("amount"))
        .order_by("transaction__kind")
    )
    return {row["transaction__kind"]: int(row["total"]) for row in rows}


@dataclass
class LedgerReport:
    transactions: int = 0
    accounts: int = 0
    breaches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


# Each check returns rows describing one breach each; the SQL reads only stored data, so a
# breach made by bypassing the triggers (or by a bug in them) is found all the same.
_CHECKS: list[tuple[str, str]] = [
    (
        "transaction #{0} ({1}) does not balance: its {3} entries sum to {2}",
        """
        SELECT t.id, t.reference, COALESCE(SUM(e.amount), 0), COUNT(e.id)
        FROM ledger_transaction t LEFT JOIN ledger_entry e ON e.transaction_id = t.id
        GROUP BY t.id, t.reference
        HAVING COALESCE(SUM(e.amount), 0) <> 0 OR COUNT(e.id) < 2
        ORDER BY t.id
        """,
    ),
    (
        "entry #{0} of transaction #{1} ({2}) is in {3}, the transaction in {4}, "
        "account {5} in {6}",
        """
        SELECT e.id, t.id, t.reference, e.currency, t.currency, a.code, a.currency
        FROM ledger_entry e
        JOIN ledger_transaction t ON t.id = e.transaction_id
        JOIN ledger_account a ON a.id = e.account_id
        WHERE e.currency <> t.currency OR e.currency <> a.currency
        ORDER BY e.id
        """,
    ),
    (
        "transaction #{0} ({1}) has two entries on account {2}",
        """
        SELECT t.id, t.reference, a.code
        FROM ledger_entry e
        JOIN ledger_transaction t ON t.id = e.transaction_id
        JOIN ledger_account a ON a.id = e.account_id
        GROUP BY t.id, t.reference, a.code HAVING COUNT(*) > 1
        ORDER BY t.id
        """,
    ),
    (
        "account {0} stores balance {1} but its entries sum to {2}",
        """
        SELECT a.code, a.balance, COALESCE(s.total, 0)
        FROM ledger_account a
        LEFT JOIN (
            SELECT account_id, SUM(amount) AS total FROM ledger_entry GROUP BY account_id
        ) s ON s.account_id = a.id
        WHERE a.balance <> COALESCE(s.total, 0)
        ORDER BY a.code
        """,
    ),
    (
        "internal account {0} is below zero: balance {1}, entries sum to {2}",
        """
        SELECT a.code, a.balance, COALESCE(s.total, 0)
        FROM ledger_account a
        LEFT JOIN (
            SELECT account_id, SUM(amount) AS total FROM ledger_entry GROUP BY account_id
        ) s ON s.account_id = a.id
        WHERE a.kind = 'internal' AND (a.balance < 0 OR COALESCE(s.total, 0) < 0)
        ORDER BY a.code
        """,
    ),
    (
        "transaction #{0} ({1}) of kind {2} breaks the reversal rule "
        "(reverses: {3}; a reversal, and only a reversal, reverses an existing transaction "
        "in its own currency)",
        """
        SELECT t.id, t.reference, t.kind, t.reverses_id
        FROM ledger_transaction t
        LEFT JOIN ledger_transaction o ON o.id = t.reverses_id
        WHERE (t.kind = 'reversal') <> (t.reverses_id IS NOT NULL)
           OR (t.reverses_id IS NOT NULL AND (o.id IS NULL OR o.currency <> t.currency))
           OR t.reverses_id = t.id
        ORDER BY t.id
        """,
    ),
    (
        "transaction #{0} is reversed {1} times",
        """
        SELECT reverses_id, COUNT(*) FROM ledger_transaction
        WHERE reverses_id IS NOT NULL
        GROUP BY reverses_id HAVING COUNT(*) > 1
        ORDER BY reverses_id
        """,
    ),
    (
        "reversal #{0} ({1}) is not the exact opposite of transaction #{2}",
        """
        WITH r AS (
            SELECT id AS rid, reference, reverses_id AS oid
            FROM ledger_transaction WHERE reverses_id IS NOT NULL
        ), moves AS (
            SELECT r.rid, e.account_id, e.amount
            FROM r JOIN ledger_entry e ON e.transaction_id = r.rid
            UNION ALL
            SELECT r.rid, e.account_id, e.amount
            FROM r JOIN ledger_entry e ON e.transaction_id = r.oid
        ), mismatched AS (
            SELECT DISTINCT rid FROM moves GROUP BY rid, account_id HAVING SUM(amount) <> 0
        )
        SELECT r.rid, r.reference, r.oid FROM r JOIN mismatched m ON m.rid = r.rid ORDER BY r.rid
        """,
    ),
    (
        "reference {0} is used by {1} transactions",
        """
        SELECT reference, COUNT(*) FROM ledger_transaction
        GROUP BY reference HAVING COUNT(*) > 1
        ORDER BY reference
        """,
    ),
]


def _account_breaches() -> list[str]:
    breaches: list[str] = []
    rows = Account.objects.order_by("code").values_list("code", "kind", "currency")
    for code, kind, currency in rows.iterator(chunk_size=2000):
        if kind not in rules.ACCOUNT_KINDS:
            breaches.append(f"account {code} has unknown kind {kind!r}")
            continue
        try:
            parsed = rules.parse_account_code(code)
        except ValueError:
            breaches.append(f"account {code} has a malformed code")
            continue
        if parsed.kind != kind:
            breaches.append(f"account {code} is {kind} but its code makes it {parsed.kind}")
        if currency not in rules.CURRENCIES or parsed.currency not in (None, currency):
            breaches.append(f"account {code} holds {currency}, which its code does not allow")
    return breaches


def ledger_verify() -> LedgerReport:
    """Check every §9 invariant from the stored data; name each breach found."""
    report = LedgerReport(
        transactions=Transaction.objects.count(), accounts=Account.objects.count()
    )
    with connection.cursor() as cursor:
        for template, sql in _CHECKS:
            cursor.execute(sql)
            rows = cursor.fetchall()
            report.breaches.extend(template.format(*row) for row in rows[:_MAX_BREACHES_PER_CHECK])
            if len(rows) > _MAX_BREACHES_PER_CHECK:
                report.breaches.append(
                    f"… and {len(rows) - _MAX_BREACHES_PER_CHECK} more like the above"
                )
    report.breaches.extend(_account_breaches())
    return report
