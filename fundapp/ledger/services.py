"""Posting to the ledger (§9). The only code that writes accounts, transactions and entries.

The ledger takes account codes and amounts, never projects or licences: callers build the
codes with ``fundapp.ledger.rules.account_code_*`` and choose an idempotency ``reference``
naming the money movement (``"tranche:17:release"``, ``"disbursement:5:confirm"``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection
from django.db import transaction as db_transaction
from django.utils.translation import gettext as _

from fundapp.audit.services import AuditEntry, audit_record
from fundapp.errors import Conflict, DomainError, ValidationFailed
from fundapp.money import format_amount
from fundapp.statements import Part

from . import rules
from .models import Account, Entry, Transaction, TransactionKind
from .selectors import account_balance

if TYPE_CHECKING:
    from fundapp.actors import Actor

MAX_REFERENCE_LENGTH = 200
_ACCOUNT_TABLE = Account._meta.db_table
_TRANSACTION_TABLE = Transaction._meta.db_table
_INTERNAL_NOT_NEGATIVE = "ledger_account_internal_not_negative"


class InsufficientFunds(DomainError):
    """A posting would take an internal account below zero."""

    code = "insufficient_funds"
    status = 409


@dataclass(frozen=True)
class _Posting:
    kind: str
    currency: str
    legs: list[tuple[str, int]]  # merged: one non-zero amount per account code
    reference: str
    memo: str
    reverses_id: int | None


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={field: [message]})


def _validated(
    *,
    kind: str,
    currency: str,
    legs: Sequence[tuple[str, int]],
    reference: str,
    memo: str,
    reverses: Transaction | None,
) -> _Posting:
    if kind not in TransactionKind.values:
        raise _invalid("kind", _("Unknown transaction kind %(kind)s.") % {"kind": kind})
    if not isinstance(reference, str) or not reference.strip():
        raise _invalid("reference", _("A posting needs an idempotency reference."))
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise _invalid(
            "reference",
            _("The reference is longer than %(max)d characters.") % {"max": MAX_REFERENCE_LENGTH},
        )
    if not isinstance(memo, str):
        raise _invalid("memo", _("The memo must be text."))
    if (kind == TransactionKind.REVERSAL) != (reverses is not None):
        raise _invalid(
            "reverses", _("A reversal, and only a reversal, names the transaction it reverses.")
        )
    if reverses is not None:
        if reverses.pk is None:
            raise _invalid("reverses", _("The reversed transaction has not been posted."))
        if reverses.currency != currency:
            raise _invalid(
                "currency", _("A reversal is posted in the currency of what it reverses.")
            )
    try:
        merged = rules.normalise_legs(legs, currency=currency)
    except rules.LegError as exc:
        raise _invalid(exc.field, str(exc)) from None
    return _Posting(
        kind=kind,
        currency=currency,
        legs=merged,
        reference=reference,
        memo=unicodedata.normalize("NFC", memo),
        reverses_id=reverses.pk if reverses is not None else None,
    )


def account_get_or_create(code: str, currency: str) -> Account:
    """The account with ``code``, opened (balance 0) in ``currency`` if it does not exist.

    Guarantees: concurrent calls open at most one account per code (unique constraint);
    an existing account in another currency is refused (``ValidationFailed``).
    """
    try:
        parsed = rules.parse_account_code(code)
    except ValueError as exc:
        raise _invalid("code", str(exc)) from None
    if currency not in rules.CURRENCIES or parsed.currency not in (None, currency):
        raise _invalid("currency", f"account {code} cannot hold {currency}")
    account, _created = Account.objects.get_or_create(
        code=code,
        defaults={
            "currency": currency,
            "kind": parsed.kind,
            "name": rules.account_default_name(code),
        },
    )
    if account.currency != currency:
        raise _invalid("currency", f"account {code} holds {account.currency}, not {currency}")
    return account


def ledger_accounts_lock(*, codes: Sequence[str], currency: str) -> dict[str, Account]:
    """Open the missing accounts of ``codes``, then lock them all in ``pk`` order.

    Two statements whatever the number of codes: one ``INSERT … ON CONFLICT DO NOTHING``
    of the codes not yet opened (in code order), one ``SELECT … FOR UPDATE`` of every
    code in ``pk`` order. No account lock is held while opening, and locks are always
    taken in ``pk`` order, so two postings touching the same accounts wait for each other
    instead of deadlocking. Guarantees: at most one account per code (unique constraint);
    an account of another currency is refused (``ValidationFailed``). Use it inside the
    caller's transaction: the locks last until it ends.
    """
    wanted = sorted(set(codes))
    if currency not in rules.CURRENCIES:
        raise _invalid("currency", f"unknown currency {currency!r}")
    try:
        parsed = [rules.parse_account_code(code) for code in wanted]
    except ValueError as exc:
        raise _invalid("legs", str(exc)) from None
    for account_code in parsed:
        if account_code.currency not in (None, currency):
            raise _invalid("legs", f"account {account_code.code} cannot hold {currency}")
    kinds = [account_code.kind for account_code in parsed]
    names = [rules.account_default_name(code) for code in wanted]
    with connection.cursor() as cursor:
        # The NOT EXISTS keeps the common case (every account open) from drawing ids.
        cursor.execute(
            f"""
            INSERT INTO {_ACCOUNT_TABLE} (code, currency, kind, name, balance)
            SELECT wanted.code, %s, wanted.kind, wanted.name, 0
              FROM unnest(%s::text[], %s::text[], %s::text[]) AS wanted(code, kind, name)
             WHERE NOT EXISTS (SELECT 1 FROM {_ACCOUNT_TABLE} held WHERE held.code = wanted.code)
             ORDER BY wanted.code
            ON CONFLICT (code) DO NOTHING
            """,  # noqa: S608 (table name from the model, values as parameters)
            [currency, wanted, kinds, names],
        )
    locked = {
        account.code: account
        for account in Account.objects.select_for_update(of=("self",))
        .filter(code__in=wanted)
        .order_by("pk")
    }
    for code in wanted:
        if locked[code].currency != currency:
            raise _invalid("legs", f"account {code} holds {locked[code].currency}, not {currency}")
    return locked


def _check_funds(accounts: Mapping[str, Account], legs: list[tuple[str, int]]) -> None:
    short = [
        (code, accounts[code].balance, -amount)
        for code, amount in legs
        if accounts[code].kind == rules.INTERNAL and accounts[code].balance + amount < 0
    ]
    if short:
        messages = [
            _("%(account)s holds %(balance)s; %(amount)s cannot be taken from it.")
            % {
                "account": code,
                "balance": format_amount(balance, accounts[code].currency),
                "amount": format_amount(amount, accounts[code].currency),
            }
            for code, balance, amount in short
        ]
        raise InsufficientFunds(" ".join(messages), errors={"legs": messages})


def _stored_legs(txn: Transaction) -> list[tuple[str, int]]:
    return list(
        Entry.objects.filter(transaction=txn).order_by("id").values_list("account__code", "amount")
    )


def _same_or_conflict(existing: Transaction, posting: _Posting) -> Transaction:
    """The idempotent answer for a reference that is already posted."""
    same = (
        existing.kind == posting.kind
        and existing.currency == posting.currency
        and existing.reverses_id == posting.reverses_id
        and rules.legs_key(_stored_legs(existing)) == rules.legs_key(posting.legs)
    )
    if not same:
        raise Conflict(
            _("Reference %(reference)s is already posted with other legs.")
            % {"reference": posting.reference},
            code="ledger_reference_reused",
            errors={"reference": [_("This reference is already used for another movement.")]},
        )
    return existing


def _existing(reference: str) -> Transaction | None:
    return Transaction.objects.filter(reference=reference).first()


def _already_posted(posting: _Posting) -> Transaction | None:
    """The idempotent answer if the reference is taken, ``Conflict`` if the reversed
    transaction is already reversed, else ``None``. Only asked on the slow path."""
    existing = _existing(posting.reference)
    if existing is not None:
        return _same_or_conflict(existing, posting)
    if (
        posting.reverses_id is not None
        and Transaction.objects.filter(reverses_id=posting.reverses_id).exists()
    ):
        raise _already_reversed(posting.reverses_id)
    return None


def _already_reversed(reverses_id: int) -> Conflict:
    message = _("Transaction %(id)s is already reversed.") % {"id": reverses_id}
    return Conflict(message, code="ledger_already_reversed", errors={"reverses": [message]})


def _constraint_of(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def ledger_post(
    *,
    kind: str,
    currency: str,
    legs: Sequence[tuple[str, int]],
    reference: str,
    memo: str = "",
    actor: Actor | None = None,
    reverses: Transaction | None = None,
    locked: Mapping[str, Account] | None = None,
    audit_into: list[AuditEntry] | None = None,
) -> Transaction:
    """Post one balanced transaction; at most once per ``reference``.

    ``legs`` are ``(account code, amount)`` pairs; an amount is added to the account's
    balance (positive into it, negative out of it). They must be whole numbers, non-zero,
    at most 10¹⁵ each, and sum to zero; legs on the same account are merged.

    Guarantees:

    - validation first (``ValidationFailed``; nothing is written);
    - inside one database transaction (the caller's if there is one, else its own):
      missing accounts are opened and every account of the posting is locked in ``pk``
      order (``ledger_accounts_lock``), internal accounts are checked for funds
      (``InsufficientFunds``), the transaction and its entries are inserted and a
      ``ledger.posted`` audit event is written — a fixed number of statements whatever
      the number of legs. A caller that needed balances first (to size the movement)
      passes the accounts it already locked with ``ledger_accounts_lock`` in the same
      transaction as ``locked``; they must cover every leg. A caller that writes audit
      events of its own passes ``audit_into``: the ``ledger.posted`` event is appended to
      that list instead, and the caller must write it (``audit_record_many``) in the same
      transaction;
    - idempotent: a reference already posted with the same kind, currency, reversed
      transaction and (merged) legs returns the existing transaction and writes nothing;
      with anything else it raises ``Conflict``. The unique reference decides (``INSERT …
      ON CONFLICT DO NOTHING``), so retries, duplicate calls and concurrent workers post a
      movement at most once;
    - a transaction is reversed at most once (``Conflict`` otherwise);
    - the domain errors above leave the caller's transaction usable (a refusal by the
      database itself rolls back to a savepoint), so a caller may catch them and go on.

    The database re-checks the invariants itself (see ``fundapp.ledger.models``).
    """
    posting = _validated(
        kind=kind, currency=currency, legs=legs, reference=reference, memo=memo, reverses=reverses
    )
    if connection.in_atomic_block:
        # The caller's transaction: a refusal by the database must leave it usable.
        return _post(posting, actor=actor, locked=locked, audit_into=audit_into, savepoint=True)
    with db_transaction.atomic():
        return _post(posting, actor=actor, locked=locked, audit_into=audit_into, savepoint=False)


def ledger_pool_commit(
    *,
    side: str,
    currency: str,
    total: int,
    committed_account: str,
    reference: str,
    memo: str,
    refusal: str,
    actor: Actor | None = None,
) -> Transaction:
    """Commit ``total`` from the side's pool (``fund:{side}:pool``) to
    ``committed_account``: an ``award_commitment`` posting under ``reference``.

    A pool that cannot cover the sum answers 409 ``pool_insufficient`` with ``refusal``
    (a translated sentence taking ``%(side)s``, ``%(held)s`` and ``%(needed)s``), also as
    the ``budget`` field's error; so does a pool that shrank between the balance read here
    and the ledger's lock (``InsufficientFunds``), with the balance read again. The pool is
    read before posting, so a repeated call is judged against what the pool holds then.
    Otherwise the guarantees of :func:`ledger_post`."""
    pool = rules.account_code_fund_pool(side)

    def conflict(held: int) -> Conflict:
        message = refusal % {
            "side": side,
            "held": format_amount(held, currency),
            "needed": format_amount(total, currency),
        }
        return Conflict(message, code="pool_insufficient", errors={"budget": [message]})

    held = account_balance(pool)
    if held < total:
        raise conflict(held)
    try:
        return ledger_post(
            kind=TransactionKind.AWARD_COMMITMENT,
            currency=currency,
            legs=[(pool, -total), (committed_account, total)],
            reference=reference,
            memo=memo,
            actor=actor,
        )
    except InsufficientFunds as exc:
        raise conflict(account_balance(pool)) from exc


def _post(
    posting: _Posting,
    *,
    actor: Actor | None,
    locked: Mapping[str, Account] | None,
    audit_into: list[AuditEntry] | None,
    savepoint: bool,
) -> Transaction:
    codes = [code for code, _amount in posting.legs]
    if locked is None:
        accounts: Mapping[str, Account] = ledger_accounts_lock(
            codes=codes, currency=posting.currency
        )
    else:
        unlocked = sorted(set(codes) - set(locked))
        if unlocked:
            raise ValueError(f"accounts not locked by the caller: {unlocked}")
        accounts = locked
    try:
        _check_funds(accounts, posting.legs)
    except InsufficientFunds:
        # The movement itself, posted earlier (say by a concurrent worker), may have used
        # the funds: its retry answers like any other duplicate.
        duplicate = _already_posted(posting)
        if duplicate is not None:
            return duplicate
        raise
    try:
        with db_transaction.atomic(savepoint=savepoint):
            txn = _insert_transaction(posting)
            if txn is not None:
                Entry.objects.bulk_create(
                    [
                        Entry(
                            transaction=txn,
                            account=accounts[code],
                            currency=posting.currency,
                            amount=amount,
                        )
                        for code, amount in posting.legs
                    ]
                )
    except IntegrityError as exc:
        # Only if the balances moved under the locks (raw SQL in this transaction).
        if _constraint_of(exc) == _INTERNAL_NOT_NEGATIVE:
            raise InsufficientFunds(_("An internal account would go below zero.")) from exc
        raise
    if txn is None:
        duplicate = _already_posted(posting)
        if duplicate is not None:
            return duplicate
        raise AssertionError("ledger: insert refused without a conflicting row")
    for code, amount in posting.legs:
        # Keep the caller's locked rows in step with the database (the trigger moved them).
        accounts[code].balance += amount
    event = AuditEntry(actor=actor, action="ledger.posted", obj=txn, after=_audit_payload(posting))
    if audit_into is not None:
        audit_into.append(event)
    else:
        audit_record(actor=event.actor, action=event.action, obj=event.obj, after=event.after)
    return txn


def _insert_transaction(posting: _Posting) -> Transaction | None:
    """Insert the transaction row; ``None`` if its reference (or the reversed transaction)
    is already taken — by a committed row, or by a concurrent poster once it commits."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_TRANSACTION_TABLE} (kind, currency, reference, memo, reverses_id)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT DO NOTHING
            RETURNING id, created_at
            """,  # noqa: S608 (table name from the model, values as parameters)
            [
                posting.kind,
                posting.currency,
                posting.reference,
                posting.memo,
                posting.reverses_id,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    txn = Transaction(
        id=row[0],
        kind=posting.kind,
        currency=posting.currency,
        reference=posting.reference,
        memo=posting.memo,
        created_at=row[1],
        reverses_id=posting.reverses_id,
    )
    txn._state.adding = False
    txn._state.db = connection.alias
    return txn


# Draws the id of a transaction to be written by ``ledger_post_many_parts``: a caller selects it
# in the statement that reads and locks what it needs, so that every later part (and the
# audit events naming the transaction) can carry the id.
NEXT_TRANSACTION_ID_SQL = f"nextval(pg_get_serial_sequence('{_TRANSACTION_TABLE}', 'id'))"


@dataclass(frozen=True)
class NewPosting:
    """One posting of a batch for ``ledger_post_many_parts``: ``ledger_post``'s arguments,
    and the id of its transaction, drawn with ``NEXT_TRANSACTION_ID_SQL`` in the caller's
    transaction."""

    transaction_id: int
    kind: str
    currency: str
    legs: Sequence[tuple[str, int]]
    reference: str
    memo: str = ""


@dataclass(frozen=True)
class PostingsParts:
    """Validated postings, as parts of a caller's combined statement (``fundapp.statements``).

    ``parts`` open the missing accounts (``ledger_opened``), insert the transactions
    (``ledger_transaction``, one row ``(id, created_at)`` per posting written, none for a
    reference already taken) and their entries (``ledger_entries``); a caller's own part
    that must happen only if a posting did selects from ``ledger_transaction``. ``audits``
    are the ``ledger.posted`` events, one per posting, in order, for the caller to write in
    the same statement. After running, ``posted(results)`` gives back the transactions
    written, in the order of the postings."""

    transactions: list[Transaction]
    parts: list[Part]
    audits: list[AuditEntry]
    legs: list[list[tuple[str, int]]]
    locked: Mapping[str, Account] | None

    def posted(self, results: Mapping[str, Any]) -> list[Transaction]:
        row = results.get("ledger_transaction")
        if not row or not row[0]:
            return []
        ids, stamp = set(row[0]), datetime.fromisoformat(row[1])
        posted = []
        for txn, legs in zip(self.transactions, self.legs, strict=True):
            if txn.pk not in ids:
                continue
            txn.created_at = stamp
            if self.locked is not None:
                for code, amount in legs:
                    self.locked[code].balance += amount
            posted.append(txn)
        return posted


_OPEN_MANY_SQL = f"""INSERT INTO {_ACCOUNT_TABLE} (code, currency, kind, name, balance)
SELECT wanted.code, wanted.currency, wanted.kind, wanted.name, 0
  FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])
       AS wanted(code, currency, kind, name)
 WHERE NOT EXISTS (SELECT 1 FROM {_ACCOUNT_TABLE} held WHERE held.code = wanted.code)
 ORDER BY wanted.code
ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code
RETURNING id, code"""  # noqa: S608 (table name from the model, values as parameters)
_POST_MANY_SQL = f"""INSERT INTO {_TRANSACTION_TABLE} (id, kind, currency, reference, memo)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])
ON CONFLICT DO NOTHING
RETURNING id, created_at"""  # noqa: S608
# Entries in (currency, account pk) order: the balance triggers lock the accounts in that
# order, as ``ledger_accounts_lock`` does currency by currency.
_ENTRIES_MANY_SQL = f"""INSERT INTO {Entry._meta.db_table} (transaction_id, account_id, currency, amount)
SELECT posted.id, COALESCE(opened.id, held.id) AS account_id, leg.currency, leg.amount
  FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[])
       AS leg(transaction_id, code, currency, amount)
  JOIN ledger_transaction posted ON posted.id = leg.transaction_id
  LEFT JOIN ledger_opened opened ON opened.code = leg.code
  LEFT JOIN {_ACCOUNT_TABLE} held ON held.code = leg.code
 ORDER BY leg.currency, account_id
