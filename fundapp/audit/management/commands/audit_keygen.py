from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fundapp.audit.checkpoints import (
    PRIVATE_KEY_NAME,
    PUBLIC_KEY_NAME,
    keygen_files,
    load_private_key,
    write_public_key,
)


class Command(BaseCommand):
    help = (
        "Generate the Ed25519 key pair that signs audit checkpoints: "
        f"{PRIVATE_KEY_NAME} (mode 0600) and {PUBLIC_KEY_NAME}."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out",
            type=Path,
            help=(
                "directory to write both files into (default: the private key where "
                "AUDIT_CHECKPOINT_KEY_FILE points, the public key where "
                "AUDIT_CHECKPOINT_PUBLIC_KEY_FILE points)"
            ),
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help=(
                "do nothing, successfully, when the private key already exists (the public "
                "key is written again from it if it is missing)"
            ),
        )

    def handle(self, *args, out: Path | None, if_missing: bool, **options):
        if out is not None:
            private_path, public_path = out / PRIVATE_KEY_NAME, out / PUBLIC_KEY_NAME
        else:
            private_path = Path(settings.AUDIT_CHECKPOINT_KEY_FILE)
            public_path = Path(settings.AUDIT_CHECKPOINT_PUBLIC_KEY_FILE)
        if private_path.exists():
            if not if_missing:
                raise CommandError(f"{private_path} exists; refusing to replace a signing key.")
            if not public_path.exists():
                write_public_key(load_private_key(private_path), public_path)
                self.stdout.write(f"Public key:  {public_path} (from {private_path})")
            return
        keygen_files(private_path, public_path)
        self.stdout.write(f"Private key: {private_path} (mode 0600)\nPublic key:  {public_path}")
