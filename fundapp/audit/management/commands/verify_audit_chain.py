from django.core.management.base import BaseCommand, CommandError

from fundapp.audit.verification import verify_chain, verify_checkpoints


class Command(BaseCommand):
    help = (
        "Verify the audit chain (sealed links and unsealed events) and check it against "
        "every signed checkpoint; exit non-zero naming the first broken link and each "
        "checkpoint the chain fails."
    )

    def handle(self, *args, **options):
        report = verify_chain()
        checkpoints = verify_checkpoints(report)
        problems = []
        if not report.ok:
            problems.append(f"Audit chain broken at event {report.broken_id}: {report.reason}")
        problems.extend(checkpoints.problems)
        if problems:
            raise CommandError("\n".join(problems))
        latest = checkpoints.latest
        against = (
            f" It matches checkpoint #{latest['number']} signed at {latest['signed_at']}"
            f" (position {latest['position']})."
            if latest
            else " No checkpoint yet."
        )
        self.stdout.write(
            f"Audit chain is whole: {report.checked} events verified "
            f"({report.head_position} sealed, {report.unsealed} not yet sealed).{against}"
        )
