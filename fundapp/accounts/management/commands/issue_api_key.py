"""``manage.py issue_api_key --org CODE --scopes a,b [--name N] [--expires-days D]`` (§14, §21).

Prints the new key alone on its last line, so scripts can take ``| tail -n 1``.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Organisation
from fundapp.accounts.services import api_key_issue
from fundapp.errors import ValidationFailed


class Command(BaseCommand):
    help = "Issue an API key for an organisation and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organisation code, e.g. JP-OSK-01")
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated scopes, e.g. proposals:read,kpi:write"
        )
        parser.add_argument("--name", default="", help="A name to recognise the key by")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Days until the key expires"
        )

    def handle(self, *args, **options) -> None:
        code = options["org"].strip()
        org = Organisation.objects.filter(code=code).first()
        if org is None:
            raise CommandError(_("Unknown organisation code: %(code)s") % {"code": code})
        days = options["expires_days"]
        if days is not None and days <= 0:
            raise CommandError(_("--expires-days must be a positive number of days."))
        expires_at = timezone.now() + timedelta(days=days) if days is not None else None
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        name = options["name"].strip() or f"{org.code} (command line)"
        try:
            key, full_key = api_key_issue(
                organisation=org, name=name, scopes=scopes, expires_at=expires_at, actor=None
            )
        except ValidationFailed as exc:
            details = "; ".join(
                f"{field}: {' '.join(str(m) for m in messages)}"
                for field, messages in exc.errors.items()
            )
            raise CommandError(details or str(exc.message)) from exc
        expiry = key.expires_at.isoformat() if key.expires_at else _("never")
        # The summary goes to stderr so that stdout is the key alone.
        self.stderr.write(
            _(
                "Issued API key “%(name)s” for %(org)s: scopes %(scopes)s; expires %(expiry)s. "
                "It is shown only once; store it now."
            )
            % {"name": key.name, "org": org.code, "scopes": ", ".join(key.scopes), "expiry": expiry}
        )
        self.stdout.write(full_key)
