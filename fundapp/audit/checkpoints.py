"""Signed checkpoints of the sealed head (§12).

Every hour and on demand the head of the sealed chain (position, event id, chain hash,
number of sealed events) is signed with an Ed25519 private key read from a file that only
the checkpoint job reads (``AUDIT_CHECKPOINT_KEY_FILE``), never the web processes. Each
checkpoint is stored in the append-only ``AuditCheckpoint`` table and appended as one JSON
line to ``AUDIT_CHECKPOINT_LOG``, a file an operator ships elsewhere. Whoever can write
the database cannot forge one; the public key alone verifies them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import AuditCheckpoint, AuditLink
from .sealing import SEALER_LOCK_KEY, audit_chain_seal

PRIVATE_KEY_NAME = "checkpoint.key"
PUBLIC_KEY_NAME = "checkpoint.pub"
SIGNED_FIELDS = ("number", "position", "event_id", "chain_hash", "sealed_count", "signed_at")


class CheckpointKeyError(Exception):
    """A checkpoint key file is missing or is not an Ed25519 key."""


# --------------------------------------------------------------------------- keys


def keygen(out_dir: Path) -> tuple[Path, Path]:
    """Write a new key pair into ``out_dir`` (``checkpoint.key`` and ``checkpoint.pub``)."""
    return keygen_files(out_dir / PRIVATE_KEY_NAME, out_dir / PUBLIC_KEY_NAME)


def keygen_files(private_path: Path, public_path: Path) -> tuple[Path, Path]:
    """Write a new key pair: the private key readable by its owner only.

    A deployment keeps the private key on a volume only the checkpoint worker mounts, and
    the public key where every process that verifies can read it. Refuses to overwrite an
    existing private key (checkpoints signed with it would become unverifiable if its
    public half were lost).
    """
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL with mode 0600 from the start: the key is never readable by others, not even
    # for an instant, and an existing key is never replaced.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    write_public_key(key, public_path)
    return private_path, public_path


def write_public_key(key: Ed25519PrivateKey, public_path: Path) -> Path:
    """Write the public half of ``key`` (PEM) to ``public_path``."""
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise CheckpointKeyError(f"cannot read the checkpoint private key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointKeyError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointKeyError(f"cannot read the checkpoint public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointKeyError(f"{path} is not an Ed25519 public key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- records


def signed_message(record: dict[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: canonical JSON of its signed fields."""
    fields = {name: record[name] for name in SIGNED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def checkpoint_record(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """A checkpoint as plain JSON values: one line of the log file."""
    return {
        "number": checkpoint.id,
        "position": checkpoint.position,
        "event_id": checkpoint.event_id,
        "chain_hash": checkpoint.chain_hash,
        "sealed_count": checkpoint.sealed_count,
        "signed_at": checkpoint.signed_at.isoformat(),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def signature_valid(record: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(record["signature"]), signed_message(record))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True


def read_log(path: Path) -> list[tuple[int, dict[str, Any] | None]]:
    """The log file's lines as (line number, record or None if unreadable); [] if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines: list[tuple[int, dict[str, Any] | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        lines.append((number, record if isinstance(record, dict) else None))
    return lines


def _append_to_log(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- service


@dataclass(frozen=True)
class CheckpointResult:
    checkpoint: AuditCheckpoint | None
    reason: str = ""  # why none was written


def audit_checkpoint_create() -> CheckpointResult:
    """Seal what is committed, then sign the sealed head into the table and the log file.

    Guarantees: reads the private key file and nothing else secret; serialised with the
    sealer by its advisory lock (never taken by writers), so the head cannot move while it
    is signed. Idempotent: when nothing was sealed since the last checkpoint, or nothing
    is sealed yet, no checkpoint is written (the reason says so). The file line is written
    after the row commits, so the file never holds a checkpoint the table lacks.
    """
    private_key = load_private_key(Path(settings.AUDIT_CHECKPOINT_KEY_FILE))
    audit_chain_seal()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALER_LOCK_KEY])
        head = AuditLink.objects.order_by("-position").first()
        if head is None:
            return CheckpointResult(None, "nothing is sealed yet")
        last = AuditCheckpoint.objects.order_by("-id").first()
        if last is not None and last.position == head.position:
            return CheckpointResult(last, f"checkpoint #{last.id} already covers the head")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id'))",
                [AuditCheckpoint._meta.db_table],
            )
            number = cursor.fetchone()[0]
        checkpoint = AuditCheckpoint(
            id=number,
            position=head.position,
            event_id=head.event_id,
            chain_hash=head.hash,
            # Positions run from 1 without gaps (verify_audit_chain checks it).
            sealed_count=head.position,
            signed_at=timezone.now(),
            key_id=key_id(private_key.public_key()),
            signature="",
        )
        record = checkpoint_record(checkpoint)
        checkpoint.signature = base64.b64encode(private_key.sign(signed_message(record))).decode()
        checkpoint.save(force_insert=True)
    _append_to_log(Path(settings.AUDIT_CHECKPOINT_LOG), checkpoint_record(checkpoint))
    return CheckpointResult(checkpoint)
