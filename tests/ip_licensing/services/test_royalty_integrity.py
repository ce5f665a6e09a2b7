"""Multi-asset licences and royalty integrity (§23): per-asset shares, each asset's part
split by its own project's table, overdue reports, flags, late interest and audits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.ledger.models import Transaction
from fundapp.ledger.selectors import account_balance, ledger_verify
from fundapp.notifications.models import Notification, OutboxEvent
from ip_licensing import royalty_rules, rules
from ip_licensing.models import (
    LicenceAsset,
    ReturnAllocationEntry,
    RoyaltyAuditState,
    RoyaltyPeriod,
    RoyaltyPeriodState,
)
from ip_licensing.services.assets import asset_register
from ip_licensing.services.audits import royalty_audit_close, royalty_audit_open
from ip_licensing.services.licences import licence_accept, licence_approve, licence_create
from ip_licensing.services.royalties import royalty_report_submit
from ip_licensing.services.royalty_integrity import royalty_overdue_run
from tests.factories.licensing import days, make_project_world, project_licence, terms
from tests.factories.projects_api import make_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def assert_ledger_clean() -> None:
    report = ledger_verify()
    assert report.ok, report.breaches
    call_command("check_ledger")


def payable(org_id: int) -> int:
    return account_balance(f"org:{org_id}:JPY:payable")


def quarter_of(day) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


@pytest.fixture
def pw(db):
    return make_project_world()


@pytest.fixture
def second_asset(pw):
    """A result of a second project of the same consortium, whose table gives the KR
    partner 80 %."""
    built = make_project(pw.built.c)
    for org, bp in ((pw.partner_jp, 2000), (pw.partner_kr, 8000)):
        ReturnAllocationEntry.objects.create(
            project=built.project, organisation=org, basis_points=bp
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


# --------------------------------------------------------------------------- shares


def create(pw, **data):
    return licence_create(
        actor=pw.office_jp,
        data={**terms(), "licensee": pw.licensee.code, "assets": [pw.asset.pk], **data},
    )


def test_several_assets_share_equally_by_default(pw, second_asset):
    licence = create(pw, assets=[second_asset.pk, pw.asset.pk])
    shares = dict(LicenceAsset.objects.filter(licence=licence).values_list("asset_id", "share_bp"))
    assert shares == {pw.asset.pk: 5000, second_asset.pk: 5000}


def test_shares_are_given_in_the_order_of_the_assets(pw, second_asset):
    licence = create(pw, assets=[second_asset.pk, pw.asset.pk], asset_shares=[7000, 3000])
    shares = dict(LicenceAsset.objects.filter(licence=licence).values_list("asset_id", "share_bp"))
    assert shares == {second_asset.pk: 7000, pw.asset.pk: 3000}


@pytest.mark.parametrize(
    ("shares", "field"),
    [
        ([7000, 2000], "asset_shares"),  # sum 9,000
        ([10_000], "asset_shares"),  # one share for two assets
        ([10_000, 0], "asset_shares.1"),  # a share of nothing
    ],
)
def test_bad_shares_are_field_errors(pw, second_asset, shares, field):
    with pytest.raises(ValidationFailed) as refused:
        create(pw, assets=[pw.asset.pk, second_asset.pk], asset_shares=shares)
    assert field in refused.value.errors


def test_an_asset_named_twice_is_refused(pw):
    with pytest.raises(ValidationFailed) as refused:
        create(pw, assets=[pw.asset.pk, pw.asset.pk])
    assert "assets" in refused.value.errors


def test_an_asset_of_another_owner_is_refused(pw):
    other = asset_register(
        actor=pw.built.c.office_kr,
        data={
            "kind": "dataset",
            "title_en": "KR data",
            "owner": pw.partner_kr.code,
            "project": pw.project.pk,
        },
    )
    with pytest.raises(ValidationFailed) as refused:
        create(pw, assets=[pw.asset.pk, other.pk])
    assert "assets" in refused.value.errors


def test_each_assets_part_is_split_by_its_own_projects_table(pw, second_asset):
    licence = create(
        pw,
        assets=[pw.asset.pk, second_asset.pk],
        asset_shares=[7000, 3000],
        start_on=days(-200).isoformat(),
        end_on=days(160).isoformat(),
    )
    licence_accept(licence=licence, actor=pw.office_jp)
    licence_accept(licence=licence, actor=pw.office_licensee)
    licence_approve(licence=licence, actor=pw.jp)
    licence_approve(licence=licence, actor=pw.kr)
    today = days(0)
    royalty_report_submit(
        licence=licence,
        actor=pw.office_licensee,
        quarter=rules.format_quarter(*quarter_of(today)),
        net_sales=10_000_000,
    )
    # 3.5 % of 10,000,000 = 350,000; fund 35,000; 315,000 by 70/30 = 220,500 + 94,500;
    # asset 1 by 60/40: 132,300 + 88,200; asset 2 by 20/80: 18,900 + 75,600.
    assert account_balance("fund:JP:pool") == 35_000
    assert payable(pw.partner_jp.pk) == 132_300 + 18_900
    assert payable(pw.partner_kr.pk) == 88_200 + 75_600
    assert_ledger_clean()


# --------------------------------------------------------------------------- overdue job


@pytest.fixture
def licence(pw):
    return project_licence(pw, start_on=days(-300).isoformat())


def target_quarter() -> tuple[int, int]:
    """A whole quarter inside the licence's term that ended at least 45 days ago."""
    return quarter_of(days(-200))


