"""Officers keep the fund's settings and research areas (§4); everyone else gets 404."""

from decimal import Decimal

import pytest

from fundapp.audit.models import AuditEvent
from projects.models import ResearchArea
from tests.factories import FundFactory, ResearchAreaFactory, UserFactory, officer

pytestmark = pytest.mark.django_db


@pytest.fixture
def fund():
    return FundFactory.create()


def test_officer_changes_the_reference_rate_and_it_is_audited(client, fund):
    client.force_login(officer("JP"))
    data = {
        "name_en": fund.name_en,
        "name_ja": fund.name_ja,
        "name_ko": fund.name_ko,
        "jp_agency": fund.jp_agency,
        "kr_agency": fund.kr_agency,
        "reference_rate_krw_per_jpy": "9.1234",
        "fund_share_bp": 1000,
        "max_licence_years": 5,
        # §23's licence policy: the cure period and the late-payment interest.
        "cure_days": 45,
        "late_interest_rate": "0.0600",
    }
    response = client.post("/manage/fund/", data)
    assert response.status_code == 302
    fund.refresh_from_db()
    assert fund.reference_rate_krw_per_jpy == Decimal("9.1234")
    assert (fund.cure_days, fund.late_interest_rate) == (45, Decimal("0.0600"))
    event = AuditEvent.objects.filter(action="fund.updated").get()
    assert event.before is not None
    assert event.before["reference_rate_krw_per_jpy"] == "9.0000"


def test_bad_policy_gets_a_field_error_and_changes_nothing(client, fund):
    client.force_login(officer("KR"))
    data = {
        "name_en": fund.name_en,
        "jp_agency": fund.jp_agency,
        "kr_agency": fund.kr_agency,
        "reference_rate_krw_per_jpy": "-1",
        "fund_share_bp": 20000,
        "max_licence_years": 5,
    }
    response = client.post("/manage/fund/", data)
    assert response.status_code == 422
    assert "reference_rate_krw_per_jpy" in response.context["form"].errors
    assert "fund_share_bp" in response.context["form"].errors
    fund.refresh_from_db()
    assert fund.reference_rate_krw_per_jpy == Decimal("9.0000")
    assert not AuditEvent.objects.filter(action="fund.updated").exists()


def test_research_area_needs_its_parent_and_keeps_its_code(client):
    client.force_login(officer("JP"))
    orphan = client.post(
        "/manage/areas/new/",
        {"code": "quantum.sensing", "name_en": "Sensing", "sensitivity": "normal"},
    )
    assert orphan.status_code == 422
    assert "code" in orphan.context["form"].errors

    parent = ResearchAreaFactory.create(code="quantum")
    created = client.post(
        "/manage/areas/new/",
        {"code": "quantum.sensing", "name_en": "Sensing", "sensitivity": "sensitive"},
    )
    assert created.status_code == 302
    area = ResearchArea.objects.get(code="quantum.sensing")
    assert area.parent == parent

    edited = client.post(
        f"/manage/areas/{area.pk}/",
        {"code": "other", "name_en": "Quantum sensing", "sensitivity": "controlled"},
    )
    assert edited.status_code == 302
    area.refresh_from_db()
    assert (area.code, area.name_en, area.sensitivity) == (
        "quantum.sensing",
        "Quantum sensing",
        "controlled",
    )
    assert AuditEvent.objects.filter(
        object_id=str(area.pk), action="research_area.updated"
    ).exists()


@pytest.mark.parametrize("url", ["/manage/fund/", "/manage/areas/", "/manage/areas/new/"])
def test_pages_are_404_for_researchers(client, fund, url):
    client.force_login(UserFactory.create())
    assert client.get(url).status_code == 404
