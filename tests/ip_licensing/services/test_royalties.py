"""Royalty reports and the upfront fee (§10.5): the royalty due, corrections that post only
the difference, the split between the fund and the partners, and the ledger staying clean."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.calendar import FUND_TIMEZONE
from fundapp.ledger.models import Account, Transaction
from fundapp.ledger.selectors import account_balance, ledger_verify
from fundapp.notifications.models import Notification
from ip_licensing import rules
from ip_licensing.models import ReturnAllocationEntry, RoyaltyReport
from ip_licensing.services.royalties import (
    royalty_post_upfront,
    royalty_report_submit,
)
from tests.factories import OrganisationFactory, member_of
from tests.factories.licensing import World as LicensingWorld
from tests.factories.licensing import (
    days,
    make_licence,
    make_project_world,
    project_licence,
)
from tests.factories.licensing import make_world as make_licensing_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


@pytest.fixture
def world(db) -> LicensingWorld:
    """The licensing world of the API and page tests (tests.factories.licensing)."""
    return make_licensing_world()


def current_quarter() -> str:
    today = days(0)

    return rules.format_quarter(today.year, (today.month - 1) // 3 + 1)


def previous_quarter() -> str:
    first, _last = rules.quarter_bounds(*rules.parse_quarter(current_quarter()))
    day = first - timedelta(days=1)
    return rules.format_quarter(day.year, (day.month - 1) // 3 + 1)


def payable(org_id: int, ccy: str = "JPY") -> int:
    return account_balance(f"org:{org_id}:{ccy}:payable")


def licensee_balance(org_id: int, ccy: str = "JPY") -> int:
    return account_balance(f"licensee:{org_id}:{ccy}")


def assert_ledger_clean() -> None:
    report = ledger_verify()
    assert report.ok, report.breaches


@pytest.fixture
def pw(db):
    return make_project_world()


@pytest.fixture
def licence(pw):
    """3.5 % of net sales, at least 200,000 a year (50,000 a quarter), JPY, active."""
    return project_licence(pw, start_on=days(-200).isoformat())


def report(pw, licence, net_sales, quarter=None, actor=None):
    return royalty_report_submit(
        licence=licence,
        actor=actor or pw.office_licensee,
        quarter=quarter or current_quarter(),
        net_sales=net_sales,
    )


# --------------------------------------------------------------------------- royalty due


@pytest.mark.parametrize(
    ("net_sales", "rate", "minimum", "due"),
    [
        (10_000_000, "0.035", 200_000, 350_000),  # the percentage
        (1_000_000, "0.035", 200_000, 50_000),  # the quarterly minimum: 200,000 / 4
        (0, "0.035", 200_001, 50_000),  # minimum / 4 rounded down
        (100_000, "0.000005", 0, 1),  # 0.5 rounds half up
        (99_999, "0.000005", 0, 0),  # 0.499995 rounds down; nothing to post
    ],
)
def test_royalty_due(pw, net_sales, rate, minimum, due):
    licence = project_licence(
        pw, start_on=days(-200).isoformat(), royalty_rate=rate, minimum_annual_royalty=minimum
    )
    row = report(pw, licence, net_sales)
    assert (row.royalty_due, row.posted_amount) == (due, due)
    assert licensee_balance(pw.licensee.pk) == -due
    if due == 0:
        assert row.ledger_transaction is None
    else:
        assert row.ledger_transaction.reference == f"royalty:{row.pk}"
        assert row.ledger_transaction.kind == "royalty"
    assert_ledger_clean()


def test_posting_splits_fund_share_then_the_allocation_table(pw, licence):
    row = report(pw, licence, 10_000_000)  # due 350,000
    # Fund share 10 %: 35,000 to the JP pool (the licensor's side); 315,000 by 60/40.
    assert account_balance("fund:JP:pool") == 35_000
    assert payable(pw.partner_jp.pk) == 189_000
    assert payable(pw.partner_kr.pk) == 126_000
    legs = dict(row.ledger_transaction.entries.values_list("account__code", "amount"))
    assert sum(legs.values()) == 0
    assert legs[f"licensee:{pw.licensee.pk}:JPY"] == -350_000
    assert_ledger_clean()
    # The research offices of the licensor and of the partners paid are told.
    told = set(Notification.objects.filter(kind="royalty_posted").values_list("user_id", flat=True))
    assert told == {pw.office_jp.pk, pw.built.c.office_kr.pk}


@pytest.mark.parametrize(
    ("table", "due", "fund_share_bp"),
    [
        ([3333, 3333, 3334], 12_345, 1000),
        ([1, 9999], 7, 1000),
        ([5000, 5000], 1, 1000),
        ([10000], 999_999, 0),
        ([2500, 2500, 5000], 333_333, 10000),
        ([0, 10000, 0], 50_001, 1234),
    ],
)
def test_split_sums_exactly(table, due, fund_share_bp):
    pw = make_project_world(table=None)
    third = OrganisationFactory.create(code="KR-THR-01", country="KR")
    from projects.models import ProjectOrganisation

    ProjectOrganisation.objects.create(
        project=pw.project,
        organisation=third,
        role="partner",
        side="KR",
        currency="KRW",
        budget=1,
        order=2,
    )
    orgs = [pw.partner_jp, pw.partner_kr, third][: len(table)]
    for org, bp in zip(orgs, table, strict=True):
        ReturnAllocationEntry.objects.create(project=pw.project, organisation=org, basis_points=bp)
    fund = pw.project.call.fund
    fund.fund_share_bp = fund_share_bp
    fund.save(update_fields=["fund_share_bp"])
    licence = project_licence(
        pw, start_on=days(-200).isoformat(), royalty_rate="1", minimum_annual_royalty=0
    )
    row = report(pw, licence, due)
    assert row.royalty_due == due
    fund_part, parts = rules.royalty_split(
        due, fund_share_bp, [(org.pk, bp) for org, bp in zip(orgs, table, strict=True)]
    )
    assert account_balance("fund:JP:pool") == fund_part
    for org_id, part in parts:
        assert payable(org_id) == part
    assert account_balance("fund:JP:pool") + sum(payable(org.pk) for org in orgs) == due
    assert licensee_balance(pw.licensee.pk) == -due
    assert_ledger_clean()


def test_background_ip_pays_the_rest_to_the_licensor(world):
    licence = make_licence(world, start_on=days(-200).isoformat())
    row = royalty_report_submit(
        licence=licence, actor=world.office_licensee, quarter=current_quarter(), net_sales=10**7
    )
    assert row.royalty_due == 350_000
    assert account_balance("fund:JP:pool") == 35_000
    assert payable(world.licensor.pk) == 315_000
    assert_ledger_clean()


def test_a_project_without_a_table_pays_the_rest_to_the_licensor():
    pw = make_project_world(table=None)
    licence = project_licence(pw, start_on=days(-200).isoformat())
    report(pw, licence, 10**7)
    assert payable(pw.partner_jp.pk) == 315_000
    assert payable(pw.partner_kr.pk) == 0


# --------------------------------------------------------------------------- corrections


def test_a_correction_supersedes_and_posts_only_the_difference(pw, licence):
    first = report(pw, licence, 10_000_000)  # 350,000
    second = report(pw, licence, 12_000_000)  # 420,000: +70,000
    assert second.supersedes_id == first.pk
    assert (second.royalty_due, second.posted_amount) == (420_000, 70_000)
    assert licensee_balance(pw.licensee.pk) == -420_000
    legs = dict(second.ledger_transaction.entries.values_list("account__code", "amount"))
    assert legs == {
        f"licensee:{pw.licensee.pk}:JPY": -70_000,
        "fund:JP:pool": 7_000,
        f"org:{pw.partner_jp.pk}:JPY:payable": 37_800,
        f"org:{pw.partner_kr.pk}:JPY:payable": 25_200,
    }
    third = report(pw, licence, 11_000_000)  # 385,000: −35,000, superseding the latest
    assert third.supersedes_id == second.pk
    assert third.posted_amount == -35_000
    legs = dict(third.ledger_transaction.entries.values_list("account__code", "amount"))
    assert legs[f"licensee:{pw.licensee.pk}:JPY"] == 35_000  # the other direction
    assert legs["fund:JP:pool"] == -3_500
    assert third.ledger_transaction.kind == "royalty"
    assert licensee_balance(pw.licensee.pk) == -385_000
    assert (
        account_balance("fund:JP:pool") + payable(pw.partner_jp.pk) + payable(pw.partner_kr.pk)
        == 385_000
    )
    # Only the latest report of the quarter is in force.
    current = RoyaltyReport.objects.filter(licence=licence, superseded_by__isnull=True)
    assert list(current) == [third]
    assert_ledger_clean()


def test_a_correction_within_the_minimum_posts_nothing(pw, licence):
    report(pw, licence, 1_000_000)  # 35,000 → minimum 50,000
    row = report(pw, licence, 1_200_000)  # 42,000 → still 50,000
    assert (row.royalty_due, row.posted_amount, row.ledger_transaction) == (50_000, 0, None)
    assert licensee_balance(pw.licensee.pk) == -50_000


def test_repeating_the_latest_report_is_refused(pw, licence):
    report(pw, licence, 1_000_000)
    with pytest.raises(Conflict) as refused:
        report(pw, licence, 1_000_000)
    assert refused.value.code == "royalty_report_unchanged"
    assert RoyaltyReport.objects.filter(licence=licence).count() == 1


def test_quarters_are_independent(pw, licence, monkeypatch):
    # The earlier quarter is reported on time (the day after it ended), so no late interest
    # is added whatever today's date is.
    earlier = previous_quarter()
    filed = rules.quarter_bounds(*rules.parse_quarter(earlier))[1] + timedelta(days=1)
    with monkeypatch.context() as clock:
        clock.setattr(
            timezone, "now", lambda: datetime.combine(filed, time(12), tzinfo=FUND_TIMEZONE)
        )
        a = report(pw, licence, 10_000_000, quarter=earlier)
    b = report(pw, licence, 10_000_000)
    assert a.supersedes_id is None and b.supersedes_id is None
    assert licensee_balance(pw.licensee.pk) == -700_000


def test_reports_are_immutable(pw, licence):
    row = report(pw, licence, 1_000_000)
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        RoyaltyReport.objects.filter(pk=row.pk).update(net_sales=1)


def test_a_lower_correction_after_payout_is_refused_whole(pw, licence):
    from fundapp.ledger.services import ledger_post

    report(pw, licence, 10_000_000)
    # The JP partner's share has been paid out.
    ledger_post(
        kind="payment_confirmation",
        currency="JPY",
        legs=[
            (f"org:{pw.partner_jp.pk}:JPY:payable", -189_000),
            (f"org:{pw.partner_jp.pk}:JPY:paid", 189_000),
        ],
        reference="test:payout",
    )
    with pytest.raises(Conflict) as refused:
        report(pw, licence, 0)
    assert refused.value.code == "royalty_correction_uncovered"
    assert RoyaltyReport.objects.filter(licence=licence).count() == 1
    assert licensee_balance(pw.licensee.pk) == -350_000
    assert_ledger_clean()


def test_a_report_is_audited(pw, licence):
    row = report(pw, licence, 10_000_000)
    event = AuditEvent.objects.get(action="royalty_report.submitted", object_id=str(row.pk))
    assert event.after is not None
    assert event.after["royalty_due"] == 350_000
    assert event.after["ledger_transaction"] == row.ledger_transaction_id


# --------------------------------------------------------------------------- refusals


def test_only_the_licensee_reports(pw, licence):
    with pytest.raises(PermissionDenied):
        report(pw, licence, 1_000, actor=pw.office_jp)
    with pytest.raises(PermissionDenied):
        report(pw, licence, 1_000, actor=pw.jp)
    plain_member = member_of(pw.licensee)
    assert report(pw, licence, 1_000, actor=plain_member).royalty_due == 50_000


@pytest.mark.parametrize(
    ("quarter", "field"),
    [("2026Q3", "quarter"), ("2026-Q5", "quarter"), ("", "quarter"), (None, "quarter")],
)
def test_malformed_quarters(pw, licence, quarter, field):
    with pytest.raises(ValidationFailed) as refused:
        royalty_report_submit(
            licence=licence, actor=pw.office_licensee, quarter=quarter, net_sales=1
        )
    assert set(refused.value.errors) == {field}


@pytest.mark.parametrize("net_sales", [-1, 10**15 + 1, 1.5, "100", True])
def test_bad_net_sales(pw, licence, net_sales):
    with pytest.raises(ValidationFailed) as refused:
        report(pw, licence, net_sales)
    assert set(refused.value.errors) == {"net_sales"}


def test_quarters_outside_the_term_or_not_begun_are_refused(pw):
    licence = project_licence(pw, start_on=days(-10).isoformat(), end_on=days(300).isoformat())
    start = licence.start_on
    before = start - timedelta(days=120)
    year, number = before.year, (before.month - 1) // 3 + 1
    with pytest.raises(ValidationFailed, match="outside"):
        report(pw, licence, 1, quarter=rules.format_quarter(year, number))
    after = licence.end_on + timedelta(days=100)
    with pytest.raises(ValidationFailed, match="outside"):
        report(pw, licence, 1, quarter=rules.format_quarter(after.year, (after.month - 1) // 3 + 1))
    future = days(120)  # within the term, in a quarter that has not begun
    with pytest.raises(ValidationFailed, match="not begun"):
        report(
            pw, licence, 1, quarter=rules.format_quarter(future.year, (future.month - 1) // 3 + 1)
        )


def test_a_draft_licence_takes_no_report(pw):
    licence = project_licence(pw, state="draft")
    with pytest.raises(Conflict):
        report(pw, licence, 1)


def test_a_terminated_licence_takes_reports_for_its_term_until_termination(pw):
    licence = project_licence(pw, start_on=days(-200).isoformat(), state="terminated")
    row = report(pw, licence, 1_000_000, quarter=previous_quarter())
    assert row.royalty_due == 50_000


def test_a_currency_the_fund_pool_cannot_hold_is_refused_and_writes_nothing(world):
    # A JP licensor's fund share goes to fund:JP:pool, which holds JPY only.
    licence = make_licence(world, currency="KRW", start_on=days(-200).isoformat())
    with pytest.raises(Conflict) as refused:
        royalty_report_submit(
            licence=licence, actor=world.office_licensee, quarter=current_quarter(), net_sales=10**7
        )
    assert refused.value.code == "royalty_currency_mismatch"
    assert "KRW" in str(refused.value.message) and "JPY" in str(refused.value.message)
    assert not RoyaltyReport.objects.exists()
    assert not Account.objects.filter(code="fund:JP:pool", currency="KRW").exists()
    assert not Transaction.objects.filter(kind="royalty").exists()


def test_a_licensor_outside_jp_and_kr_pays_the_fund_share_to_the_currencys_side(world):
    us = OrganisationFactory.create(code="US-ACME-01", country="US", kind="company")
    office_us = member_of(us, research_office=True)
    from tests.factories.licensing import background_asset

    asset = background_asset(us, office_us, "US background IP")
    licence = make_licence(
        world,
        currency="KRW",
        assets=[asset],
        licensor_office=office_us,
        licensee=world.other,
        start_on=days(-200).isoformat(),
    )
    royalty_report_submit(
        licence=licence, actor=world.office_other, quarter=current_quarter(), net_sales=10**8
    )
    assert account_balance("fund:KR:pool") == 350_000
    assert payable(us.pk, "KRW") == 3_150_000
    assert_ledger_clean()


# --------------------------------------------------------------------------- upfront fee


def test_the_upfront_fee_is_posted_once_on_activation(pw):
    licence = project_licence(pw, upfront_fee=1_000_000)
    assert licence.upfront_posted
    txn = Transaction.objects.get(reference=f"licence:{licence.pk}:upfront")
    assert txn.kind == "royalty"
    assert account_balance("fund:JP:pool") == 100_000
    assert payable(pw.partner_jp.pk) == 540_000
    assert payable(pw.partner_kr.pk) == 360_000
    # Again (a retry, the daily catch-up): the same transaction, nothing more.
    assert royalty_post_upfront(licence=licence) == txn
    assert Transaction.objects.filter(kind="royalty").count() == 1
    assert AuditEvent.objects.filter(action="licence.upfront_posted").count() == 1
    assert_ledger_clean()


def test_an_upfront_fee_of_zero_is_marked_posted_without_a_transaction(pw):
    licence = project_licence(pw, upfront_fee=0)
    assert licence.upfront_posted
    assert not Transaction.objects.filter(kind="royalty").exists()


def test_the_upfront_fee_waits_for_activation(pw):
    licence = project_licence(pw, state="draft", upfront_fee=5)
    with pytest.raises(Conflict):
        royalty_post_upfront(licence=licence)


def test_an_upfront_fee_in_a_currency_the_pool_cannot_hold_stops_the_approval(world):
    """Activation posts the upfront fee in the same transaction: a KRW fee of a JP licensor
    cannot be posted, so the second approval is refused whole and the licence stays
    pending (the licence services should refuse such a currency when it is proposed)."""
    from ip_licensing.services.licences import licence_approve

    licence = make_licence(
        world, state="pending", currency="KRW", upfront_fee=1_000_000, start_on=days(-1).isoformat()
    )
    licence_approve(licence=licence, actor=world.jp)
    with pytest.raises(Conflict) as refused:
        licence_approve(licence=licence, actor=world.kr)
    assert refused.value.code == "royalty_currency_mismatch"
    licence.refresh_from_db()
    assert (licence.state, licence.upfront_posted) == ("pending", False)
    assert not Transaction.objects.filter(kind="royalty").exists()
