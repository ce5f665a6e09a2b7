"""Double-entry ledger in JPY and KRW, integers only (§9).

Sign convention: an entry's ``amount`` is added to its account's balance. Positive is a
debit *into* the account (its balance grows), negative is money going *out*. A transfer of
100 from the pool to a project is ``[("fund:JP:pool", -100), ("project:1:JP:committed",
100)]``. An external source such as ``agency:JP`` therefore runs negative by the amount it
has contributed, and the external sink ``org:7:JPY:paid`` grows with every payment.

The database, not only the services, keeps the invariants (PostgreSQL, via pgtrigger and
CHECK constraints installed by the migrations):

1. every transaction balances to zero: a DEFERRABLE INITIALLY DEFERRED constraint trigger
   on ``Entry`` sums the transaction's entries at commit; another on ``Transaction``
   refuses a transaction without entries;
2. one currency per transaction: a trigger refuses an entry whose currency differs from
   its transaction's or its account's; entries may only join a transaction inside the
   database transaction that created it (``created_at`` is stamped ``now()``);
3. entries and transactions are append-only (UPDATE, DELETE and TRUNCATE refused); accounts are
   never deleted or truncated and their code, currency and kind never change;
4. ``Account.balance`` is maintained by a trigger on entry insert (so raw SQL keeps it
   right too), may not be changed any other way, and a CHECK refuses a negative balance
   on an internal account;
5. ``Transaction.reference`` is unique (the idempotency key) and a transaction is
   reversed at most once (``reverses`` is one-to-one).
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from fundapp.money import MAX_AMOUNT
from fundapp.triggers import refuse_truncate

from . import rules


class Currency(models.TextChoices):
    JPY = "JPY", _("Japanese yen")
    KRW = "KRW", _("Korean won")


class AccountKind(models.TextChoices):
    INTERNAL = rules.INTERNAL, _("internal")
    EXTERNAL = rules.EXTERNAL, _("external")


class TransactionKind(models.TextChoices):
    CONTRIBUTION = "contribution", _("contribution")
    AWARD_COMMITMENT = "award_commitment", _("award commitment")
    TRANCHE_RELEASE = "tranche_release", _("tranche release")
    PAYMENT_CONFIRMATION = "payment_confirmation", _("payment confirmation")
    TERMINATION = "termination", _("termination")
    ROYALTY = "royalty", _("royalty")
    REVERSAL = "reversal", _("reversal")
    ADJUSTMENT = "adjustment", _("adjustment")


# Trigger bodies raise check_violation with a constraint name, so Django reports them as
# IntegrityError and services can tell which rule refused a row.

# Only the trigger on entry insert (nested, depth ≥ 2) may move a balance.
_ACCOUNT_BALANCE_GUARD = """
    IF TG_OP = 'INSERT' THEN
        IF NEW.balance <> 0 THEN
            RAISE EXCEPTION 'ledger: account % must open with balance 0', NEW.code
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'ledger_account_balance_by_entries';
        END IF;
    ELSIF NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'ledger: the balance of account % changes only by posting entries',
                OLD.code
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_balance_by_entries';
    END IF;
    RETURN NEW;
"""

_TRANSACTION_STAMP = """
    NEW.created_at := now();
    IF NEW.reverses_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM ledger_transaction
        WHERE id = NEW.reverses_id AND currency = NEW.currency
    ) THEN
        RAISE EXCEPTION 'ledger: transaction % must reverse a transaction in %',
                NEW.reference, NEW.currency
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'ledger_transaction_reverses_same_currency';
    END IF;
    RETURN NEW;
"""

_TRANSACTION_HAS_ENTRIES = """
    IF NOT EXISTS (SELECT 1 FROM ledger_entry WHERE transaction_id = NEW.id) THEN
        RAISE EXCEPTION 'ledger: transaction % has no entries', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_has_entries';
    END IF;
    RETURN NULL;