RETURNING id"""  # noqa: S608


def ledger_post_many_parts(
    postings: Sequence[NewPosting],
    *,
    actor: Actor | None = None,
    locked: Mapping[str, Account] | None = None,
) -> PostingsParts:
    """``ledger_post`` as parts of the caller's one statement, for a batch of postings on a
    hot path (§19): three parts, each one statement whatever the number of postings.

    Validation is ``ledger_post``'s (``ValidationFailed`` before anything is sent). The
    database keeps every guarantee of ``ledger_post``, per posting:

    - the reference is unique: a reference already taken writes nothing for that posting
      (the transactions' ``INSERT … ON CONFLICT DO NOTHING`` returns no row for it, and
      the entries select from what it returned); ``PostingsParts.posted`` leaves it out;
    - missing accounts are opened (at most one per code: a concurrent opener's row is
      taken instead); entries are inserted in (currency, account ``pk``) order, so the
      balance triggers lock the accounts in the order ``ledger_accounts_lock`` takes them
      currency by currency;
    - an internal account taken below zero is refused by its CHECK constraint:
      ``IntegrityError`` on ``ledger_account_internal_not_negative``, which
      ``insufficient_funds_from`` turns into ``InsufficientFunds``. A caller that locked
      every account of the postings first (``ledger_accounts_lock``) passes them as
      ``locked``: the postings are checked in order against the balances the earlier ones
      leave, and ``InsufficientFunds`` is raised before anything is sent;
    - balance, one currency and append-only are the triggers' (``fundapp.ledger.models``).
    """
    if not postings:
        raise ValueError("ledger_post_many_parts needs at least one posting")
    validated = [
        _validated(
            kind=p.kind,
            currency=p.currency,
            legs=p.legs,
            reference=p.reference,
            memo=p.memo,
            reverses=None,
        )
        for p in postings
    ]
    if locked is not None:
        unlocked = sorted({code for v in validated for code, _a in v.legs} - set(locked))
        if unlocked:
            raise ValueError(f"accounts not locked by the caller: {unlocked}")
        balances = {code: account.balance for code, account in locked.items()}
        for posting in validated:
            _check_funds(
                {
                    code: Account(
                        code=code,
                        kind=locked[code].kind,
                        balance=balances[code],
                        currency=locked[code].currency,
                    )
                    for code, _a in posting.legs
                },
                posting.legs,
            )
            for code, amount in posting.legs:
                balances[code] += amount
    opened: dict[str, str] = {}
    txn_ids, leg_codes, leg_currencies, leg_amounts = [], [], [], []
    for new, posting in zip(postings, validated, strict=True):
        for code, amount in posting.legs:
            opened.setdefault(code, posting.currency)
            txn_ids.append(new.transaction_id)
            leg_codes.append(code)
            leg_currencies.append(posting.currency)
            leg_amounts.append(amount)
    codes = sorted(opened)
    try:
        kinds = [rules.parse_account_code(code).kind for code in codes]
    except ValueError as exc:  # pragma: no cover - normalise_legs parsed them already
        raise _invalid("legs", str(exc)) from None
    parts = [
        Part(
            "ledger_opened",
            _OPEN_MANY_SQL,
            [
                codes,
                [opened[c] for c in codes],
                kinds,
                [rules.account_default_name(c) for c in codes],
            ],
        ),
        Part(
            "ledger_transaction",
            _POST_MANY_SQL,
            [
                [p.transaction_id for p in postings],
                [v.kind for v in validated],
                [v.currency for v in validated],
                [v.reference for v in validated],
                [v.memo for v in validated],
            ],
            result="(SELECT json_build_array(array_agg(id), max(created_at)) "
            "FROM ledger_transaction)",
        ),
        Part(
            "ledger_entries", _ENTRIES_MANY_SQL, [txn_ids, leg_codes, leg_currencies, leg_amounts]
        ),
    ]
    transactions = []
    for new, posting in zip(postings, validated, strict=True):
        txn = Transaction(
            id=new.transaction_id,
            kind=posting.kind,
            currency=posting.currency,
            reference=posting.reference,
            memo=posting.memo,
        )
        txn._state.adding = False
        txn._state.db = connection.alias
        transactions.append(txn)
    return PostingsParts(
        transactions=transactions,
        parts=parts,
        audits=[
            AuditEntry(actor=actor, action="ledger.posted", obj=txn, after=_audit_payload(posting))
            for txn, posting in zip(transactions, validated, strict=True)
        ],
        legs=[posting.legs for posting in validated],
        locked=locked,
    )


def insufficient_funds_from(exc: IntegrityError) -> InsufficientFunds | None:
    """The ``InsufficientFunds`` a refusal by the non-negative CHECK stands for, else None."""
    if _constraint_of(exc) == _INTERNAL_NOT_NEGATIVE:
        return InsufficientFunds(_("An internal account would go below zero."))
    return None


def _audit_payload(posting: _Posting) -> dict[str, Any]:
    return {
        "kind": posting.kind,
        "currency": posting.currency,
        "reference": posting.reference,
        "memo": posting.memo,
        "legs": [[code, amount] for code, amount in posting.legs],
        "reverses": posting.reverses_id,
    }


def ledger_reverse(
    *,
    transaction: Transaction,
    reference: str,
    actor: Actor | None = None,
    memo: str = "",
) -> Transaction:
    """Post the exact opposite of ``transaction`` (kind ``reversal``), at most once.

    Same guarantees as ``ledger_post``: idempotent by ``reference``; a second reversal of
    the same transaction under another reference raises ``Conflict``; a reversal that
    would take an internal account below zero (the money has moved on) raises
    ``InsufficientFunds``.
    """
    legs = [(code, -amount) for code, amount in _stored_legs(transaction)]
    return ledger_post(
        kind=TransactionKind.REVERSAL,
        currency=transaction.currency,
        legs=legs,
        reference=reference,
        memo=memo or f"Reversal of {transaction.reference}",
        actor=actor,
        reverses=transaction,
    )
