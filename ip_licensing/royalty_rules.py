"""Pure rules of multi-asset licences and royalty integrity (§23). No ORM, no clock: plain
functions of plain values, tested exhaustively (Hypothesis).

Decisions this module makes (and the tests pin):

* **Asset shares** are basis points summing to exactly 10,000. By default the assets of a
  licence share equally, the remainder by largest remainder: one more basis point each to
  the assets listed first (the services list them by ascending asset id).
* **Multi-asset split**: the fund's share first, of the whole royalty (exactly as for one
  asset, §10.5); the rest over the assets by their shares (largest remainder); each
  asset's part over its own table (largest remainder). Ties go to the item listed first at
  every level. An organisation paid through several assets gets the sum of its parts, in
  the order it first appears. The parts always sum exactly to the royalty.
* **Deadlines**: a quarter's report (and its royalty) is on time up to the 44th day after
  the quarter ends (``report_deadline``); on the 45th day (``overdue_day``) it is overdue,
  and the first reminder goes out on the 30th day (``reminder_day``). For 2026-Q3 (ending
  30 September): reminder on 30 October, due by 13 November, overdue from 14 November.
  Days are Asia/Tokyo dates.
* **Late interest**: simple interest, ``floor(amount × annual rate × days late / 365)``
  (actual days over a 365-day year, rounded down to a whole yen or won), on a positive
  amount only.
* **Anomaly**: net sales more than 50% below the mean of the quarters reported among the
  four before (at least one of them reported): ``net_sales < mean / 2``, compared exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Final

from fundapp.ledger.rules import BASIS_POINTS_WHOLE, largest_remainder_split
from ip_licensing.rules import quarter_bounds, royalty_split

REMINDER_DAYS: Final = 30
DEADLINE_DAYS: Final = 45
TRAILING_QUARTERS: Final = 4
DAYS_PER_YEAR: Final = 365
DEFAULT_LATE_INTEREST_RATE: Final = Decimal("0.08")

# One asset's part of a licence: its share in basis points and its allocation table.
AssetTable = tuple[int, Sequence[tuple[int, int]]]


# -- asset shares --------------------------------------------------------------------------


def equal_shares(count: int) -> list[int]:
    """``count`` shares in basis points summing to 10,000, equal but for the remainder,
    which goes one basis point each to the first ones."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    if count > BASIS_POINTS_WHOLE:
        raise ValueError("at most 10,000 assets can share a licence")
    return largest_remainder_split(BASIS_POINTS_WHOLE, [1] * count)


def shares_problem(shares: Sequence[int]) -> str | None:
    """Why these shares cannot be a licence's (a code), or ``None``: each a whole number of
    basis points from 1 to 10,000 (``share_range``), all summing to 10,000 (``share_sum``)."""
    for share in shares:
        if isinstance(share, bool) or not isinstance(share, int):
            return "share_range"
        if not 1 <= share <= BASIS_POINTS_WHOLE:
            return "share_range"
    if sum(shares) != BASIS_POINTS_WHOLE:
        return "share_sum"
    return None


# -- the split -----------------------------------------------------------------------------


def multi_asset_split(
    royalty: int, fund_share_bp: int, assets: Sequence[AssetTable]
) -> tuple[int, list[tuple[int, int]]]:
    """Split a royalty of a licence of several assets (§23).

    ``assets`` is ``[(share_bp, table), ...]``: the shares sum to 10,000, each table is
    ``[(organisation_id, basis_points), ...]`` summing to 10,000. Returns ``(fund_part,
    [(organisation_id, amount), ...])`` summing exactly to ``royalty``; organisations in
    the order they first appear. With one asset this is :func:`rules.royalty_split`.
    """
    if not assets:
        raise ValueError("a licence has at least one asset")
    shares = [share for share, _table in assets]
    if shares_problem(shares) is not None:
        raise ValueError("asset shares must be 1 to 10,000 basis points summing to 10,000")
    # The fund's part of the whole royalty, exactly as royalty_split takes it.
    fund_part, _parts = royalty_split(royalty, fund_share_bp, [(0, BASIS_POINTS_WHOLE)])
    rest = royalty - fund_part
    per_asset = largest_remainder_split(rest, shares)
    totals: dict[int, int] = {}
    for amount, (_share, table) in zip(per_asset, assets, strict=True):
        _none, parts = royalty_split(amount, 0, table)
        for org_id, part in parts:
            totals[org_id] = totals.get(org_id, 0) + part
    return fund_part, list(totals.items())


# -- deadlines, interest, anomalies ---------------------------------------------------------


def quarter_end(quarter: tuple[int, int]) -> date:
    return quarter_bounds(*quarter)[1]


def overdue_day(quarter: tuple[int, int]) -> date:
    """The day a quarter without a report becomes overdue: 45 days after it ends."""
    return quarter_end(quarter) + timedelta(days=DEADLINE_DAYS)


def report_deadline(quarter: tuple[int, int]) -> date:
    """The last day a quarter's report (and its royalty) is on time."""
    return overdue_day(quarter) - timedelta(days=1)


def reminder_day(quarter: tuple[int, int]) -> date:
    """The day of the first reminder: 30 days after the quarter ends."""
    return quarter_end(quarter) + timedelta(days=REMINDER_DAYS)


def days_late(deadline: date, paid_on: date) -> int:
    """Whole days after the deadline (0 on or before it)."""
    return max(0, (paid_on - deadline).days)


def late_interest(amount: int, annual_rate: Decimal, days: int) -> int:
    """Simple interest on ``amount`` for ``days`` days: ``floor(amount × rate × days /
    365)``; nothing on an amount that is not positive or for no days."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError("amount must be a whole number")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError("days must be a non-negative whole number")
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite() or annual_rate < 0:
        raise ValueError("annual_rate must be a non-negative Decimal")
    if amount <= 0 or days == 0:
        return 0
    exact = Fraction(amount) * Fraction(annual_rate) * days / DAYS_PER_YEAR
    return exact.numerator // exact.denominator  # floor


def quarters_before(quarter: tuple[int, int], count: int = TRAILING_QUARTERS) -> list[str]:
    """The ``count`` quarters before ``quarter`` as ``YYYY-Qn``, most recent first."""
    year, number = quarter
    found = []
    for _step in range(count):
        number -= 1
        if number == 0:
            year, number = year - 1, 4
        found.append(f"{year:04d}-Q{number}")
    return found


def trailing_mean(previous_net_sales: Sequence[int]) -> Fraction | None:
    """The mean of the previous quarters' net sales, or ``None`` with none reported."""
    if not previous_net_sales:
        return None
    return Fraction(sum(previous_net_sales), len(previous_net_sales))


def sales_anomaly(net_sales: int, previous_net_sales: Sequence[int]) -> bool:
    """Net sales more than 50% below the trailing mean (exactly: ``net_sales < mean / 2``)."""
    mean = trailing_mean(previous_net_sales)
    return mean is not None and Fraction(net_sales) < mean / 2


def quarters_between(first: date, last: date) -> list[tuple[int, int]]:
    """The calendar quarters that overlap ``first``..``last`` (inclusive), in order."""
    if last < first:
        return []
    found: list[tuple[int, int]] = []
    year, number = first.year, (first.month - 1) // 3 + 1
    while True:
        start, _end = quarter_bounds(year, number)
        if start > last:
            return found
        found.append((year, number))
        number += 1
        if number == 5:
            year, number = year + 1, 1
