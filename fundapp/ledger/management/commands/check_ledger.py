from django.core.management.base import BaseCommand, CommandError

from fundapp.ledger.selectors import ledger_verify


class Command(BaseCommand):
    help = "Verify every ledger invariant (§9) from the stored data; exit non-zero on a breach."

    def handle(self, *args, **options):
        report = ledger_verify()
        if not report.ok:
            lines = "\n".join(f"  - {breach}" for breach in report.breaches)
            raise CommandError(
                f"Ledger is inconsistent: {len(report.breaches)} breach(es) found.\n{lines}"
            )
        self.stdout.write(
            f"Ledger is consistent: {report.transactions} transactions, {report.accounts} accounts."
        )
