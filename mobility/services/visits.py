"""Visits after the award (§25): arrival, departure, cancellation and the final report.

Every move goes through the workflow kernel (``VISIT_WORKFLOW``): the visit is re-read
locked, the table and the actor checked, the state saved and audited. Lock order, shared
with ``mobility.services.stipends``: visit → ledger accounts. The money moves in the same
transaction as the state: travel on arrival, the owed stipends and the return of the rest
on departure, everything back on cancellation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.actors import Actor
from fundapp.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.decisions import require
from fundapp.kernel.private_files import private_file_write
from fundapp.kernel.problems import Problems
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.services import ledger_accounts_lock, ledger_post
from fundapp.notifications.outbox import event_record
from fundapp.uploads.pdf import check_pdf_upload
from fundapp.workflow import transition
from mobility.events import visit_data
from mobility.models import PaymentKind, Visit, VisitPayment, VisitState
from mobility.permissions import (
    can_cancel_visit,
    can_confirm_visit_dates,
    can_submit_final_report,
)
from mobility.services.notices import notify_arrival
from mobility.services.stipends import (
    stipends_post,
    stipends_unreleased_due,
    visit_organisation_ids,
)

REPORT_MAX_LENGTH = 20_000
REPORT_LANGUAGES = ("en", "ja", "ko")
PDF_MAGIC = b"%PDF-"


def travel_reference(visit_id: int) -> str:
    return f"visit:{visit_id}:travel"


def return_reference(visit_id: int) -> str:
    return f"visit:{visit_id}:return"


def commitment_reference(visit_id: int) -> str:
    """The reference of the award's commitment (written by the award)."""
    return f"visit:{visit_id}:commitment"


