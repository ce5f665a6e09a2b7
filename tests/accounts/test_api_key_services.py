import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from fundapp.accounts.models import ApiKey
from fundapp.accounts.services import api_key_issue, api_key_revoke
from fundapp.audit.models import AuditEvent
from fundapp.errors import PermissionDenied, ValidationFailed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_issue_stores_only_the_hash_and_returns_the_key_once(org, fund_officer):
    key, full_key = api_key_issue(
        organisation=org,
        name="  Finance system ",
        scopes=["kpi:write", "proposals:read", "kpi:write"],
        actor=fund_officer,
    )

    prefix, key_id, secret = full_key.split("_", 2)
    assert (prefix, key_id) == ("jkf", key.key_id)
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.name == "Finance system"
    # Published scope order, each once.
    assert stored.scopes == ["proposals:read", "kpi:write"]
    assert stored.created_by == fund_officer
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert not any(secret in str(value) for value in row.values())


def test_issue_writes_an_audit_event_without_the_secret(org, fund_officer):
    key, full_key = api_key_issue(
        organisation=org, name="Finance", scopes=["kpi:write"], actor=fund_officer
    )

    event = AuditEvent.objects.get(action="api_key.issued")
    assert event.object_type == "accounts.apikey" and event.object_id == str(key.pk)
    assert event.actor_user_id == fund_officer.pk
    assert event.after is not None
    assert event.after["organisation"] == "JP-OSK-01"
    assert event.after["scopes"] == ["kpi:write"]
    secret = full_key.split("_", 2)[2]
    assert secret not in str(event.before) + str(event.after)


def test_unknown_scope_is_refused_with_a_field_error(org, fund_officer):
    with pytest.raises(ValidationFailed) as caught:
        api_key_issue(
            organisation=org, name="x", scopes=["proposals:read", "root:all"], actor=fund_officer
        )

    assert list(caught.value.errors) == ["scopes"]
    assert "root:all" in str(caught.value.errors["scopes"][0])
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.exists()


def test_no_scope_no_name_and_past_expiry_are_refused_together(org, fund_officer):
    with pytest.raises(ValidationFailed) as caught:
        api_key_issue(
            organisation=org,
            name=" ",
            scopes=[],
            expires_at=timezone.now() - timedelta(minutes=1),
            actor=fund_officer,
        )

    assert set(caught.value.errors) == {"name", "scopes", "expires_at"}


def test_only_fund_officers_issue_keys(org):
    researcher = UserFactory.create()
    with pytest.raises(PermissionDenied):
        api_key_issue(organisation=org, name="x", scopes=["proposals:read"], actor=researcher)
    assert not ApiKey.objects.exists()


def test_a_key_cannot_issue_keys(org, issued_key):
    key, _full = issued_key
    with pytest.raises(PermissionDenied):
        api_key_issue(organisation=org, name="child", scopes=["proposals:read"], actor=key)


def test_revoke_sets_revoked_at_once_and_is_idempotent(issued_key, fund_officer):
    key, _full = issued_key

    first = api_key_revoke(key=key, actor=fund_officer)
    again = api_key_revoke(key=key, actor=fund_officer)

    assert first.revoked_at is not None
    assert again.revoked_at == first.revoked_at
    events = AuditEvent.objects.filter(action="api_key.revoked")
    assert events.count() == 1
    assert events.get().before == {"revoked_at": None}
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first.revoked_at


def test_only_fund_officers_revoke(issued_key):
    key, _full = issued_key
    with pytest.raises(PermissionDenied):
        api_key_revoke(key=key, actor=UserFactory.create())
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
