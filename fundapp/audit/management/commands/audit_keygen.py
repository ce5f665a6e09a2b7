from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fundapp.audit.checkpoints import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME, keygen


class Command(BaseCommand):
    help = (
        "Generate the Ed25519 key pair that signs audit checkpoints: "
        f"{PRIVATE_KEY_NAME} (mode 0600) and {PUBLIC_KEY_NAME}."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out",
            type=Path,
            help="directory to write into (default: the directory of AUDIT_CHECKPOINT_KEY_FILE)",
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing, successfully, when the private key already exists",
        )

    def handle(self, *args, out: Path | None, if_missing: bool, **options):
        out_dir = out or Path(settings.AUDIT_CHECKPOINT_KEY_FILE).parent
        private_path = out_dir / PRIVATE_KEY_NAME
        if private_path.exists():
            if if_missing:
                return
            raise CommandError(f"{private_path} exists; refusing to replace a signing key.")
        private_path, public_path = keygen(out_dir)
        self.stdout.write(f"Private key: {private_path} (mode 0600)\nPublic key:  {public_path}")
