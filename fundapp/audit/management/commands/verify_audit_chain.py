from django.core.management.base import BaseCommand, CommandError

from fundapp.audit.services import verify_chain


class Command(BaseCommand):
    help = "Verify the audit hash chain; exit non-zero at the first broken link."

    def handle(self, *args, **options):
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"Audit chain broken at event {report.broken_id}: {report.reason}")
        self.stdout.write(f"Audit chain is whole: {report.checked} events verified.")
