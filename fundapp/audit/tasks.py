"""Celery tasks of the audit trail (§12, §16): sealing the chain and signing checkpoints.

Both are safe under ``acks_late``, redelivery and several workers at once: the sealer's
advisory lock and the unique event id of a link decide, not the task.
"""

from __future__ import annotations

from celery import shared_task

from .checkpoints import audit_checkpoint_create
from .sealing import audit_chain_seal

SEAL_RETRIES = 3


@shared_task(name="fundapp.audit.seal_chain", bind=True, acks_late=True, max_retries=SEAL_RETRIES)
def seal_chain(self) -> dict[str, int]:
    """Seal every committed event (enqueued after audited commits, and every minute).

    If another sealer is running it may have started before the commit that enqueued this
    run, so try again shortly instead of assuming the event is sealed.
    """
    report = audit_chain_seal()
    if report.busy and self.request.retries < SEAL_RETRIES:
        raise self.retry(countdown=2)
    return {"sealed": report.sealed, "head": report.head_position}


@shared_task(name="fundapp.audit.checkpoint", acks_late=True)
def checkpoint_chain() -> dict[str, object]:
    """Seal, then sign the head as a checkpoint (hourly); skipped when nothing changed."""
    result = audit_checkpoint_create()
    number = result.checkpoint.id if result.checkpoint else None
    return {"checkpoint": number, "skipped": result.reason}