def _day(value: Any, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        message = _("Enter a valid date (YYYY-MM-DD).")
        raise ValidationFailed(message, errors={field: [message]}) from None


def _not_in_future(day: date, field: str) -> None:
    if day > today_in_tokyo():
        message = _("This date is in the future.")
        raise ValidationFailed(message, errors={field: [message]})


def _visit_event(kind: str, visit: Visit) -> None:
    event_record(
        kind=kind,
        obj=visit,
        organisation_ids=visit_organisation_ids(visit),
        payload=visit_data(visit),
    )


def _locked_with_application(visit: Visit) -> Visit:
    """The visit with its application and visitor (for permissions, events and notices);
    ``transition`` locks the row itself."""
    return Visit.objects.select_related("application", "application__visitor").get(pk=visit.pk)


def _return_rest(visit: Visit, *, actor: Actor | None) -> int:
    """Return what the visit's committed account still holds to the side's pool (kind
    ``termination``, reference ``visit:{id}:return``): exactly the unreleased rest, read
    under the account's lock. Returns the amount (0: nothing posted)."""
    committed = ledger_rules.account_code_visit_committed(visit.pk, visit.paying_side)
    pool = ledger_rules.account_code_fund_pool(visit.paying_side)
    locked = ledger_accounts_lock(codes=[committed, pool], currency=visit.currency)
    rest = locked[committed].balance
    if rest:
        ledger_post(
            kind=TransactionKind.TERMINATION,
            currency=visit.currency,
            legs=[(committed, -rest), (pool, rest)],
            reference=return_reference(visit.pk),
            memo=f"Visit {visit.pk}, unreleased rest returned",
            actor=actor,
            locked=locked,
        )
    return rest


def visit_confirm_arrival(*, visit: Visit, actor: Actor, arrived_on: Any) -> Visit:
    """The host organisation's office (or its system, or an officer) confirms the visitor's
    arrival: awarded → active with ``arrived_on`` (not in the future, Asia/Tokyo).

    Guarantees, in one transaction: the visit is locked and moved by the workflow kernel
    (audit ``visit.arrived``); the travel sum moves committed → the payee's payable once
    (ledger reference ``visit:{id}:travel`` and the ``VisitPayment`` unique key), with its
    payment row; the ``visit.arrived`` outbox event; the visitor is notified. After commit
    the stipend job is asked to pay this visit's months due by now (month 1 is due on the
    arrival day)."""
    day = _day(arrived_on, "arrived_on")
    _not_in_future(day, "arrived_on")
    visit = _locked_with_application(visit)
    require(can_confirm_visit_dates(actor, visit))
    with transaction.atomic():
        locked = transition(
            visit,
            VisitState.ACTIVE,
            actor=actor,
            action="visit.arrived",
            changes={"arrived_on": day},
        )
        locked.application = visit.application
        if locked.travel_amount:
            txn = ledger_post(
                kind=TransactionKind.TRANCHE_RELEASE,
                currency=locked.currency,
                legs=[
                    (
                        ledger_rules.account_code_visit_committed(locked.pk, locked.paying_side),
                        -locked.travel_amount,
                    ),
                    (
                        ledger_rules.account_code_org_payable(locked.payee_id, locked.currency),
                        locked.travel_amount,
                    ),
                ],
                reference=travel_reference(locked.pk),
                memo=f"Visit {locked.pk}, travel lump sum",
                actor=actor,
            )
            VisitPayment.objects.create(
                visit=locked,
                kind=PaymentKind.TRAVEL,
                month=0,
                amount=locked.travel_amount,
                transaction=txn,
            )
        _visit_event("visit.arrived", locked)
        notify_arrival(locked)
        visit_id = locked.pk
        transaction.on_commit(lambda: _enqueue_stipends(visit_id), robust=True)
    return locked


def _enqueue_stipends(visit_id: int) -> None:
    from mobility.tasks import release_stipends

    release_stipends.delay(visit_ids=[visit_id])


def visit_confirm_departure(*, visit: Visit, actor: Actor, ended_on: Any) -> Visit:
    """The host organisation's office (or its system, or an officer) confirms the visitor's
    departure: active → ended with ``ended_on`` (on or after the arrival, not in the
    future).

    Guarantees, in one transaction with the visit locked (workflow kernel, audit
    ``visit.departed``): the months due on or before ``ended_on`` and not yet paid are
    released as the daily job would (``stipends_post``); then the rest of the commitment —
    exactly the months never due — returns to the side's pool (kind ``termination``,
    reference ``visit:{id}:return``). A visit that ran its full length has no rest."""
    day = _day(ended_on, "ended_on")
    _not_in_future(day, "ended_on")
    visit = _locked_with_application(visit)
    require(can_confirm_visit_dates(actor, visit))
    with transaction.atomic():

        def ends_after_arrival(locked: Visit) -> None:
            if locked.arrived_on is not None and day < locked.arrived_on:
                message = _("The departure cannot be before the arrival.")
                raise ValidationFailed(message, errors={"ended_on": [message]})

        locked = transition(
            visit,
            VisitState.ENDED,
            actor=actor,
            action="visit.departed",
            changes={"ended_on": day},
            guard=ends_after_arrival,
        )
        locked.application = visit.application
        stipends_post(stipends_unreleased_due([locked], until=day), actor=actor)
        _return_rest(locked, actor=actor)
    return locked


def visit_cancel(*, visit: Visit, actor: Actor) -> Visit:
    """An officer cancels an awarded visit before the arrival: awarded → cancelled (audit
    ``visit.cancelled``), and the whole commitment returns to the side's pool in the same
    transaction (nothing was released before the arrival)."""
    visit = _locked_with_application(visit)
    require(can_cancel_visit(actor, visit))
    with transaction.atomic():
        locked = transition(visit, VisitState.CANCELLED, actor=actor, action="visit.cancelled")
        _return_rest(locked, actor=actor)
    return locked


def visit_final_report_submit(
    *, visit: Visit, actor: Actor, report: dict[str, str], pdf: Any = None
) -> Visit:
    """The visitor files the final report of an ended visit (a narrative in at least one of
    English, Japanese and Korean, each at most 20,000 characters, and optionally a PDF):
    ended → closed (audit and outbox ``visit.closed``). The database holds a closed visit
    to having its report. The PDF is checked by its content (``check_report_pdf``) before
    anything is written, stored outside the web root, and removed again if the visit
    cannot be closed."""
    texts = {lang: str(report.get(lang, "") or "").strip() for lang in REPORT_LANGUAGES}
    errors: dict[str, list[Any]] = {}
    for lang, text in texts.items():
        if len(text) > REPORT_MAX_LENGTH:
            errors[f"report_{lang}"] = [
                _("At most %(max)d characters.") % {"max": REPORT_MAX_LENGTH}
            ]
    if not any(texts.values()):
        errors["report_en"] = [_("Write the report in at least one language.")]
    if errors:
        raise ValidationFailed(_("The final report is not complete."), errors=errors)
    visit = _locked_with_application(visit)
    require(can_submit_final_report(actor, visit))
    checked = check_report_pdf(pdf) if pdf is not None else None
    stored = _store_report_pdf(visit.pk, checked) if checked is not None else None
    changes: dict[str, Any] = {
        **{f"report_{lang}": text for lang, text in texts.items()},
        "report_submitted_at": timezone.now(),
    }
    if checked is not None and stored is not None:
        changes.update(
            report_pdf_storage=stored[0],
            report_pdf_name=checked.name,
            report_pdf_size=checked.size,
            report_pdf_sha256=stored[1],
        )
    try:
        with transaction.atomic():
            locked = transition(
                visit, VisitState.CLOSED, actor=actor, action="visit.closed", changes=changes
            )
            locked.application = visit.application
            _visit_event("visit.closed", locked)
    except BaseException:
        if stored is not None:
            (Path(settings.PRIVATE_MEDIA_ROOT) / stored[0]).unlink(missing_ok=True)
        raise
    return locked


# --------------------------------------------------------------------------- report PDF


@dataclass(frozen=True)
class CheckedPdf:
    upload: Any
    name: str
    size: int


def check_report_pdf(upload: Any, *, field: str = "report_pdf") -> CheckedPdf:
    """The final report's PDF by its content: ≤ 20 MB (413), not empty (422), a complete
    PDF (``%PDF-`` header, ``%%EOF`` trailer; 415 otherwise) without active content or
    data after its end (``fundapp.uploads.pdf``, as for measurement evidence; 422)."""
    name = Path(str(getattr(upload, "name", "") or "").replace("\\", "/")).name[:200]
    size = int(getattr(upload, "size", 0) or 0)
    if size > settings.MAX_ATTACHMENT_BYTES:
        message = _("“%(name)s” is larger than 20 MB.") % {"name": name}
        raise PayloadTooLarge(message, errors={field: [message]})
    if size == 0:
        message = _("“%(name)s” is empty.") % {"name": name}
        raise ValidationFailed(message, errors={field: [message]})
    upload.seek(0)
    head = upload.read(len(PDF_MAGIC))
    upload.seek(max(0, size - 2048))
    tail = upload.read(2048)
    upload.seek(0)
    if head != PDF_MAGIC:
        message = _("“%(name)s” is not a PDF file (checked by its content, not its name).") % {
            "name": name
        }
        raise UnsupportedMediaType(message, errors={field: [message]})
    if b"%%EOF" not in tail:
        message = _("“%(name)s” is an incomplete PDF file.") % {"name": name}
        raise UnsupportedMediaType(message, errors={field: [message]})
    check_pdf_upload(upload, field=field)  # active content, trailing data (§17)
    problems = Problems()
    clean_name = inputs.text(problems, field, name, max_length=200) or "report.pdf"
    return CheckedPdf(upload=upload, name=clean_name, size=size)


def _store_report_pdf(visit_id: int, checked: CheckedPdf) -> tuple[str, str]:
    """Write the file outside the web root; return (storage name, SHA-256)."""
    storage = f"visits/{visit_id}/{uuid.uuid4().hex}.pdf"
    return storage, private_file_write(storage, checked.upload)


def report_pdf_path(visit: Visit) -> Path | None:
    """Where the final report's PDF lies, or ``None`` when there is none on this server."""
    if not visit.report_pdf_storage:
        return None
    path = Path(settings.PRIVATE_MEDIA_ROOT) / visit.report_pdf_storage
    return path if path.is_file() else None
