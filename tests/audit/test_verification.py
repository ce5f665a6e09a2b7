import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from fundapp.audit.checkpoints import (
    audit_checkpoint_create,
    checkpoint_record,
    signed_message,
)
from fundapp.audit.hashing import compute_hash
from fundapp.audit.models import AuditCheckpoint, AuditEvent
from fundapp.audit.sealing import audit_chain_seal
from fundapp.audit.services import audit_record
from fundapp.audit.verification import verify_chain

# Tampering needs the table owner's own connection to see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def record(action: str):
    return audit_record(actor=None, action=action, object_type="thing", object_id=1)


def chain_of(count: int) -> list[AuditEvent]:
    events = [record(f"test.{i}") for i in range(count)]
    audit_chain_seal()
    return events


def verify_fails_with() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_chain")
    return str(failure.value)


def checkpoint() -> AuditCheckpoint:
    result = audit_checkpoint_create()
    assert result.checkpoint is not None
    return result.checkpoint


def named(cp: AuditCheckpoint) -> str:
    return f"checkpoint #{cp.pk} signed at {cp.signed_at.isoformat()}"


def test_a_whole_chain_matches_its_latest_checkpoint(capsys):
    chain_of(3)
    cp = checkpoint()
    record("test.unsealed")

    call_command("verify_audit_chain")

    out = capsys.readouterr().out
    assert "Audit chain is whole: 4 events verified (3 sealed, 1 not yet sealed)" in out
    assert f"It matches checkpoint #{cp.pk}" in out


def test_a_deleted_tail_is_named_against_the_checkpoint(owner_cursor):
    events = chain_of(5)
    cp = checkpoint()

    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditlink DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM audit_auditlink WHERE position > 3")
        cursor.execute("DELETE FROM audit_auditevent WHERE id > %s", [events[2].pk])
        cursor.execute("ALTER TABLE audit_auditlink ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")

    assert verify_chain().ok  # what is left links up: only the checkpoint knows
    message = verify_fails_with()
    assert f"the chain ends at position 3 but {named(cp)} covers position 5" in message


def test_an_emptied_table_is_named_against_the_checkpoint(owner_cursor):
    chain_of(4)
    cp = checkpoint()

    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditlink DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM audit_auditlink")
        cursor.execute("DELETE FROM audit_auditevent")
        cursor.execute("ALTER TABLE audit_auditlink ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")

    message = verify_fails_with()
    assert f"the chain ends at position 0 but {named(cp)} covers position 4" in message


def test_deleted_events_under_their_links_are_named(owner_cursor):
    events = chain_of(4)
    cp = checkpoint()

    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM audit_auditevent WHERE id >= %s", [events[2].pk])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")

    message = verify_fails_with()
    assert f"Audit chain broken at event {events[2].pk}: the event sealed at position 3" in message
    assert f"intact only up to position 2 but {named(cp)} covers position 4" in message


def test_a_rewritten_sealed_event_is_named(owner_cursor):
    events = chain_of(3)
    checkpoint()
    victim = events[1]

    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [victim.pk])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")

    report = verify_chain()
    assert not report.ok and report.broken_id == victim.pk and report.broken_position == 2
    assert f"Audit chain broken at event {victim.pk}" in verify_fails_with()


def test_a_history_rewritten_and_sealed_again_is_named_by_the_checkpoint(owner_cursor):
    events = chain_of(3)
    cp = checkpoint()
    victim = AuditEvent.objects.get(pk=events[1].pk)
    victim.action = "forged"
    forged_hash = compute_hash(victim)

    # The attacker rewrites the event with a matching hash and rebuilds the whole chain.
    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditlink DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE audit_auditevent SET action = 'forged', hash = %s WHERE id = %s",
            [forged_hash, victim.pk],
        )
        cursor.execute("DELETE FROM audit_auditlink")
        cursor.execute("ALTER TABLE audit_auditlink ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
    audit_chain_seal()

    assert verify_chain().ok
    message = verify_fails_with()
    assert f"the link at position 3 does not match {named(cp)}: the history was rewritten" in (
        message
    )


def test_a_forged_checkpoint_is_named(owner_cursor):
    chain_of(2)
    genuine = checkpoint()
    forged = checkpoint_record(genuine) | {"number": genuine.pk + 1, "position": 9}
    attacker_key = Ed25519PrivateKey.generate()
    forged["signature"] = base64.b64encode(attacker_key.sign(signed_message(forged))).decode()
    with Path(settings.AUDIT_CHECKPOINT_LOG).open("a") as log:
        log.write(json.dumps(forged) + "\n")
    AuditCheckpoint.objects.create(
        id=genuine.pk + 2,
        position=2,
        event_id=genuine.event_id,
        chain_hash=genuine.chain_hash,
        sealed_count=2,
        signed_at=genuine.signed_at,
        key_id=genuine.key_id,
        signature=genuine.signature,  # a real signature, over other content
    )

    message = verify_fails_with()
    assert f"checkpoint #{genuine.pk + 1} signed at" in message
    assert f"checkpoint #{genuine.pk + 2} signed at" in message
    assert message.count("has an invalid signature") == 2
    assert f"#{genuine.pk} " not in message  # the genuine one still holds


def test_a_checkpoint_missing_from_the_table_is_named_from_the_log(owner_cursor):
    chain_of(2)
    cp = checkpoint()

    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditcheckpoint DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM audit_auditcheckpoint")
        cursor.execute("ALTER TABLE audit_auditcheckpoint ENABLE TRIGGER USER")

    assert f"{named(cp)} is in" in verify_fails_with()


def test_checkpoints_cannot_be_checked_without_the_public_key(settings, tmp_path):
    chain_of(1)
    checkpoint()
    settings.AUDIT_CHECKPOINT_PUBLIC_KEY_FILE = tmp_path / "missing.pub"

    assert "1 checkpoints cannot be checked: cannot read the checkpoint public key" in (
        verify_fails_with()
    )
