import pytest
from rest_framework.test import APIClient

from fundapp.accounts.services import api_key_issue
from tests.factories import jp_org, officer


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def org(db):
    return jp_org(code="JP-OSK-01", name_en="Osaka Institute of Photonics")


@pytest.fixture
def fund_officer(db):
    return officer(side="JP")


@pytest.fixture
def issued_key(org, fund_officer):
    """(key, full secret key) for `org` with one read scope."""
    return api_key_issue(
        organisation=org, name="Research office", scopes=["proposals:read"], actor=fund_officer
    )


def bearer(full_key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {full_key}"}
