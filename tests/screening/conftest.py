"""People and list entries for the screening tests."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from fundapp.accounts.models import ApiKey, Role, hash_secret
from fundapp.screening.importing import parse_restricted_parties
from fundapp.screening.services import restricted_parties_import, screening_case_open
from tests.factories import UserFactory, jp_org, member_of, officer

LIST_CSV = (
    "name,aliases,country,source\n"
    "東洋電子株式会社,Toyo Denshi Co. Ltd.;TOYO ELECTRONICS,JP,METI end-user list\n"
    "(주)한빛반도체,Hanbit Semiconductor Inc.,KR,Strategic goods list\n"
    "Northwind Dynamics LLC,,US,Entity List\n"
)


def load_list(csv_text: str = LIST_CSV) -> None:
    parsed = parse_restricted_parties(csv_text.encode())
    assert parsed.ok, parsed.errors
    restricted_parties_import(rows=parsed.rows)


def party(org_id: int, name: str, *aliases: str, country: str = "JP") -> dict[str, Any]:
    return {"organisation_id": org_id, "name": name, "aliases": list(aliases), "country": country}


def open_case(
    subject_id: int = 1,
    *,
    reasons: list[dict[str, str]] | None = None,
    parties: list[dict[str, Any]] | None = None,
    subject_type: str = "proposal",
):
    return screening_case_open(
        subject_type=subject_type,
        subject_id=subject_id,
        subject_label=f"Proposal {subject_id}",
        subject_url=f"/proposals/{subject_id}/",
        reasons=[{"code": "dual_use", "detail": ""}] if reasons is None else reasons,
        parties=parties or [],
    )


@pytest.fixture
def restricted_list(db) -> None:
    load_list()


@pytest.fixture
def screener(db):
    return UserFactory.create(username="screener", role=Role.SCREENING_OFFICER)


@pytest.fixture
def second_screener(db):
    return UserFactory.create(username="screener2", role=Role.SCREENING_OFFICER)


@pytest.fixture
def fund_officer(db):
    return officer(side="JP", username="fund-officer")


@pytest.fixture
def admin_user(db):
    return UserFactory.create(username="operator", role=Role.ADMIN)


@pytest.fixture
def researcher(db):
    return member_of(jp_org(), username="researcher")


@pytest.fixture
def finance_officer(db):
    return UserFactory.create(username="finance", role=Role.FINANCE_OFFICER, side="JP")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def key_client(scopes: list[str]) -> APIClient:
    key_id, secret, full_key = ApiKey.generate()
    ApiKey.objects.create(
        organisation=jp_org(),
        name="partner",
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scopes=scopes,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    return client