def test_the_overdue_job_reminds_at_30_days_and_marks_overdue_at_45(pw, licence):
    q = target_quarter()
    label = rules.format_quarter(*q)
    end = royalty_rules.quarter_end(q)

    royalty_overdue_run(today=end + timedelta(days=29))
    assert not RoyaltyPeriod.objects.filter(licence=licence, quarter=label).exists()
    royalty_overdue_run(today=end + timedelta(days=30))
    period = RoyaltyPeriod.objects.get(licence=licence, quarter=label)
    assert period.state == RoyaltyPeriodState.DUE
    assert period.deadline_on == end + timedelta(days=44)
    assert (
        Notification.objects.filter(user=pw.office_licensee, message="royalty.report_due").count()
        >= 1
    )
    events = OutboxEvent.objects.filter(kind="royalty.overdue", object_id=str(period.pk))
    assert [e.payload["state"] for e in events] == ["due"]

    # Rerun the same day and the last on-time day: nothing more.
    assert period.pk not in royalty_overdue_run(today=end + timedelta(days=30))["30"]
    royalty_overdue_run(today=end + timedelta(days=44))
    period.refresh_from_db()
    assert period.state == RoyaltyPeriodState.DUE

    # The 45th day after the quarter (Asia/Tokyo): overdue, once.
    moved = royalty_overdue_run(today=end + timedelta(days=45))
    assert period.pk in moved["45"]
    period.refresh_from_db()
    assert (period.state, period.overdue_on) == (
        RoyaltyPeriodState.OVERDUE,
        end + timedelta(days=45),
    )
    assert royalty_overdue_run(today=end + timedelta(days=45)) == {"30": [], "45": []}
    assert royalty_overdue_run(today=end + timedelta(days=46))["45"] == []
    events = OutboxEvent.objects.filter(kind="royalty.overdue", object_id=str(period.pk))
    assert sorted(e.payload["state"] for e in events) == ["due", "overdue"]
    assert (
        AuditEvent.objects.filter(action="royalty_period.overdue", object_id=str(period.pk)).count()
        == 1
    )
    assert Notification.objects.filter(user=pw.office_jp, message="royalty.overdue").exists()


def test_a_reported_quarter_is_never_reminded(pw, licence):
    q = target_quarter()
    label = rules.format_quarter(*q)
    royalty_report_submit(licence=licence, actor=pw.office_licensee, quarter=label, net_sales=1)
    royalty_overdue_run(today=royalty_rules.overdue_day(q))
    period = RoyaltyPeriod.objects.get(licence=licence, quarter=label)
    assert period.state == RoyaltyPeriodState.REPORTED
    assert not OutboxEvent.objects.filter(kind="royalty.overdue", object_id=str(period.pk)).exists()


def test_the_job_runs_in_a_fixed_number_of_queries(pw, django_assert_max_num_queries):
    for _n in range(2):
        project_licence(pw, start_on=days(-300).isoformat(), fields_of_use=["semiconductor"])
    with django_assert_max_num_queries(16):
        small = royalty_overdue_run(today=days(0))
    for _n in range(4):
        project_licence(pw, start_on=days(-300).isoformat(), fields_of_use=["semiconductor"])
    with django_assert_max_num_queries(16):
        large = royalty_overdue_run(today=days(0))
    assert small["45"] and large["45"]


