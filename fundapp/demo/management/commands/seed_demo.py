"""``manage.py seed_demo [--with-logins]``: load the demo data (§20). Idempotent.

The demo people get the published password (``fundapp.demo.DEMO_PASSWORD``) only with
``DEBUG`` on or ``--with-logins``; otherwise their passwords are unusable.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fundapp.demo import DEMO_LOGINS, DEMO_PASSWORD
from fundapp.demo import seed as demo
from fundapp.errors import DomainError


class Command(BaseCommand):
    help = (
        "Load the demo data: organisations, people, the funded pools, areas, calls, "
        "proposals, reviews, awards and projects at their gates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--with-logins",
            action="store_true",
            help="Give the demo people the published demo password even with DEBUG off.",
        )

    def handle(self, *args, **options) -> None:
        with_logins = bool(settings.DEBUG or options["with_logins"])
        try:
            report = demo.seed_all(with_logins=with_logins)
        except DomainError as exc:
            details = "; ".join(
                f"{field}: {' '.join(str(m) for m in messages)}"
                for field, messages in exc.errors.items()
            )
            raise CommandError(f"Demo data refused: {exc.message} {details}".strip()) from exc
        for line in report.lines():
            self.stdout.write(line)
        if with_logins:
            self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}):")
            for username, who in DEMO_LOGINS:
                self.stdout.write(f"  {username:<16} {who}")
            listed = {username for username, _who in DEMO_LOGINS}
            further = [p for p in demo.PEOPLE if p.username not in listed]
            if further:
                self.stdout.write("Further demo people (same password):")
                for person in further:
                    self.stdout.write(f"  {person.username:<16} {person.who}")
        else:
            self.stdout.write(
                self.style.WARNING(
                    "DEBUG is off, so the demo people have no usable password and cannot sign "
                    "in. Run `manage.py seed_demo --with-logins` to give them the published "
                    "demo password (never on a public server)."
                )
            )
