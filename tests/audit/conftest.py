import pytest

from fundapp.audit.checkpoints import keygen


@pytest.fixture(autouse=True)
def checkpoint_files(settings, tmp_path):
    """A fresh checkpoint key pair and log per test, never the developer's under var/."""
    private_path, public_path = keygen(tmp_path / "keys")
    settings.AUDIT_CHECKPOINT_KEY_FILE = private_path
    settings.AUDIT_CHECKPOINT_PUBLIC_KEY_FILE = public_path
    settings.AUDIT_CHECKPOINT_LOG = tmp_path / "log" / "checkpoints.jsonl"
    return settings