# --------------------------------------------------------------------------- late interest


def test_late_interest_is_posted_with_a_royalty_reported_after_it_is_overdue(pw, licence):
    q = target_quarter()
    label = rules.format_quarter(*q)
    royalty_overdue_run(today=days(0))
    assert RoyaltyPeriod.objects.get(licence=licence, quarter=label).state == "overdue"
    report = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    late = (days(0) - royalty_rules.report_deadline(q)).days
    expected = royalty_rules.late_interest(350_000, Decimal("0.08"), late)
    assert (report.late_days, report.late_interest) == (late, expected)
    assert expected > 0
    assert report.interest_transaction is not None
    assert report.interest_transaction.reference == f"royalty-interest:{report.pk}"
    assert account_balance(f"licensee:{pw.licensee.pk}:JPY") == -(350_000 + expected)
    assert RoyaltyPeriod.objects.get(licence=licence, quarter=label).state == "reported"
    assert_ledger_clean()


def test_a_report_on_time_carries_no_interest(pw, licence):
    report = royalty_report_submit(
        licence=licence,
        actor=pw.office_licensee,
        quarter=rules.format_quarter(*quarter_of(days(0))),
        net_sales=10_000_000,
    )
    assert (report.late_interest, report.interest_transaction) == (0, None)


# --------------------------------------------------------------------------- flags


def test_net_sales_far_below_the_trailing_mean_are_flagged(pw, licence):
    first = quarter_of(days(-280))
    quarters = []
    year, number = first
    for _n in range(3):
        quarters.append(rules.format_quarter(year, number))
        number += 1
        if number == 5:
            year, number = year + 1, 1
    for label in quarters[:2]:
        report = royalty_report_submit(
            licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
        )
        assert report.flagged is False
    low = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=quarters[2], net_sales=4_999_999
    )
    assert (low.flagged, low.trailing_mean) == (True, 10_000_000)
    event = OutboxEvent.objects.get(kind="royalty.flagged", object_id=str(low.pk))
    assert event.organisation_ids == []  # officers only
    assert Notification.objects.filter(user=pw.jp, message="royalty.flagged").exists()


# --------------------------------------------------------------------------- audits


def test_an_audit_finding_posts_a_correction_with_interest(pw, licence):
    label = rules.format_quarter(*target_quarter())
    royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=label, scope="Sales ledger")
    with pytest.raises(Conflict):
        royalty_audit_open(licence=licence, actor=pw.kr, quarter=label)
    before = account_balance(f"licensee:{pw.licensee.pk}:JPY")
    closed = royalty_audit_close(
        audit=audit, actor=pw.kr, finding_amount=100_000, note="Under-reported"
    )
    assert closed.state == RoyaltyAuditState.CLOSED
    interest = closed.finding_interest
    assert interest is not None and interest > 0
    assert closed.ledger_transaction is not None
    assert closed.ledger_transaction.reference == f"royalty-audit:{closed.pk}"
    assert account_balance(f"licensee:{pw.licensee.pk}:JPY") == before - 100_000 - interest
    assert OutboxEvent.objects.filter(
        kind="royalty_audit.closed", object_id=str(closed.pk)
    ).exists()
    assert Notification.objects.filter(
        user=pw.office_licensee, message="royalty_audit.closed"
    ).exists()
    with pytest.raises(Conflict):
        royalty_audit_close(audit=closed, actor=pw.kr, finding_amount=1, note="again")
    assert_ledger_clean()


def test_an_overpayment_is_returned_without_interest(pw, licence):
    label = rules.format_quarter(*target_quarter())
    royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=label)
    before = account_balance(f"licensee:{pw.licensee.pk}:JPY")
    closed = royalty_audit_close(audit=audit, actor=pw.jp, finding_amount=-50_000, note="Returns")
    assert closed.finding_interest == 0
    assert account_balance(f"licensee:{pw.licensee.pk}:JPY") == before + 50_000
    assert_ledger_clean()


def test_only_fund_officers_audit(pw, licence):
    label = rules.format_quarter(*target_quarter())
    for actor in (pw.office_licensee, pw.office_jp):
        with pytest.raises(PermissionDenied):
            royalty_audit_open(licence=licence, actor=actor, quarter=label)
    audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=label)
    with pytest.raises(PermissionDenied):
        royalty_audit_close(audit=audit, actor=pw.office_jp, finding_amount=1, note="x")


