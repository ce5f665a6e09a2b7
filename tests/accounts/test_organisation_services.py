import pytest

from fundapp.accounts.models import Organisation
from fundapp.accounts.services import organisation_create, organisation_update
from fundapp.audit.models import AuditEvent
from fundapp.errors import PermissionDenied, ValidationFailed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_derives_the_side_and_audits(fund_officer):
    org = organisation_create(
        actor=fund_officer, code="US-MIT-01", name_en="MIT", country="us", kind="university"
    )

    assert (org.country, org.side) == ("US", "OTHER")
    event = AuditEvent.objects.get(action="organisation.created")
    assert event.after is not None
    assert event.after["side"] == "OTHER" and event.actor_user_id == fund_officer.pk


def test_create_refuses_a_duplicate_or_malformed_code(fund_officer, org):
    with pytest.raises(ValidationFailed) as caught:
        organisation_create(
            actor=fund_officer, code="JP-OSK-01", name_en="Again", country="JP", kind="company"
        )
    assert "code" in caught.value.errors

    with pytest.raises(ValidationFailed) as caught:
        organisation_create(
            actor=fund_officer, code="jp osk", name_en="", country="JPN", kind="club"
        )
    assert {"code", "name_en", "country", "kind"} <= set(caught.value.errors)
    assert Organisation.objects.count() == 1


def test_researchers_and_keys_may_not_write(org, issued_key):
    key, _full = issued_key
    for actor in (UserFactory.create(), key):
        with pytest.raises(PermissionDenied):
            organisation_create(
                actor=actor, code="KR-X-01", name_en="X", country="KR", kind="company"
            )
        with pytest.raises(PermissionDenied):
            organisation_update(organisation=org, actor=actor, changes={"name_en": "Y"})
    assert not AuditEvent.objects.filter(action__startswith="organisation.").exists()


def test_update_refuses_unknown_fields(fund_officer, org):
    with pytest.raises(ValidationFailed) as caught:
        organisation_update(organisation=org, actor=fund_officer, changes={"side": "KR"})
    assert "side" in caught.value.errors
