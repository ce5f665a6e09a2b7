"""Royalty integrity over the API and in the browser (§23): who sees periods, audits and
flags (licensor, licensee, unrelated organisation, officers, keys), who opens and closes
audits, asset shares on licences, and the lists' query counts at two sizes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ip_licensing import rules
from ip_licensing.models import RoyaltyAudit
from ip_licensing.services.audits import royalty_audit_close, royalty_audit_open
from ip_licensing.services.royalties import royalty_report_submit
from ip_licensing.services.royalty_integrity import royalty_overdue_run
from tests.factories import jp_org, member_of
from tests.factories.licensing import days, make_project_world, project_licence
from tests.factories.projects_api import key_client, user_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def quarter_of(day) -> str:
    return rules.format_quarter(day.year, (day.month - 1) // 3 + 1)


@pytest.fixture
def pw(db):
    return make_project_world()


@pytest.fixture
def setting(pw):
    licence = project_licence(pw, start_on=days(-300).isoformat())
    label = quarter_of(days(-200))
    royalty_overdue_run(today=days(0))
    royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=label)
    royalty_audit_close(audit=audit, actor=pw.kr, finding_amount=10_000, note="Under-reported")
    outsider = member_of(jp_org(), research_office=True)
    return licence, audit, outsider


@pytest.mark.parametrize(
    ("who", "sees"),
    [("licensor", True), ("licensee", True), ("officer", True), ("outsider", False)],
)
def test_audits_and_periods_are_seen_by_the_parties_and_officers_only(pw, setting, who, sees):
    licence, audit, outsider = setting
    user = {
        "licensor": pw.office_jp,
        "licensee": pw.office_licensee,
        "officer": pw.jp,
        "outsider": outsider,
    }[who]
    client = user_client(user)
    detail = client.get(f"/api/v1/royalty-audits/{audit.pk}/")
    assert detail.status_code == (200 if sees else 404)
    if sees:
        body = detail.json()
        assert (body["state"], body["finding_amount"]) == ("closed", 10_000)
        assert body["finding_interest"] > 0
    listed = client.get("/api/v1/royalty-audits/").json()["results"]
    assert [row["id"] for row in listed] == ([audit.pk] if sees else [])
    periods = client.get(f"/api/v1/royalty-periods/?licence={licence.pk}").json()["results"]
    assert bool(periods) is sees
    page = client.get(reverse("ip:licence", args=[licence.pk]))
    assert page.status_code == (200 if sees else 404)
    if sees:
        assert f'data-audit="{audit.pk}"'.encode() in page.content


@pytest.mark.parametrize("who", ["licensor", "licensee", "outsider", "key"])
def test_only_officers_open_and_close_audits(pw, setting, who):
    licence, _audit, outsider = setting
    if who == "key":
        client = key_client(pw.licensee, ["licences:read"])
    else:
        client = user_client(
            {"licensor": pw.office_jp, "licensee": pw.office_licensee, "outsider": outsider}[who]
        )
    label = quarter_of(days(-100))
    answer = client.post(
        "/api/v1/royalty-audits/", {"licence": licence.pk, "quarter": label}, format="json"
    )
    assert answer.status_code in (403, 422)  # 422: the outsider names a licence it cannot see
    assert not RoyaltyAudit.objects.filter(quarter=label).exists()
    if who != "key":
        page = client.post(reverse("ip:audit_open", args=[licence.pk]), {"audit-quarter": label})
        assert page.status_code == 404
    assert not RoyaltyAudit.objects.filter(quarter=label).exists()


def test_an_officer_opens_and_closes_an_audit_over_the_api(pw, setting):
    licence, _audit, _outsider = setting
    client = user_client(pw.jp)
    label = quarter_of(days(-100))
    opened = client.post(
        "/api/v1/royalty-audits/", {"licence": licence.pk, "quarter": label}, format="json"
    )
    assert opened.status_code == 201, opened.content
    audit_id = opened.json()["id"]
    bad = client.post(
        f"/api/v1/royalty-audits/{audit_id}/close/", {"finding_amount": 5}, format="json"
    )
    assert bad.status_code == 400 and "note" in bad.json()["errors"]
    closed = client.post(
        f"/api/v1/royalty-audits/{audit_id}/close/",
        {"finding_amount": -1_000, "note": "Returns credited"},
        format="json",
    )
    assert closed.status_code == 200, closed.content
    assert closed.json()["state"] == "closed"


def test_an_officer_opens_an_audit_in_the_browser(pw, setting):
    licence, _audit, _outsider = setting
    client = user_client(pw.jp)
    label = quarter_of(days(-100))
    bad = client.post(reverse("ip:audit_open", args=[licence.pk]), {"audit-quarter": "2026Q1"})
    assert bad.status_code == 422
    done = client.post(reverse("ip:audit_open", args=[licence.pk]), {"audit-quarter": label})
    assert done.status_code == 302
    assert RoyaltyAudit.objects.filter(licence=licence, quarter=label, state="open").exists()


def test_flags_are_for_fund_staff(pw, setting):
    licence, _audit, _outsider = setting
    report_id = licence.royalty_reports.get().pk
    officer = user_client(pw.jp).get(f"/api/v1/royalty-reports/{report_id}/").json()
    licensee = user_client(pw.office_licensee).get(f"/api/v1/royalty-reports/{report_id}/").json()
    assert officer["flagged"] is False and licensee["flagged"] is None
    assert (
        user_client(pw.office_licensee)
        .get("/api/v1/royalty-reports/?flagged=false")
        .json()["results"]
        == []
    )
    assert user_client(pw.jp).get(reverse("ip:royalty_integrity")).status_code == 200
    assert user_client(pw.office_licensee).get(reverse("ip:royalty_integrity")).status_code == 404


def test_licences_show_their_asset_shares(pw, setting):
    licence, _audit, _outsider = setting
    body = user_client(pw.office_licensee).get(f"/api/v1/licences/{licence.pk}/").json()
    assert body["asset_shares"] == [{"asset": pw.asset.pk, "share_bp": 10_000}]


def test_shares_that_do_not_sum_answer_a_field_error(pw):
    client = user_client(pw.office_jp)
    answer = client.post(
        "/api/v1/licences/",
        {
            "licensee": pw.licensee.code,
            "assets": [pw.asset.pk],
            "asset_shares": [9_000],
            "fields_of_use": ["semiconductor.ai"],
            "purposes": ["research"],
            "territories": ["JP"],
            "start_on": days(0).isoformat(),
            "end_on": days(100).isoformat(),
            "exclusivity": "non_exclusive",
            "royalty_rate": "0.03",
            "currency": "JPY",
        },
        format="json",
    )
    assert answer.status_code == 422, answer.content
    assert "asset_shares" in answer.json()["errors"]


@pytest.mark.parametrize("url", ["/api/v1/royalty-audits/", "/api/v1/royalty-periods/"])
def test_lists_answer_in_a_constant_number_of_queries(pw, url, django_assert_max_num_queries):
    client = user_client(pw.office_licensee)

    def grow(n: int) -> None:
        for _i in range(n):
            licence = project_licence(
                pw, start_on=days(-300).isoformat(), fields_of_use=["semiconductor"]
            )
            audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=quarter_of(days(-200)))
            assert audit.pk
        royalty_overdue_run(today=days(0))

    grow(1)
    with django_assert_max_num_queries(8):
        small = client.get(url).json()["results"]
    grow(3)
    with django_assert_max_num_queries(8):
        large = client.get(url).json()["results"]
    assert len(large) > len(small) > 0


# --------------------------------------------------------------------------- proposing


@pytest.fixture
def second_asset(pw):
    from ip_licensing.models import ReturnAllocationEntry
    from ip_licensing.services.assets import asset_register
    from tests.factories.projects_api import make_project

    built = make_project(pw.built.c)
    ReturnAllocationEntry.objects.create(
        project=built.project, organisation=pw.partner_jp, basis_points=10_000
    )
    return asset_register(
        actor=pw.office_jp,
        data={
            "kind": "software",
            "title_en": "Quantisation toolkit",
            "owner": pw.partner_jp.code,
            "project": built.project.pk,
        },
    )


def proposal(pw, assets, **shares):
    data = {
        "licence-licensee": pw.licensee.code,
        "licence-fields_of_use": "semiconductor.ai",
        "licence-purposes": ["research", "sale"],
        "licence-territories": "jp, kr",
        "licence-start_on": days(0).isoformat(),
        "licence-end_on": days(200).isoformat(),
        "licence-exclusivity": "non_exclusive",
        "licence-royalty_rate": "0.03",
        "licence-minimum_annual_royalty": "0",
        "licence-upfront_fee": "0",
        "licence-currency": "JPY",
        "licence-assets": [str(asset.pk) for asset in assets],
    }
    data.update({f"licence-share_{pk}": str(bp) for pk, bp in shares.items()})
    return data


def test_a_licence_of_two_assets_is_proposed_in_the_browser(pw, second_asset):
    from ip_licensing.models import Licence, LicenceAsset

    client = user_client(pw.office_jp)
    page = client.get(reverse("ip:licence_new"))
    assert page.status_code == 200
    assert f'name="licence-share_{second_asset.pk}"'.encode() in page.content
    refused = client.post(
        reverse("ip:licence_new"),
        proposal(
            pw, [pw.asset, second_asset], **{str(pw.asset.pk): 6000, str(second_asset.pk): 3000}
        ),
    )
    assert refused.status_code == 422
    assert b"10,000" in refused.content
    assert not Licence.objects.exists()
    done = client.post(
        reverse("ip:licence_new"),
        proposal(
            pw, [pw.asset, second_asset], **{str(pw.asset.pk): 6000, str(second_asset.pk): 4000}
        ),
    )
    assert done.status_code == 302, done.content
    licence = Licence.objects.get()
    assert dict(
        LicenceAsset.objects.filter(licence=licence).values_list("asset_id", "share_bp")
    ) == {
        pw.asset.pk: 6000,
        second_asset.pk: 4000,
    }
    equal = client.post(reverse("ip:licence_new"), proposal(pw, [pw.asset, second_asset]))
    assert equal.status_code == 302
    newest = Licence.objects.exclude(pk=licence.pk).get()
    assert sorted(newest.licence_assets.values_list("share_bp", flat=True)) == [5000, 5000]


def test_an_unrelated_person_cannot_propose_for_others(pw):
    from ip_licensing.models import Licence

    outsider = member_of(jp_org(), research_office=True)
    client = user_client(outsider)
    page = client.get(reverse("ip:licence_new"))
    assert page.status_code == 200
    assert f'value="{pw.asset.pk}"'.encode() not in page.content  # not their asset
    answer = client.post(reverse("ip:licence_new"), proposal(pw, [pw.asset]))
    assert answer.status_code == 422  # the asset is not among the choices
    assert not Licence.objects.exists()


def test_the_licence_check_allows_a_use_of_any_covered_asset(pw, second_asset):
    licence = project_licence(
        pw, start_on=days(-10).isoformat(), extra_assets=[second_asset.pk], purposes=["sale"]
    )
    assert sorted(licence.licence_assets.values_list("share_bp", flat=True)) == [5000, 5000]
    client = key_client(pw.licensee, ["licences:check"])
    for asset in (pw.asset, second_asset):
        answer = client.post(
            "/api/v1/licences/check/",
            {
                "asset": asset.pk,
                "licensee": pw.licensee.code,
                "field": "semiconductor.ai.edge",
                "purpose": "sale",
                "territory": "JP",
                "on": days(0).isoformat(),
            },
            format="json",
        )
        assert answer.status_code == 200, answer.content
        assert answer.json() == {"decision": "allow", "licence": licence.pk, "reasons": []}


def test_the_officers_list_answers_in_a_constant_number_of_queries(
    pw, django_assert_max_num_queries
):
    client = user_client(pw.jp)

    def grow(n: int) -> None:
        for _i in range(n):
            licence = project_licence(
                pw, start_on=days(-300).isoformat(), fields_of_use=["semiconductor"]
            )
            royalty_audit_open(licence=licence, actor=pw.jp, quarter=quarter_of(days(-200)))
        royalty_overdue_run(today=days(0))

    grow(1)
    with django_assert_max_num_queries(10):
        small = client.get(reverse("ip:royalty_integrity"))
    grow(3)
    with django_assert_max_num_queries(10):
        large = client.get(reverse("ip:royalty_integrity"))
    assert small.content.count(b"data-audit=") < large.content.count(b"data-audit=")
    assert large.content.count(b"data-period=") > 0
