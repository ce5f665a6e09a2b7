from django.core.management.base import BaseCommand, CommandError

from fundapp.audit.checkpoints import CheckpointKeyError, audit_checkpoint_create


class Command(BaseCommand):
    help = "Seal the audit chain, then sign its head as a checkpoint (table and log file)."

    def handle(self, *args, **options):
        try:
            result = audit_checkpoint_create()
        except CheckpointKeyError as exc:
            raise CommandError(str(exc)) from exc
        if result.reason:
            self.stdout.write(f"No new checkpoint: {result.reason}.")
            return
        checkpoint = result.checkpoint
        assert checkpoint is not None
        self.stdout.write(
            f"Checkpoint #{checkpoint.id} signed: position {checkpoint.position}, "
            f"event {checkpoint.event_id}, chain hash {checkpoint.chain_hash}."
        )
