"""The pure rules of multi-asset licences and royalty integrity (§23)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_licensing import royalty_rules, rules


@st.composite
def tables(draw) -> list[tuple[int, int]]:
    """A return-allocation table of 1–6 organisations summing to 10,000."""
    count = draw(st.integers(min_value=1, max_value=6))
    org_ids = draw(st.lists(st.integers(1, 40), min_size=count, max_size=count, unique=True))
    weights = draw(st.lists(st.integers(0, 1000), min_size=count, max_size=count))
    if sum(weights) == 0:
        weights[0] = 1
    from fundapp.ledger.rules import largest_remainder_split

    return list(zip(org_ids, largest_remainder_split(10_000, weights), strict=True))


@st.composite
def licences(draw) -> list[royalty_rules.AssetTable]:
    """1–5 assets with random shares (1 bp at least each) and random tables."""
    count = draw(st.integers(min_value=1, max_value=5))
    weights = draw(st.lists(st.integers(1, 1000), min_size=count, max_size=count))
    from fundapp.ledger.rules import largest_remainder_split

    shares = largest_remainder_split(10_000 - count, weights)
    return [(share + 1, draw(tables())) for share in shares]


@settings(max_examples=300, deadline=None)
@given(
    royalty=st.integers(min_value=0, max_value=10**15),
    fund_share_bp=st.integers(min_value=0, max_value=10_000),
    assets=licences(),
)
def test_multi_asset_split_always_sums_exactly_to_the_royalty(royalty, fund_share_bp, assets):
    fund_part, parts = royalty_rules.multi_asset_split(royalty, fund_share_bp, assets)
    assert fund_part + sum(amount for _org, amount in parts) == royalty
    assert all(amount >= 0 for _org, amount in parts)
    assert len({org for org, _amount in parts}) == len(parts)
    # The fund's part is exactly the one-asset rule's.
    assert fund_part == rules.royalty_split(royalty, fund_share_bp, [(0, 10_000)])[0]


@settings(max_examples=200, deadline=None)
@given(
    royalty=st.integers(min_value=0, max_value=10**12),
    fund_share_bp=st.integers(min_value=0, max_value=10_000),
    table=tables(),
)
def test_one_asset_splits_as_royalty_split(royalty, fund_share_bp, table):
    assert royalty_rules.multi_asset_split(
        royalty, fund_share_bp, [(10_000, table)]
    ) == rules.royalty_split(royalty, fund_share_bp, table)


def test_each_asset_part_follows_its_own_table():
    # 1,000,000: fund 10 % = 100,000; 900,000 by 7,000/3,000 = 630,000 and 270,000;
    # asset A's by 60/40 over orgs 1, 2; asset B's all to org 3.
    fund, parts = royalty_rules.multi_asset_split(
        1_000_000, 1000, [(7000, [(1, 6000), (2, 4000)]), (3000, [(3, 10_000)])]
    )
    assert (fund, parts) == (100_000, [(1, 378_000), (2, 252_000), (3, 270_000)])


@pytest.mark.parametrize(
    ("count", "shares"),
    [(1, [10_000]), (2, [5000, 5000]), (3, [3334, 3333, 3333]), (7, [1429] * 4 + [1428] * 3)],
)
def test_equal_shares_give_the_remainder_to_the_first(count, shares):
    assert royalty_rules.equal_shares(count) == shares
    assert sum(shares) == 10_000


def test_shares_problems():
    assert royalty_rules.shares_problem([5000, 5000]) is None
    assert royalty_rules.shares_problem([5000, 4999]) == "share_sum"
    assert royalty_rules.shares_problem([10_000, 0]) == "share_range"


def test_deadlines_of_a_quarter():
    q3 = (2026, 3)
    assert royalty_rules.reminder_day(q3) == date(2026, 10, 30)
    assert royalty_rules.report_deadline(q3) == date(2026, 11, 13)
    assert royalty_rules.overdue_day(q3) == date(2026, 11, 14)
    assert royalty_rules.days_late(date(2026, 11, 13), date(2026, 11, 13)) == 0
    assert royalty_rules.days_late(date(2026, 11, 13), date(2026, 11, 14)) == 1


def test_late_interest_is_simple_daily_and_rounded_down():
    # 1,000,000 × 8 % × 30 / 365 = 6,575.34… → 6,575
    assert royalty_rules.late_interest(1_000_000, Decimal("0.08"), 30) == 6575
    assert royalty_rules.late_interest(1_000_000, Decimal("0.08"), 0) == 0
    assert royalty_rules.late_interest(-5, Decimal("0.08"), 30) == 0
    # 365 days at 8 % is exactly 8 %.
    assert royalty_rules.late_interest(1_000_000, Decimal("0.08"), 365) == 80_000


def test_sales_anomaly_is_more_than_half_below_the_mean():
    assert royalty_rules.quarters_before((2026, 2)) == ["2026-Q1", "2025-Q4", "2025-Q3", "2025-Q2"]
    assert royalty_rules.sales_anomaly(49, [100, 100]) is True
    assert royalty_rules.sales_anomaly(50, [100, 100]) is False  # exactly half: not "more"
    assert royalty_rules.sales_anomaly(0, []) is False  # nothing to compare with


def test_quarters_between():
    assert royalty_rules.quarters_between(date(2026, 2, 10), date(2026, 7, 1)) == [
        (2026, 1),
        (2026, 2),
        (2026, 3),
    ]