# --------------------------------------------------------------------------- descriptions


def test_interest_and_audit_postings_are_described_in_each_language(pw, licence):
    from django.utils import translation

    from fundapp.ledger.descriptions import transaction_descriptions
    from fundapp.ledger.models import Transaction

    label = rules.format_quarter(*target_quarter())
    royalty_overdue_run(today=days(0))
    report = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=label)
    royalty_audit_close(audit=audit, actor=pw.kr, finding_amount=5_000, note="Checked")
    rows = list(
        Transaction.objects.filter(
            reference__in=[f"royalty-interest:{report.pk}", f"royalty-audit:{audit.pk}"]
        ).order_by("reference")
    )
    assert len(rows) == 2
    expected = {
        "en": ("Royalty audit correction", "Late interest"),
        "ja": ("ロイヤルティ監査による訂正", "遅延利息"),
        "ko": ("로열티 감사에 따른 정정", "지연 이자"),
    }
    for language, (audit_text, interest_text) in expected.items():
        with translation.override(language):
            described = transaction_descriptions(rows)
        audit_row, interest_row = rows
        assert audit_text in described[audit_row.pk]
        assert interest_text in described[interest_row.pk]
        assert licence.reference in described[interest_row.pk]


def test_the_daily_task_counts_days_in_asia_tokyo(pw, licence, monkeypatch):
    """23:30 in Tokyo on the 44th day after the quarter is still on time; 00:30 on the 45th
    (15:30 UTC the evening before) is overdue."""
    from datetime import UTC, datetime, time

    from django.utils import timezone

    from ip_licensing.tasks import royalty_overdue_reports

    q = target_quarter()
    label = rules.format_quarter(*q)
    day_44 = royalty_rules.report_deadline(q)
    royalty_overdue_run(today=day_44 - timedelta(days=1))  # the period, reminded at 30 days

    def at(utc: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: utc)

    at(datetime.combine(day_44, time(14, 30), tzinfo=UTC))  # 23:30 JST, day 44
    royalty_overdue_reports()
    assert RoyaltyPeriod.objects.get(licence=licence, quarter=label).state == "due"
    at(datetime.combine(day_44, time(15, 30), tzinfo=UTC))  # 00:30 JST, day 45
    royalty_overdue_reports()
    assert RoyaltyPeriod.objects.get(licence=licence, quarter=label).state == "overdue"


# --------------------------------------------------------------------------- late interest by
# the dates alone


def test_a_report_filed_late_pays_interest_though_the_job_never_ran(pw, licence):
    """The daily job never marked the quarter overdue (it did not run): the interest
    depends on the deadline and the filing day only, and is posted once."""
    q = target_quarter()
    label = rules.format_quarter(*q)
    assert not RoyaltyPeriod.objects.filter(licence=licence).exists()
    report = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    late = (days(0) - royalty_rules.report_deadline(q)).days
    expected = royalty_rules.late_interest(350_000, Decimal("0.08"), late)
    assert late > 0 and expected > 0
    assert (report.late_days, report.late_interest) == (late, expected)
    assert report.interest_transaction is not None
    assert report.interest_transaction.reference == f"royalty-interest:{report.pk}"
    assert Transaction.objects.filter(reference__startswith="royalty-interest:").count() == 1
    assert account_balance(f"licensee:{pw.licensee.pk}:JPY") == -(350_000 + expected)
    assert RoyaltyPeriod.objects.get(licence=licence, quarter=label).state == "reported"
    # The job running afterwards neither reminds of the quarter nor posts anything more.
    royalty_overdue_run(today=days(0))
    period = RoyaltyPeriod.objects.get(licence=licence, quarter=label)
    assert period.state == "reported"
    assert not OutboxEvent.objects.filter(kind="royalty.overdue", object_id=str(period.pk)).exists()
    assert Transaction.objects.filter(reference__startswith="royalty-interest:").count() == 1
    assert_ledger_clean()


def test_a_report_filed_late_after_the_job_ran_too_early_pays_interest(pw, licence):
    """The job last ran on the deadline (the quarter only ``due``), then not again."""
    q = target_quarter()
    label = rules.format_quarter(*q)
    royalty_overdue_run(today=royalty_rules.report_deadline(q))
    assert RoyaltyPeriod.objects.get(licence=licence, quarter=label).state == "due"
    report = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    late = (days(0) - royalty_rules.report_deadline(q)).days
    assert (report.late_days, report.late_interest) == (
        late,
        royalty_rules.late_interest(350_000, Decimal("0.08"), late),
    )
    assert report.late_interest > 0


