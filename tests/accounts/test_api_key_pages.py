import re

import pytest

from fundapp.accounts.models import ApiKey
from fundapp.audit.models import AuditEvent
from tests.factories import UserFactory, member_of

pytestmark = pytest.mark.django_db

LIST = "/accounts/api-keys/"
ISSUE = "/accounts/api-keys/new/"


def detail(key):
    return f"/accounts/api-keys/{key.pk}/"


def revoke(key):
    return f"/accounts/api-keys/{key.pk}/revoke/"


@pytest.mark.parametrize("role", ["researcher", "reviewer", "finance_officer", "admin"])
def test_others_than_fund_officers_get_404(client, issued_key, role):
    key, _full = issued_key
    client.force_login(UserFactory.create(role=role))

    for response in (
        client.get(LIST),
        client.get(ISSUE),
        client.get(detail(key)),
        client.post(revoke(key)),
    ):
        assert response.status_code == 404
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_officer_lists_keys_per_organisation(client, fund_officer, issued_key, org):
    key, full_key = issued_key
    client.force_login(fund_officer)

    body = client.get(LIST).content.decode()

    assert "JP-OSK-01" in body and key.name in body and f"jkf_{key.key_id}_" in body
    assert full_key.split("_", 2)[2] not in body
    assert client.get(LIST, {"organisation": org.pk + 1000}).context["keys"].count() == 0


def test_officer_issues_a_key_and_sees_it_once(client, fund_officer, org):
    client.force_login(fund_officer)
    assert client.get(ISSUE).status_code == 200

    response = client.post(
        ISSUE,
        {"organisation": org.pk, "name": "Finance", "scopes": ["kpi:write", "gates:read"]},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = re.search(r'id="new-api-key">([^<]+)<', response.content.decode())
    assert shown is not None
    full_key = shown.group(1)
    key = ApiKey.objects.get()
    assert full_key.startswith(f"jkf_{key.key_id}_")
    assert key.scopes == ["kpi:write", "gates:read"] and key.created_by == fund_officer
    # Never again: the detail page shows only the id part.
    assert full_key not in client.get(detail(key)).content.decode()


def test_issue_with_an_expiry_date(client, fund_officer, org):
    client.force_login(fund_officer)
    client.post(
        ISSUE,
        {
            "organisation": org.pk,
            "name": "Short",
            "scopes": ["gates:read"],
            "expires_on": "2099-03-31",
        },
    )
    key = ApiKey.objects.get()
    # Valid through 31 March in Japan/Korea time: expires at 00:00 JST on 1 April.
    assert key.expires_at is not None
    assert key.expires_at.isoformat() == "2099-03-31T15:00:00+00:00"


def test_issue_form_shows_field_errors(client, fund_officer, org):
    client.force_login(fund_officer)

    response = client.post(
        ISSUE,
        {"organisation": org.pk, "name": "", "scopes": ["root:all"], "expires_on": "2001-01-01"},
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"name", "scopes", "expires_on"}
    assert 'class="alert alert--error"' in response.content.decode()
    assert not ApiKey.objects.exists()


def test_officer_revokes_a_key_and_sees_its_history(client, fund_officer, issued_key):
    key, _full = issued_key
    client.force_login(fund_officer)

    response = client.post(revoke(key), follow=True)

    assert response.redirect_chain[-1][0] == detail(key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    body = response.content.decode()
    assert "api_key.issued" in body and "api_key.revoked" in body
    assert "JST" in body  # times in the reader's zone
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1
    # Revoking again is harmless.
    assert client.post(revoke(key)).status_code == 302
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_revoke_refuses_get(client, fund_officer, issued_key):
    key, _full = issued_key
    client.force_login(fund_officer)
    assert client.get(revoke(key)).status_code == 405


def test_a_member_of_the_organisation_still_gets_404(client, issued_key, org):
    key, _full = issued_key
    client.force_login(member_of(org, research_office=True))
    assert client.get(detail(key)).status_code == 404
