"""Money in and out of the fund (§9): agency contributions and payment confirmations."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Transaction, TransactionKind
from fundapp.ledger.services import ledger_post
from fundapp.money import MAX_AMOUNT
from fundapp.notifications.outbox import event_record
from projects import permissions as perms
from projects.events import disbursement_data
from projects.models import Disbursement, DisbursementState, Fund
from projects.models.projects import DISBURSEMENT_WORKFLOW
from projects.rules.gates import GATE_TIMEZONE

from .notices import finance_officers, notify_people, project_pis, project_url

CONTRIBUTION_TARGETS = ("pool", "reserve")
MAX_PAYMENT_REFERENCE = 100


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={field: [message]})


def fund_contribute(
    *, fund: Fund, side: str, amount: int, to: str = "pool", actor: Actor, reference: str
) -> Transaction:
    """Record a side's agency contributing ``amount`` to the side's pool or reserve (§9).

    Fund or finance officers only. Posts ``agency:{side}`` → ``fund:{side}:{to}`` in the
    side's currency under ledger reference ``contribution:{reference}``: idempotent (the
    same reference and amount returns the first posting; another amount is a
    ``Conflict``). Audited by the ledger and here.
    """
    allowed, reason = perms.can_contribute(actor)
    if not allowed:
        raise PermissionDenied(reason)
    if side not in ledger_rules.SIDE_CURRENCY or side not in ledger_rules.SIDES:
        raise _refuse("side", _("Choose the JP or the KR side."))
    if to not in CONTRIBUTION_TARGETS:
        raise _refuse("to", _("A contribution goes to the pool or to the reserve."))
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise _refuse("amount", _("Give a whole, positive amount of at most 10¹⁵."))
    if not isinstance(reference, str) or not reference.strip():
        raise _refuse("reference", _("Give the contribution's reference."))
    currency = ledger_rules.SIDE_CURRENCY[side]
    target = (
        ledger_rules.account_code_fund_pool(side)
        if to == "pool"
        else ledger_rules.account_code_fund_reserve(side)
    )
    with transaction.atomic():
        txn = ledger_post(
            kind=TransactionKind.CONTRIBUTION,
            currency=currency,
            legs=[(ledger_rules.account_code_agency(side), -amount), (target, amount)],
            reference=f"contribution:{reference.strip()}",
            memo=f"{fund.name_en}: contribution of the {side} agency to the {to}",
            actor=actor,
        )
        audit_record(
            actor=actor,
            action="fund.contribution",
            obj=fund,
            after={"side": side, "to": to, "amount": amount, "ledger_transaction": txn.pk},
        )
    return txn


def _clean_paid_on(paid_on: object) -> date:
    if isinstance(paid_on, datetime) or not isinstance(paid_on, date):
        raise _refuse("paid_on", _("Give the payment date (YYYY-MM-DD)."))
    if paid_on > timezone.localdate(timezone=GATE_TIMEZONE):
        raise _refuse("paid_on", _("The payment date cannot be in the future."))
    return paid_on


def _clean_reference(reference: object) -> str:
    text = unicodedata.normalize("NFC", reference.strip()) if isinstance(reference, str) else ""
    if not text:
        raise _refuse("reference", _("Give the payment reference."))
    if len(text) > MAX_PAYMENT_REFERENCE:
        raise _refuse(
            "reference",
            _("The payment reference is longer than %(n)d characters.")
            % {"n": MAX_PAYMENT_REFERENCE},
        )
    return text


def disbursement_confirm(
    *, disbursement: Disbursement, actor: Actor, paid_on: date, reference: str
) -> Disbursement:
    """Confirm that an organisation's part of a tranche has been paid (§9).

    Who: a finance officer of the disbursement's side, or that side's agency finance system
    (an API key with ``payments:write`` of an organisation of kind ``agency`` in the side's
    country). The disbursement row is locked; the ledger posts payable → paid under the
    reference ``disbursement:{id}:confirm``. Idempotent: confirming a paid disbursement
    again with the same ``paid_on`` and ``reference`` returns it unchanged; different ones
    raise ``Conflict``; a cancelled (clawed back) disbursement cannot be paid. Audited; the
    project's PIs and the side's finance officers are notified.
    """
    paid_on = _clean_paid_on(paid_on)
    text = _clean_reference(reference)
    with transaction.atomic():
        locked = (
            Disbursement.objects.select_for_update(of=("self",))
            .select_related("tranche", "tranche__project", "tranche__stage", "organisation")
            .filter(pk=disbursement.pk)
            .first()
        )
        if locked is None:
            raise NotFound(_("No such disbursement."))
        allowed, reason = perms.can_confirm_disbursement(actor, locked)
        if not allowed:
            raise PermissionDenied(reason)
        if locked.state == DisbursementState.PAID:
            if locked.paid_on == paid_on and locked.reference == text:
                return locked
            raise Conflict(
                _("This payment was already confirmed on %(day)s with reference “%(ref)s”.")
                % {"day": locked.paid_on, "ref": locked.reference},
                code="already_paid",
            )
        if locked.state != DisbursementState.PAYABLE:
            raise Conflict(
                _("This disbursement was cancelled; it cannot be paid."), code="invalid_state"
            )
        txn = ledger_post(
            kind=TransactionKind.PAYMENT_CONFIRMATION,
            currency=locked.currency,
            legs=[
                (
                    ledger_rules.account_code_org_payable(locked.organisation_id, locked.currency),
                    -locked.amount,
                ),
                (
                    ledger_rules.account_code_org_paid(locked.organisation_id, locked.currency),
                    locked.amount,
                ),
            ],
            reference=f"disbursement:{locked.pk}:confirm",
            memo=f"Payment {text} on {paid_on.isoformat()}",
            actor=actor,
        )
        before = DISBURSEMENT_WORKFLOW.move(locked, DisbursementState.PAID, actor=actor)
        locked.paid_on = paid_on
        locked.reference = text
        locked.confirmed_at = timezone.now()
        locked.confirmed_by = actor if isinstance(actor, User) else None
        locked.confirmed_by_api_key = actor if isinstance(actor, ApiKey) else None
        locked.ledger_transaction = txn
        locked.save(
            update_fields=[
                "state",
                "paid_on",
                "reference",
                "confirmed_at",
                "confirmed_by",
                "confirmed_by_api_key",
                "ledger_transaction",
            ]
        )
        audit_record(
            actor=actor,
            action="disbursement.confirmed",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "paid_on": paid_on,
                "reference": text,
                "amount": locked.amount,
                "currency": locked.currency,
                "ledger_transaction": txn.pk,
            },
        )
        # For the paid organisation: its payments are its own business (§13.3).
        event_record(
            kind="disbursement.confirmed",
            obj=locked,
            organisation_ids=[locked.organisation_id],
            payload=disbursement_data(locked),
        )
        project = locked.tranche.project
        notify_people(
            users=[*project_pis(project), *finance_officers(locked.tranche.side)],
            message="payment.confirmed",
            params={
                "amount": locked.amount,
                "currency": locked.currency,
                "org": locked.organisation_id,
            },
            url=project_url(project),
        )
    return locked
