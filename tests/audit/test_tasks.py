import pytest
from django.db import transaction

from fundapp.audit import services
from fundapp.audit.models import AuditCheckpoint, AuditLink
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.audit.tasks import checkpoint_chain, seal_chain
from projects.schedules import SCHEDULES, Every

pytestmark = pytest.mark.django_db


def record(action: str = "test.one"):
    return audit_record(actor=None, action=action, object_type="thing", object_id=1)


def test_one_sealer_enqueue_per_transaction_whatever_the_number_of_events(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        record("test.one")
        record("test.two")
        audit_record_many([AuditEntry(actor=None, action="test.three", object_type="thing")])

    assert callbacks == [services.sealer.fire]


def test_a_rolled_back_savepoint_does_not_swallow_the_enqueue(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                record("test.discarded")
                raise RuntimeError
        except RuntimeError:
            pass
        record("test.kept")

    assert callbacks == [services.sealer.fire]


@pytest.mark.django_db(transaction=True)
def test_the_commit_enqueues_the_sealer_at_most_once_per_window(monkeypatch):
    monkeypatch.setattr(services.sealer, "enqueued_until", 0.0)
    record("test.one")
    window = services.sealer.enqueued_until
    record("test.two")  # within the same window: the run already due seals it too

    assert window > 0 and services.sealer.enqueued_until == window


def test_the_seal_task_is_idempotent():
    record("test.one")
    record("test.two")

    first = seal_chain.apply().get()
    again = seal_chain.apply().get()

    assert first == {"sealed": 2, "head": 2}
    assert again == {"sealed": 0, "head": 2}
    assert AuditLink.objects.count() == 2


def test_the_checkpoint_task_seals_then_skips_when_nothing_changed():
    record()

    first = checkpoint_chain.apply().get()
    again = checkpoint_chain.apply().get()

    [checkpoint] = AuditCheckpoint.objects.all()
    assert first == {"checkpoint": checkpoint.pk, "skipped": ""}
    assert again["checkpoint"] == checkpoint.pk and isinstance(again["skipped"], str)
    assert "already covers" in again["skipped"]


def test_beat_seals_every_minute_and_checkpoints_every_hour():
    by_task = {schedule.task: schedule.when for schedule in SCHEDULES}

    assert by_task["fundapp.audit.seal_chain"] == Every(minutes=1)
    assert by_task["fundapp.audit.checkpoint"] == Every(minutes=60)


def test_checkpoints_go_to_their_own_queue_and_everything_else_to_the_default():
    """Only the worker holding the signing key consumes the checkpoint queue (§12)."""
    from fundapp.celery import app

    router = app.amqp.router
    assert router.route({}, "fundapp.audit.checkpoint")["queue"].name == "audit_checkpoints"
    assert router.route({}, "fundapp.audit.seal_chain")["queue"].name == "celery"
    assert router.route({}, "projects.release_tranche")["queue"].name == "celery"
