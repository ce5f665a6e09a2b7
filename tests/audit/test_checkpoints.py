import json
import stat
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import ProgrammingError, transaction

from fundapp.audit.checkpoints import (
    audit_checkpoint_create,
    checkpoint_record,
    load_public_key,
    read_log,
    signature_valid,
)
from fundapp.audit.models import AuditCheckpoint, AuditLink
from fundapp.audit.services import audit_record

pytestmark = pytest.mark.django_db


def record(action: str = "test.one"):
    return audit_record(actor=None, action=action, object_type="thing", object_id=1)


def logged() -> list[dict[str, Any]]:
    records = []
    for _, line in read_log(Path(settings.AUDIT_CHECKPOINT_LOG)):
        assert line is not None, "the checkpoint log has an unreadable line"
        records.append(line)
    return records


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path, capsys):
    call_command("audit_keygen", "--out", str(tmp_path / "k"))

    private, public = tmp_path / "k" / "checkpoint.key", tmp_path / "k" / "checkpoint.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert load_public_key(public)
    with pytest.raises(CommandError, match="refusing to replace"):
        call_command("audit_keygen", "--out", str(tmp_path / "k"))
    call_command("audit_keygen", "--out", str(tmp_path / "k"), "--if-missing")
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_checkpoint_signs_the_sealed_head_in_the_table_and_the_log(capsys):
    record("test.one")
    last = record("test.two")

    call_command("audit_checkpoint")  # seals first

    checkpoint = AuditCheckpoint.objects.get()
    head = AuditLink.objects.get(position=2)
    assert (checkpoint.position, checkpoint.event_id, checkpoint.sealed_count) == (2, last.pk, 2)
    assert checkpoint.chain_hash == head.hash
    assert logged() == [checkpoint_record(checkpoint)]
    public_key = load_public_key(Path(settings.AUDIT_CHECKPOINT_PUBLIC_KEY_FILE))
    assert signature_valid(checkpoint_record(checkpoint), public_key)
    assert f"Checkpoint #{checkpoint.pk} signed" in capsys.readouterr().out


def test_a_second_checkpoint_with_nothing_new_is_skipped(capsys):
    record()
    first = audit_checkpoint_create()
    again = audit_checkpoint_create()
    call_command("audit_checkpoint")

    assert first.checkpoint is not None and again.checkpoint == first.checkpoint
    assert "already covers the head" in again.reason
    assert AuditCheckpoint.objects.count() == 1 and len(logged()) == 1
    assert "No new checkpoint" in capsys.readouterr().out

    record("test.two")
    newer = audit_checkpoint_create()
    assert newer.checkpoint is not None and newer.checkpoint.position == 2
    assert [line["number"] for line in logged()] == [first.checkpoint.pk, newer.checkpoint.pk]


def test_no_checkpoint_before_anything_is_sealed():
    result = audit_checkpoint_create()

    assert result.checkpoint is None and result.reason == "nothing is sealed yet"
    assert not AuditCheckpoint.objects.exists() and logged() == []


def test_without_the_private_key_no_checkpoint_is_written(settings, tmp_path):
    record()
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "nowhere.key"

    with pytest.raises(CommandError, match="private key"):
        call_command("audit_checkpoint")
    assert not AuditCheckpoint.objects.exists()


def test_the_database_refuses_to_change_links_and_checkpoints():
    record()
    audit_checkpoint_create()
    link, checkpoint = AuditLink.objects.all(), AuditCheckpoint.objects.all()
    sealed_hash = AuditLink.objects.get().hash

    for change in (
        lambda: link.update(hash="f" * 64),
        lambda: link.delete(),
        lambda: checkpoint.update(position=9),
        lambda: checkpoint.delete(),
    ):
        with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
            change()
    assert AuditLink.objects.get().hash == sealed_hash
    assert AuditCheckpoint.objects.get().position == 1


def test_log_lines_are_one_json_object_each():
    record()
    audit_checkpoint_create()

    text = Path(settings.AUDIT_CHECKPOINT_LOG).read_text()
    assert text.endswith("\n") and len(text.splitlines()) == 1
    assert set(json.loads(text)) >= {"number", "position", "chain_hash", "signature"}


def test_keygen_puts_each_half_where_the_settings_point(settings, tmp_path):
    """A deployment keeps the private key apart from the public key and the log (§12)."""
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "secret" / "signing.key"
    settings.AUDIT_CHECKPOINT_PUBLIC_KEY_FILE = tmp_path / "shared" / "signing.pub"

    call_command("audit_keygen")

    private = tmp_path / "secret" / "signing.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert not (tmp_path / "secret" / "checkpoint.pub").exists()
    first = load_public_key(tmp_path / "shared" / "signing.pub")
    # The shared volume was recreated: --if-missing writes the public half again from the
    # private key, and never a new pair.
    (tmp_path / "shared" / "signing.pub").unlink()
    call_command("audit_keygen", "--if-missing")
    again = load_public_key(tmp_path / "shared" / "signing.pub")
    assert again.public_bytes_raw() == first.public_bytes_raw()
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
