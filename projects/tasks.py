"""Celery tasks of the projects app (§16).

Each task is thin: it takes ids (or nothing), loads rows and calls one service, which
decides idempotency with row locks and constraints. Every task runs with ``acks_late`` so a
worker that dies mid-task leaves the message to be redelivered, and rerunning is harmless.
Beat schedules for these tasks are declared in ``projects.schedules``.

Sections: calls; tranches (release and the reconciler).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from fundapp.errors import Conflict, NotFound
from projects.models import TrancheState
from projects.services.calls import calls_open_and_close
from projects.services.tranches import (
    RELEASE_BATCH_SIZE,
    tranche_release,
    tranches_awaiting_release,
    tranches_release,
)

# --- calls (§4) ---------------------------------------------------------------------------


@shared_task(name="projects.open_and_close_calls", acks_late=True)
def open_and_close_calls() -> dict[str, list[int]]:
    """Open and close calls by their opens_at / closes_at; every 5 minutes from beat."""
    return calls_open_and_close(now=timezone.now()).as_dict()


# --- tranches (§8, §9, §16) ---------------------------------------------------------------

logger = logging.getLogger(__name__)


# Releases are late-acknowledged and retried with backoff through a database outage.
_RELEASE_TASK: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 12,
}


@shared_task(name="projects.release_tranche", **_RELEASE_TASK)
def release_tranche(tranche_id: int) -> dict[str, object]:
    """Release one decided tranche (``tranche_release``): exactly once, whatever retries,
    redeliveries and concurrent workers happen. A tranche that is gone, planned or
    cancelled is logged and left; a database outage is retried with backoff."""
    try:
        tranche = tranche_release(tranche_id=tranche_id)
    except (Conflict, NotFound) as exc:
        logger.info("tranche %s not released: %s", tranche_id, exc)
        return {"tranche": tranche_id, "state": None, "detail": str(exc)}
    return {"tranche": tranche.pk, "state": tranche.state, "released": tranche.released}


@shared_task(name="projects.release_tranches", **_RELEASE_TASK)
def release_tranches(tranche_ids: list[int]) -> dict[str, object]:
    """Release a batch of decided tranches (``tranches_release``): one transaction, each
    tranche exactly once, whatever retries, redeliveries and concurrent workers happen. A
    tranche that cannot be released is logged and left without holding back the others; a
    database outage is retried with backoff."""
    result = tranches_release(tranche_ids=tranche_ids)
    for tranche_id, exc in result.refused.items():
        logger.info("tranche %s not released: %s", tranche_id, exc)
    return {
        "released": [t.pk for t in result.tranches if t.state == TrancheState.RELEASED],
        "left": [t.pk for t in result.tranches if t.state != TrancheState.RELEASED],
        "refused": {str(pk): str(exc) for pk, exc in result.refused.items()},
    }


@shared_task(name="projects.reconcile_pending", acks_late=True)
def reconcile_pending(grace_seconds: int = 60) -> dict[str, list[int]]:
    """Re-enqueue every release the database says is pending (§16), every minute from beat.

    A decided tranche of an active project whose release message was lost (broker outage,
    killed worker) is enqueued again; one decided less than ``grace_seconds`` ago is left to
    the message already on its way. Re-enqueueing is harmless: the release is idempotent.
    """
    ids = list(
        tranches_awaiting_release(decided_before=timedelta(seconds=grace_seconds)).values_list(
            "pk", flat=True
        )
    )
    for start in range(0, len(ids), RELEASE_BATCH_SIZE):
        release_tranches.delay(tranche_ids=ids[start : start + RELEASE_BATCH_SIZE])
    return {"tranches": ids}


@shared_task(name="projects.reconcile_imports", acks_late=True)
def reconcile_imports(grace_seconds: int = 300) -> dict[str, list[int]]:
    """Re-enqueue every measurement import still queued ``grace_seconds`` after its upload
    (§16, §17): its message was lost (the broker was down when the upload committed, or a
    worker died before taking it). Harmless when the message was only slow: an import runs
    under its job's row lock and writes its rows once."""
    from projects.models.imports import ImportJob, ImportState

    queued_before = timezone.now() - timedelta(seconds=grace_seconds)
    ids = list(
        ImportJob.objects.filter(state=ImportState.QUEUED, created_at__lte=queued_before)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for job_id in ids:
        import_measurements.delay(job_id)
    return {"imports": ids}


# --- gates and measurements (§7, §8, §16) -------------------------------------------------


@shared_task(
    name="projects.evaluate_gate",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=12,
)
def evaluate_gate(gate_id: int, as_of: str | None = None) -> dict[str, object]:
    """Evaluate one gate through ``gate_evaluate`` and let it be decided automatically.

    Kept for messages already queued and for on-demand use; the beat task sends batches
    (``evaluate_gates_batch``). Idempotent: a gate that is gone, decided, awaiting its
    officers' decision or not due is left alone (the service refuses it under the gate's
    row lock)."""
    from projects.models import Gate, GateState
    from projects.services.gates import gate_evaluate

    gate = Gate.objects.filter(pk=gate_id).first()
    if gate is None:
        return {"gate": gate_id, "skipped": "missing"}
    if gate.state == GateState.DECIDED:
        return {"gate": gate_id, "skipped": "decided"}
    try:
        evaluation = gate_evaluate(gate=gate, as_of=date.fromisoformat(as_of) if as_of else None)
    except Conflict as exc:
        logger.info("gate %s not evaluated: %s", gate_id, exc)
        return {"gate": gate_id, "skipped": exc.code}
    return {
        "gate": gate_id,
        "evaluation": evaluation.pk,
        "score": str(evaluation.score),
        "outcome": evaluation.outcome,
    }


@shared_task(
    name="projects.evaluate_gates_batch",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=12,
)
def evaluate_gates_batch(gate_ids: list[int], as_of: str) -> dict[str, object]:
    """Evaluate a batch of due gates in one transaction (``gates_evaluate``).

    Idempotent under redelivery and concurrent workers: under the gates' row locks a gate
    already evaluated in its round, decided, held by another worker or no longer due is
    skipped."""
    from projects.services.gates import gates_evaluate

    result = gates_evaluate(gate_ids=gate_ids, as_of=date.fromisoformat(as_of))
    return {
        "evaluated": sorted(result.evaluations),
        "decided": sorted(result.decisions),
        "skipped": {str(pk): exc.code for pk, exc in sorted(result.skipped.items())},
        "failed": sorted(result.failed),
    }


def due_gate_batches(as_of: date) -> list[list[int]]:
    """The ids of the gates due on ``as_of`` (``gates_due``), in sorted batches of
    ``BATCH_SIZE``: the messages ``evaluate_due_gates`` sends. One query."""
    from projects.selectors.gates import gates_due
    from projects.services.gates import BATCH_SIZE

    ids = list(gates_due(as_of).values_list("pk", flat=True))
    return [sorted(ids[offset : offset + BATCH_SIZE]) for offset in range(0, len(ids), BATCH_SIZE)]


@shared_task(name="projects.evaluate_due_gates", acks_late=True)
def evaluate_due_gates() -> dict[str, list[int]]:
    """Enqueue ``evaluate_gates_batch`` for the due gates without a decision, in batches of
    ``BATCH_SIZE`` ids (``due_gate_batches``), after the read commits; every 15 minutes."""
    from collections.abc import Callable

    from django.db import transaction

    from projects.services.gates import today_in_tokyo

    def enqueue(gate_ids: list[int], as_of: str) -> Callable[[], object]:
        return lambda: evaluate_gates_batch.delay(gate_ids, as_of)

    as_of = today_in_tokyo()
    with transaction.atomic():
        batches = due_gate_batches(as_of)
        for batch in batches:
            transaction.on_commit(enqueue(batch, as_of.isoformat()))
    return {"gates": [pk for batch in batches for pk in batch]}


@shared_task(
    name="projects.import_measurements",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=12,
)
def import_measurements(job_id: int) -> dict[str, object]:
    """Run one queued CSV import (``measurements_import_run``); a finished job is left alone."""
    from projects.services.measurement_import import measurements_import_run

    job = measurements_import_run(job_id=job_id)
    if job is None:
        return {"job": job_id, "state": None}
    return {"job": job.pk, "state": job.state, "imported": job.imported_count}


# --- finance exports (§9, §15) ---------------------------------------------------------------


@shared_task(
    name="projects.export_transactions",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=12,
)
def export_transactions(export_id: int) -> dict[str, object]:
    """Write one requested transactions CSV (``transaction_export_run``); a finished export
    is left alone."""
    from projects.services.transaction_exports import transaction_export_run

    export = transaction_export_run(export_id=export_id)
    if export is None:
        return {"export": export_id, "state": None}
    return {"export": export.pk, "state": export.state, "rows": export.progress_done}


@shared_task(name="projects.tidy_transaction_exports", acks_late=True)
def tidy_transaction_exports() -> dict[str, list[int]]:
    """Delete expired export files, give up stuck exports, re-enqueue lost ones (§16)."""
    from projects.services.transaction_exports import transaction_exports_tidy

    return transaction_exports_tidy()


@shared_task(name="projects.expire_evidence_uploads", acks_late=True)
def expire_evidence_uploads() -> int:
    """Remove evidence uploads no measurement took within their hold, and their files (§14)."""
    from projects.services.measurements import evidence_uploads_expire

    return evidence_uploads_expire()


# --- stage reports (§24) --------------------------------------------------------------------


@shared_task(name="projects.stage_report_reminders", acks_late=True)
def stage_report_reminders() -> dict[str, list[int]]:
    """Remind consortia of stage reports due in 30, 7 and 1 days and of overdue ones, on
    the fund's (Asia/Tokyo) day; daily from beat. Each reminder goes out once
    (``report_reminders_send``)."""
    from fundapp.kernel.calendar import today_in_tokyo
    from projects.services.reports import report_reminders_send

    return report_reminders_send(today=today_in_tokyo())


@shared_task(name="projects.deliverable_reminders", acks_late=True)
def deliverable_reminders() -> dict[str, list[int]]:
    """Remind the PIs of deliverables due in 7 and 1 days and of overdue ones (§24), on
    the fund's (Asia/Tokyo) day; daily from beat. Each reminder goes out once
    (``deliverable_reminders_send``)."""
    from fundapp.kernel.calendar import today_in_tokyo
    from projects.services.deliverables import deliverable_reminders_send

    return deliverable_reminders_send(today=today_in_tokyo())
