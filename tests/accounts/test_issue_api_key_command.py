import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fundapp.accounts.models import ApiKey
from fundapp.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("issue_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_key_alone_on_its_last_line(org):
    out, err = run("--org", "JP-OSK-01", "--scopes", "proposals:read,kpi:write", "--name", "RO")

    last_line = out.strip().splitlines()[-1]
    prefix, key_id, secret = last_line.split("_", 2)
    assert prefix == "jkf" and " " not in last_line
    key = ApiKey.objects.get(key_id=key_id)
    assert key.organisation == org and key.name == "RO"
    assert key.scopes == ["proposals:read", "kpi:write"]
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.expires_at is None
    assert "JP-OSK-01" in err
    event = AuditEvent.objects.get(action="api_key.issued")
    assert event.actor_label == "system" and secret not in str(event.after)


def test_expires_days_sets_the_expiry(org):
    out, _err = run("--org", "JP-OSK-01", "--scopes", "gates:read", "--expires-days", "30")

    key = ApiKey.objects.get()
    assert key.expires_at is not None
    assert 29 <= (key.expires_at - key.created_at).days <= 30
    assert key.name  # a default name is given


def test_unknown_organisation_fails(db):
    with pytest.raises(CommandError, match="NOPE-01"):
        run("--org", "NOPE-01", "--scopes", "proposals:read")
    assert not ApiKey.objects.exists()


def test_unknown_scope_fails(org):
    with pytest.raises(CommandError, match="everything:write"):
        run("--org", "JP-OSK-01", "--scopes", "proposals:read,everything:write")
    assert not ApiKey.objects.exists()


def test_non_positive_expiry_fails(org):
    with pytest.raises(CommandError):
        run("--org", "JP-OSK-01", "--scopes", "proposals:read", "--expires-days", "0")
