import pytest

from fundapp.accounts.models import ApiKey, Membership, Organisation, Role
from fundapp.audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True, role=Role.ADMIN))
    return client


def test_admin_pages_open(admin_client, issued_key, org):
    key, _full = issued_key
    user = UserFactory.create()
    for url in (
        "/admin/accounts/organisation/",
        f"/admin/accounts/organisation/{org.pk}/change/",
        "/admin/accounts/organisation/add/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{user.pk}/change/",
        "/admin/accounts/apikey/",
        f"/admin/accounts/apikey/{key.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_organisation_added_in_admin_goes_through_the_service(admin_client):
    response = admin_client.post(
        "/admin/accounts/organisation/add/",
        {"code": "KR-ADM-01", "name_en": "Admin Org", "country": "KR", "kind": "agency"},
    )

    assert response.status_code == 302
    org = Organisation.objects.get(code="KR-ADM-01")
    assert org.side == "KR"
    assert AuditEvent.objects.filter(action="organisation.created", object_id=str(org.pk)).exists()


def test_organisation_changed_in_admin_is_audited(admin_client, org):
    response = admin_client.post(
        f"/admin/accounts/organisation/{org.pk}/change/",
        {
            "name_en": "Renamed",
            "name_ja": org.name_ja,
            "name_ko": org.name_ko,
            "country": "JP",
            "kind": "university",
        },
    )

    assert response.status_code == 302
    org.refresh_from_db()
    assert org.name_en == "Renamed" and org.code == "JP-OSK-01"
    event = AuditEvent.objects.get(action="organisation.updated")
    assert event.after == {"name_en": "Renamed"}


def test_api_keys_cannot_be_added_edited_or_deleted_in_admin(admin_client, issued_key):
    key, _full = issued_key
    assert admin_client.get("/admin/accounts/apikey/add/").status_code == 403
    page = admin_client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert key.secret_hash in page  # shown read-only
    assert 'name="secret_hash"' not in page
    assert admin_client.post(f"/admin/accounts/apikey/{key.pk}/delete/").status_code == 403


def test_api_keys_are_revoked_by_an_admin_action(admin_client, issued_key):
    key, _full = issued_key

    response = admin_client.post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]}
    )

    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_a_role_or_membership_change_in_admin_is_audited(admin_client, org):
    user = UserFactory.create(role=Role.RESEARCHER)
    data = {
        "username": user.username,
        "email": user.email,
        "role": Role.FUND_OFFICER,
        "side": "JP",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-organisation": str(org.pk),
        "memberships-0-research_office": "on",
    }

    response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Membership.objects.filter(user=user, organisation=org).exists()
    event = AuditEvent.objects.get(action="user.access_changed")
    assert event.before == {"role": "researcher", "side": "", "organisations": []}
    assert event.after == {"role": "fund_officer", "side": "JP", "organisations": ["JP-OSK-01"]}
