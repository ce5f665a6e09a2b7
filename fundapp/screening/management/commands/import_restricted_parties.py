"""``manage.py import_restricted_parties FILE.csv`` (§11, §21)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fundapp.screening.importing import parse_restricted_parties
from fundapp.screening.services import restricted_parties_import

MAX_FILE_BYTES = 100 * 1024 * 1024


class Command(BaseCommand):
    help = (
        "Import a restricted-party list (CSV, UTF-8; columns name, aliases, country, source; "
        "aliases separated by semicolons). Every row is validated first; any error imports "
        "nothing. Re-importing updates parties by (normalized name, country, source)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the CSV file.")
        parser.add_argument(
            "--deactivate-missing",
            action="store_true",
            help="Deactivate parties of the file's sources that the file no longer lists.",
        )

    def handle(self, *args, **options) -> None:
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise CommandError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        parsed = parse_restricted_parties(data)
        if not parsed.ok:
            lines = "\n".join(f"  {error}" for error in parsed.errors)
            raise CommandError(
                f"{path}: {len(parsed.errors)} error(s); nothing was imported.\n{lines}"
            )
        summary = restricted_parties_import(
            rows=parsed.rows, actor=None, deactivate_missing=options["deactivate_missing"]
        )
        self.stdout.write(
            f"Imported {summary.total} restricted part{'y' if summary.total == 1 else 'ies'} "
            f"from {path}: {summary.created} created, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {summary.deactivated} deactivated."
        )
