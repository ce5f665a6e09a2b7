"""Verifying the audit trail (§12): the sealed chain, unsealed events, and checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from .checkpoints import CheckpointKeyError, checkpoint_record, load_public_key, read_log
from .checkpoints import signature_valid as _signature_valid
from .hashing import GENESIS_HASH, compute_hash, link_hash
from .models import AuditCheckpoint, AuditEvent, AuditLink


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int  # sealed links plus unsealed events verified
    broken_id: int | None = None  # the event at the first broken link
    reason: str = ""
    broken_position: int | None = None
    head_position: int = 0  # the last link's position
    intact_position: int = 0  # every link up to here verifies
    unsealed: int = 0


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the sealed links by position, then the unsealed events by id.

    A link holds when its position follows the previous one, its ``prev_hash`` is the
    previous link's hash, its own hash recomputes, and its event exists with content that
    still hashes to what was sealed. An unsealed event holds when its content hashes to its
    ``hash``. Reports the first that does not. Reads in batches; writes nothing.
    """
    prev_hash, position, checked = GENESIS_HASH, 0, 0
    while True:
        links = list(
            AuditLink.objects.filter(position__gt=position).order_by("position")[:batch_size]
        )
        if not links:
            break
        events = AuditEvent.objects.in_bulk([link.event_id for link in links])
        for link in links:
            problem = _link_problem(link, events.get(link.event_id), position, prev_hash)
            if problem:
                head = AuditLink.objects.order_by("-position").values_list("position", flat=True)
                return ChainReport(
                    False,
                    checked,
                    link.event_id,
                    problem,
                    broken_position=link.position,
                    head_position=head.first() or 0,
                    intact_position=position,
                )
            prev_hash, position = link.hash, link.position
            checked += 1
    head_position = position
    unsealed, last_id = 0, 0
    while True:
        batch = list(
            AuditEvent.objects.filter(id__gt=last_id, link__isnull=True).order_by("id")[:batch_size]
        )
        if not batch:
            return ChainReport(
                True,
                checked,
                head_position=head_position,
                intact_position=head_position,
                unsealed=unsealed,
            )
        for event in batch:
            if compute_hash(event) != event.hash:
                return ChainReport(
                    False,
                    checked,
                    event.id,
                    "hash does not match the event's content (not yet sealed)",
                    head_position=head_position,
                    intact_position=head_position,
                    unsealed=unsealed,
                )
            checked += 1
            unsealed += 1
            last_id = event.id


def _link_problem(link: AuditLink, event: AuditEvent | None, position: int, prev_hash: str) -> str:
    if link.position != position + 1:
        return f"positions {position + 1}–{link.position - 1} are missing from the chain"
    if link.prev_hash != prev_hash:
        return f"prev_hash at position {link.position} does not match the previous link"
    expected = link_hash(
        position=link.position,
        event_id=link.event_id,
        event_hash=link.event_hash,
        prev_hash=link.prev_hash,
    )
    if link.hash != expected:
        return f"the link at position {link.position} does not match its hash"
    if event is None:
        return f"the event sealed at position {link.position} is missing"
    if compute_hash(event) != link.event_hash or event.hash != link.event_hash:
        return f"hash does not match the event's content (sealed at position {link.position})"
    return ""


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class CheckpointReport:
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # valid checkpoints compared with the chain
    latest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_checkpoints(chain: ChainReport) -> CheckpointReport:
    """Check every checkpoint (table and log file) against the public key and the chain.

    Names each checkpoint with a bad signature, each one in the log file missing from the
    table, and each one the chain no longer reaches or no longer matches: a deleted tail,
    an emptied table or a rewritten history.
    """
    log_path = Path(settings.AUDIT_CHECKPOINT_LOG)
    stored = [("the database", checkpoint_record(row)) for row in AuditCheckpoint.objects.all()]
    logged: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for line, record in read_log(log_path):
        if record is None:
            problems.append(f"line {line} of {log_path} is not a checkpoint")
        else:
            logged.append((f"line {line} of {log_path}", record))
    if not stored and not logged:
        return CheckpointReport(problems)
    key_path = Path(settings.AUDIT_CHECKPOINT_PUBLIC_KEY_FILE)
    try:
        public_key = load_public_key(key_path)
    except CheckpointKeyError as exc:
        numbers = {record.get("number") for _source, record in [*stored, *logged]}
        problems.append(f"{len(numbers)} checkpoints cannot be checked: {exc}")
        return CheckpointReport(problems)

    valid: dict[int, dict[str, Any]] = {}
    for source, record in [*stored, *logged]:
        if not _signature_valid(record, public_key):
            problems.append(
                f"checkpoint #{record.get('number')} signed at {record.get('signed_at')} "
                f"({source}) has an invalid signature"
            )
            continue
        valid.setdefault(record["number"], record)
    stored_numbers = {record["number"] for _source, record in stored}
    for number in sorted(set(valid) - stored_numbers):
        problems.append(
            f"checkpoint #{number} signed at {valid[number]['signed_at']} is in {log_path} "
            "but missing from the database"
        )

    covered = AuditLink.objects.in_bulk([record["position"] for record in valid.values()])
    for number in sorted(valid, reverse=True):
        record = valid[number]
        problem = _checkpoint_problem(record, chain, covered.get(record["position"]))
        if problem:
            problems.append(problem)
    latest = valid[max(valid)] if valid else None
    return CheckpointReport(problems, checked=len(valid), latest=latest)


def _checkpoint_problem(record: dict[str, Any], chain: ChainReport, link: AuditLink | None) -> str:
    name = f"checkpoint #{record['number']} signed at {record['signed_at']}"
    covers = record["position"]
    if chain.head_position < covers:
        return (
            f"the chain ends at position {chain.head_position} but {name} covers position "
            f"{covers}: events were deleted"
        )
    if link is None or link.hash != record["chain_hash"] or link.event_id != record["event_id"]:
        return f"the link at position {covers} does not match {name}: the history was rewritten"
    if chain.intact_position < covers:
        return (
            f"the chain is intact only up to position {chain.intact_position} but {name} "
            f"covers position {covers}"
        )
    return ""
