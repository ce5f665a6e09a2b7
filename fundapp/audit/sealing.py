"""Sealing: one job links committed audit events into the chain (§12).

Writers only insert events with their own content hash. The sealer appends one
``AuditLink`` per committed, not yet sealed event, each chained to the link before it.
Positions are given in sealing order, ids ascending within a pass: an event whose
transaction took its id before a higher, already sealed id but committed later is sealed
by a later pass at a later position. The chain therefore only grows at its head and never
needs rewriting, and no writer ever waits for the sealer or for another writer.

Finding what to seal without scanning the table: each event carries the id of the
transaction that wrote it (``txid``). When a pass has sealed every event its snapshot
could see, every transaction older than that snapshot's ``xmin`` has ended and its events
are sealed, so the pass records that xmin as the ``txid_floor`` of its links and the next
pass looks only at events from that transaction id on (an index range scan).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from .hashing import GENESIS_HASH, link_hash
from .models import AuditEvent, AuditLink

SEAL_BATCH_SIZE = 1000
# Taken only by the sealer and the checkpoint job, never by writers.
SEALER_LOCK_KEY = 0x4A4B_5345_414C  # "JKSEAL"

_EVENTS = AuditEvent._meta.db_table
_LINKS = AuditLink._meta.db_table

# One statement, so the head, the candidates and the snapshot's xmin come from one
# snapshot. Our own transaction counts as running (it may have appended events itself).
_SEAL_SELECT = f"""
WITH head AS (
    SELECT position, hash, txid_floor FROM {_LINKS} ORDER BY position DESC LIMIT 1
), snap AS (
    SELECT LEAST(
        pg_snapshot_xmin(pg_current_snapshot()),
        COALESCE(pg_current_xact_id_if_assigned(), pg_snapshot_xmin(pg_current_snapshot()))
    )::text::bigint AS xmin
)
SELECT snap.xmin, head.position, head.hash, head.txid_floor, todo.id, todo.hash
FROM snap
LEFT JOIN head ON true
LEFT JOIN LATERAL (
    SELECT e.id, e.hash FROM {_EVENTS} e
    WHERE e.txid >= COALESCE(head.txid_floor, 0)
      AND NOT EXISTS (SELECT 1 FROM {_LINKS} l WHERE l.event_id = e.id)
    ORDER BY e.id
    LIMIT %s
) todo ON true
ORDER BY todo.id
"""  # noqa: S608 - table names are our own constants


@dataclass(frozen=True)
class SealReport:
    sealed: int
    head_position: int
    busy: bool = False  # another sealer held the lock; nothing was done by this call


def audit_chain_seal(*, batch_size: int = SEAL_BATCH_SIZE) -> SealReport:
    """Link every committed, unsealed event into the chain, in batches.

    Guarantees: only one sealer works at a time (a transaction-level advisory lock that
    writers never take; if another sealer holds it this returns ``busy`` at once instead
    of waiting); each event is sealed exactly once (the lock, and a unique event id on
    links); links are only appended. Each batch is its own transaction of three queries
    (lock, read head and candidates, insert links) whatever its size. Idempotent: a second
    run with nothing new seals nothing. No audit event of its own: sealing changes no
    domain state.
    """
    sealed = 0
    while True:
        with transaction.atomic():
            outcome = _seal_batch(batch_size)
        if outcome is None:
            return SealReport(sealed=sealed, head_position=0, busy=True)
        count, head_position = outcome
        sealed += count
        if count < batch_size:
            return SealReport(sealed=sealed, head_position=head_position)


def _seal_batch(batch_size: int) -> tuple[int, int] | None:
    """Seal up to ``batch_size`` events; (how many, head position), or None if busy."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEALER_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(_SEAL_SELECT, [batch_size])
        rows = cursor.fetchall()
    snapshot_xmin, head_position, head_hash, floor, _, _ = rows[0]
    todo = [(event_id, event_hash) for *_, event_id, event_hash in rows if event_id is not None]
    position = head_position or 0
    if not todo:
        return 0, position
    # Everything this snapshot could see is sealed once this batch is: move the floor.
    drained = len(todo) < batch_size
    new_floor = snapshot_xmin if drained else (floor or 0)
    prev = head_hash or GENESIS_HASH
    now = timezone.now()
    links = []
    for event_id, event_hash in todo:
        position += 1
        chain = link_hash(
            position=position, event_id=event_id, event_hash=event_hash, prev_hash=prev
        )
        links.append(
            AuditLink(
                position=position,
                event_id=event_id,
                event_hash=event_hash,
                prev_hash=prev,
                hash=chain,
                txid_floor=new_floor,
                sealed_at=now,
            )
        )
        prev = chain
    AuditLink.objects.bulk_create(links)
    return len(links), position