def test_a_late_correction_pays_interest_on_the_difference_only(pw, licence):
    q = target_quarter()
    label = rules.format_quarter(*q)
    first = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=10_000_000
    )
    higher = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=12_000_000
    )
    late = (days(0) - royalty_rules.report_deadline(q)).days
    assert higher.late_interest == royalty_rules.late_interest(70_000, Decimal("0.08"), late)
    assert higher.interest_transaction is not None
    assert higher.interest_transaction.reference == f"royalty-interest:{higher.pk}"
    lower = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=label, net_sales=11_000_000
    )
    assert (lower.late_interest, lower.interest_transaction) == (0, None)
    references = sorted(
        Transaction.objects.filter(reference__startswith="royalty-interest:").values_list(
            "reference", flat=True
        )
    )
    assert references == sorted([f"royalty-interest:{first.pk}", f"royalty-interest:{higher.pk}"])
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("hour_utc", "minute_utc", "expected_days"),
    [
        (14, 59, 0),  # 23:59 JST on the deadline: on time
        (15, 0, 1),  # 00:00 JST the day after: one day late
    ],
)
def test_the_days_late_are_asia_tokyo_days(
    pw, licence, monkeypatch, hour_utc, minute_utc, expected_days
):
    from datetime import UTC, datetime, time

    from django.utils import timezone

    q = target_quarter()
    deadline = royalty_rules.report_deadline(q)
    filed = datetime.combine(deadline, time(hour_utc, minute_utc), tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: filed)
    report = royalty_report_submit(
        licence=licence,
        actor=pw.office_licensee,
        quarter=rules.format_quarter(*q),
        net_sales=10_000_000,
    )
    assert report.late_days == expected_days
    assert report.late_interest == royalty_rules.late_interest(
        350_000, Decimal("0.08"), expected_days
    )
    assert (report.interest_transaction is not None) == bool(expected_days)


# --------------------------------------------------------------------------- a job that missed
# days


def test_a_job_that_missed_days_catches_up_with_each_reminder_once(pw, licence):
    """The machine was down on the 30th and the 45th day: the next run sends the missed
    reminder, and the overdue day recorded is the day after the deadline, not the run's."""
    q = target_quarter()
    label = rules.format_quarter(*q)
    end = royalty_rules.quarter_end(q)

    reminded = royalty_overdue_run(today=end + timedelta(days=35))
    period = RoyaltyPeriod.objects.get(licence=licence, quarter=label)
    assert (reminded["30"], period.state) == ([period.pk], "due")
    assert royalty_overdue_run(today=end + timedelta(days=36)) == {"30": [], "45": []}

    moved = royalty_overdue_run(today=end + timedelta(days=52))
    assert moved["45"] == [period.pk]
    period.refresh_from_db()
    assert (period.state, period.overdue_on) == ("overdue", end + timedelta(days=45))
    assert royalty_overdue_run(today=end + timedelta(days=53)) == {"30": [], "45": []}
    events = OutboxEvent.objects.filter(kind="royalty.overdue", object_id=str(period.pk))
    assert sorted(e.payload["state"] for e in events) == ["due", "overdue"]
    overdue_event = events.get(payload__state="overdue")
    assert overdue_event.payload["overdue_on"] == (end + timedelta(days=45)).isoformat()
    assert (
        Notification.objects.filter(
            user=pw.office_jp, message="royalty.overdue", params__quarter=label
        ).count()
        == 1
    )


def test_a_quarter_first_seen_after_its_deadline_is_overdue_from_the_true_day(pw, licence):
    q = target_quarter()
    label = rules.format_quarter(*q)
    end = royalty_rules.quarter_end(q)
    royalty_overdue_run(today=end + timedelta(days=60))
    period = RoyaltyPeriod.objects.get(licence=licence, quarter=label)
    assert (period.state, period.overdue_on) == ("overdue", end + timedelta(days=45))
    assert royalty_overdue_run(today=end + timedelta(days=61)) == {"30": [], "45": []}
    assert OutboxEvent.objects.filter(kind="royalty.overdue", object_id=str(period.pk)).count() == 1
