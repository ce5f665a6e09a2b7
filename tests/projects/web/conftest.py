import pytest


@pytest.fixture(autouse=True)
def _web_settings(settings, tmp_path):
    """Attachments go to a per-test directory outside the web root; test users hash fast."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Sign-in lockouts would make the many log-ins of the permission matrix flaky.
    settings.AXES_ENABLED = False