"""

_ENTRY_ONE_CURRENCY = """
    SELECT currency, created_at INTO txn_currency, txn_created_at
        FROM ledger_transaction WHERE id = NEW.transaction_id;
    SELECT currency INTO account_currency FROM ledger_account WHERE id = NEW.account_id;
    IF NEW.currency IS DISTINCT FROM txn_currency
            OR NEW.currency IS DISTINCT FROM account_currency THEN
        RAISE EXCEPTION 'ledger: entry in % does not match transaction % (%) and account % (%)',
                NEW.currency, NEW.transaction_id, txn_currency, NEW.account_id, account_currency
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_one_currency';
    END IF;
    -- created_at is stamped now() (the database transaction's start) on insert, so this
    -- refuses entries added to a transaction posted earlier.
    IF txn_created_at IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'ledger: transaction % is closed; entries join it only while it is posted',
                NEW.transaction_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_open_transaction';
    END IF;
    RETURN NEW;
"""

_ENTRY_MOVES_BALANCE = """
    UPDATE ledger_account SET balance = balance + NEW.amount WHERE id = NEW.account_id;
    RETURN NULL;
"""

_ENTRY_BALANCED = """
    SELECT COALESCE(SUM(amount), 0) INTO total
        FROM ledger_entry WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger: transaction % does not balance: its entries sum to %',
                NEW.transaction_id, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_transaction_balances';
    END IF;
    RETURN NULL;
"""


class Account(models.Model):
    """One account of the ledger, named by its §9 code; its kind follows from the code.

    ``balance`` is written by the database alone; save a changed ``name`` with
    ``update_fields=["name"]`` (a full ``save()`` carrying a stale balance is refused).
    """

    id = models.BigAutoField(primary_key=True)
    code = models.CharField(_("code"), max_length=rules.MAX_CODE_LENGTH, unique=True)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    kind = models.CharField(_("kind"), max_length=8, choices=AccountKind.choices)
    name = models.CharField(_("name"), max_length=200, blank=True)
    # Written only by the entry trigger: the sum of this account's entries.
    balance = models.BigIntegerField(_("balance"), default=0)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        ordering = ["code"]
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=AccountKind.values), name="ledger_account_kind_known"
            ),
            models.CheckConstraint(
                condition=models.Q(currency__in=Currency.values),
                name="ledger_account_currency_known",
            ),
            models.CheckConstraint(
                condition=models.Q(kind=AccountKind.EXTERNAL) | models.Q(balance__gte=0),
                name="ledger_account_internal_not_negative",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="account_no_delete", operation=pgtrigger.Delete),
            refuse_truncate("account_no_truncate"),
            pgtrigger.Protect(
                name="account_identity_fixed",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange("code", "currency", "kind", "created_at"),
            ),
            pgtrigger.Trigger(
                name="account_balance_by_entries",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func=_ACCOUNT_BALANCE_GUARD,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class Transaction(models.Model):
    """A balanced money movement, posted at most once per ``reference``."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("kind"), max_length=32, choices=TransactionKind.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    reference = models.CharField(_("reference"), max_length=200, unique=True)
    memo = models.TextField(_("memo"), blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now(), db_index=True)
    reverses = models.OneToOneField(
        "self",
        verbose_name=_("reverses"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=TransactionKind.values),
                name="ledger_transaction_kind_known",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__in=Currency.values),
                name="ledger_transaction_currency_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(reference=""), name="ledger_transaction_reference_given"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind=TransactionKind.REVERSAL, reverses__isnull=False)
                    | (~models.Q(kind=TransactionKind.REVERSAL) & models.Q(reverses__isnull=True))
                ),
                name="ledger_transaction_reversal_has_target",
            ),
            models.CheckConstraint(
                condition=~models.Q(reverses=models.F("id")),
                name="ledger_transaction_not_self_reversing",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="transaction_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            refuse_truncate("transaction_no_truncate"),
            pgtrigger.Trigger(
                name="transaction_stamp",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func=_TRANSACTION_STAMP,
            ),
            pgtrigger.Trigger(
                name="transaction_has_entries",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func=_TRANSACTION_HAS_ENTRIES,
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.kind} {self.reference}"


class Entry(models.Model):
    """One leg of a transaction: ``amount`` is added to the account's balance."""

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(
        Transaction, verbose_name=_("transaction"), on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries"
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    amount = models.BigIntegerField(_("amount"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount=0)
                & models.Q(amount__gte=-MAX_AMOUNT, amount__lte=MAX_AMOUNT),
                name="ledger_entry_amount_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__in=Currency.values),
                name="ledger_entry_currency_known",
            ),
            models.UniqueConstraint(
                fields=["transaction", "account"], name="ledger_entry_one_per_account"
            ),
        ]
        indexes = [models.Index(fields=["account", "id"], name="ledger_entry_account_idx")]
        triggers = [
            pgtrigger.Protect(
                name="entry_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            refuse_truncate("entry_no_truncate"),
            pgtrigger.Trigger(
                name="entry_one_currency",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                declare=[
                    ("txn_currency", "TEXT"),
                    ("txn_created_at", "TIMESTAMPTZ"),
                    ("account_currency", "TEXT"),
                ],
                func=_ENTRY_ONE_CURRENCY,
            ),
            pgtrigger.Trigger(
                name="entry_moves_balance",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                func=_ENTRY_MOVES_BALANCE,
            ),
            pgtrigger.Trigger(
                name="entry_transaction_balances",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                declare=[("total", "NUMERIC")],
                func=_ENTRY_BALANCED,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+} ({self.currency})"
