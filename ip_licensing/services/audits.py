"""Royalty audits (§23): a fund officer audits one licence's royalties for one quarter; the
finding (the amount under- or overpaid) closes the audit and posts a correcting ledger
transaction split as royalties are.

Decisions this module makes:

* **Who**: fund officers open and close audits (people only). The licence's parties see
  them (and their findings) wherever they see the licence; others get 404.
* **Finding**: a signed whole amount in the licence's currency: positive when the licensee
  underpaid, negative when it overpaid. An underpayment carries simple interest
  (``royalty_rules.late_interest``, rounded down) at the policy's ``late_interest_rate``
  from the day after the quarter's report deadline to the day the audit closes (Asia/Tokyo);
  an overpayment is returned without interest.
* **Correction**: closing posts ``finding + interest`` as one ledger transaction
  ``royalty-audit:{id}`` (kind ``royalty``), split like royalties (``royalty_legs``); an
  overpayment moves the same legs back, and is refused (409) if the money has already been
  paid out. A finding of zero closes the audit and posts nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.notices import notify_people
from fundapp.money import MAX_AMOUNT
from fundapp.notifications.outbox import event_record
from fundapp.workflow import transition
from ip_licensing import royalty_rules, rules
from ip_licensing.models import Licence, LicenceState, RoyaltyAudit, RoyaltyAuditState
from ip_licensing.permissions import can_audit_royalties
from ip_licensing.services import royalties
from ip_licensing.services.royalty_integrity import late_interest_rate, research_offices

MAX_TEXT = 4000
AUDITABLE_STATES = (
    LicenceState.ACTIVE,
    LicenceState.SUSPENDED,
    LicenceState.EXPIRED,
    LicenceState.TERMINATED,
)


def _require_officer(actor: Actor) -> User:
    allowed, reason = can_audit_royalties(actor)
    if not allowed or not isinstance(actor, User):
        raise PermissionDenied(reason)
    return actor


def _text(field: str, value: Any, *, required: bool) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        message = _("This field is required.")
        raise ValidationFailed(message, errors={field: [message]})
    if len(text) > MAX_TEXT:
        message = _("Use at most %(max)d characters.") % {"max": MAX_TEXT}
        raise ValidationFailed(message, errors={field: [message]})
    return text


def audit_data(audit: RoyaltyAudit, licence: Licence) -> dict[str, Any]:
    """The ``royalty_audit.closed`` event's ``data``: the audit as the API shows it."""
    return {
        "id": audit.pk,
        "licence": licence.pk,
        "reference": licence.reference,
        "quarter": audit.quarter,
        "state": audit.state,
        "finding_amount": audit.finding_amount or 0,
        "finding_interest": audit.finding_interest or 0,
        "currency": licence.currency,
        "transaction": audit.ledger_transaction.reference if audit.ledger_transaction else None,
        "closed_at": audit.closed_at,
    }


def royalty_audit_open(
    *, licence: Licence, actor: Actor, quarter: Any, scope: Any = ""
) -> RoyaltyAudit:
    """A fund officer opens an audit of ``licence``'s royalties for ``quarter``.

    Guarantees: fund officers only (403); a licence that is or was in force (409); a
    quarter that has begun and overlaps its term (422); one open audit per licence and
    quarter (409, the database decides); the licence row is locked first; audited
    ``royalty_audit.opened`` in the same transaction.
    """
    officer = _require_officer(actor)
    scope = _text("scope", scope, required=False)
    with transaction.atomic():
        locked = royalties._lock(licence)
        if locked.state not in AUDITABLE_STATES:
            raise Conflict(
                _("A licence in state “%(state)s” has no royalties to audit.")
                % {"state": LicenceState(locked.state).label},
                code="invalid_state",
            )
        quarter = royalties._validated_quarter(locked, quarter if isinstance(quarter, str) else "")
        try:
            with transaction.atomic():
                audit = RoyaltyAudit.objects.create(
                    licence=locked, quarter=quarter, scope=scope, opened_by=officer
                )
        except IntegrityError:
            message = _("An audit of %(quarter)s is already open for this licence.") % {
                "quarter": quarter
            }
            raise Conflict(
                message, code="royalty_audit_open", errors={"quarter": [message]}
            ) from None
        audit_record(
            actor=officer,
            action="royalty_audit.opened",
            obj=audit,
            after={"licence": locked.pk, "quarter": quarter, "scope": scope},
        )
    return audit


def _finding_amount(value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        message = _("Give the amount as a whole number (negative when overpaid).")
        raise ValidationFailed(message, errors={"finding_amount": [message]})
    if abs(value) > MAX_AMOUNT:
        message = _("Amounts above 10¹⁵ are refused.")
        raise ValidationFailed(message, errors={"finding_amount": [message]})
    return value


def royalty_audit_close(
    *, audit: RoyaltyAudit, actor: Actor, finding_amount: Any, note: Any
) -> RoyaltyAudit:
    """A fund officer records the finding and closes the audit (open → closed).

    Guarantees, in one transaction with the licence row locked, then the audit's (the
    workflow kernel's transition): fund officers only (403); a whole signed amount and a
    note (422); an open audit (409); interest on an underpayment as the module docstring
    says; the correcting ledger transaction ``royalty-audit:{id}`` (at most once: the
    reference is unique), the state, the ``royalty_audit.closed`` audit and outbox event
    commit together; the parties' research offices are told.
    """
    officer = _require_officer(actor)
    amount = _finding_amount(finding_amount)
    note = _text("note", note, required=True)
    with transaction.atomic():
        licence = royalties._lock(audit.licence)
        current = RoyaltyAudit.objects.select_for_update(of=("self",)).get(pk=audit.pk)
        if current.state != RoyaltyAuditState.OPEN:
            raise Conflict(_("This audit is already closed."), code="invalid_state")
        days = royalty_rules.days_late(
            royalty_rules.report_deadline(rules.parse_quarter(current.quarter)), today_in_tokyo()
        )
        interest = royalty_rules.late_interest(amount, late_interest_rate(licence), days)
        total = amount + interest
        txn = None
        if total:
            txn = royalties._post(
                licence=licence,
                amount=total,
                reference=f"royalty-audit:{current.pk}",
                memo=f"Royalty audit {licence.reference} {current.quarter}",
                actor=officer,
            )
        closed = transition(
            current,
            RoyaltyAuditState.CLOSED,
            actor=officer,
            action="royalty_audit.closed",
            changes={
                "finding_amount": amount,
                "finding_interest": interest,
                "finding_days": days if interest else 0,
                "finding_note": note,
                "closed_at": timezone.now(),
                "closed_by_id": officer.pk,
                "ledger_transaction_id": txn.pk if txn is not None else None,
            },
        )
        event_record(
            kind="royalty_audit.closed",
            obj=closed,
            organisation_ids=[licence.licensor_id, licence.licensee_id],
            payload=audit_data(closed, licence),
        )
        offices = research_offices([licence.licensor_id, licence.licensee_id])
        notify_people(
            users=[*offices.get(licence.licensee_id, []), *offices.get(licence.licensor_id, [])],
            message="royalty_audit.closed",
            params={
                "licence": licence.pk,
                "quarter": closed.quarter,
                "amount": amount,
                "interest": interest,
                "currency": licence.currency,
            },
            url=f"/ip/licences/{licence.pk}/",
        )
    return closed
