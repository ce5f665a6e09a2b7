from django.core.management.base import BaseCommand, CommandError

from fundapp.audit.sealing import audit_chain_seal


class Command(BaseCommand):
    help = "Link every committed, unsealed audit event into the chain."

    def handle(self, *args, **options):
        report = audit_chain_seal()
        if report.busy:
            raise CommandError("Another sealer is running; try again in a moment.")
        self.stdout.write(
            f"Sealed {report.sealed} events; the chain's head is at position "
            f"{report.head_position}."
        )
