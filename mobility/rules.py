"""Pure rules of the talent exchange (§25): plain values in, plain values out, no ORM."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Final

MOBILITY_COUNTRIES: Final = ("JP", "KR", "US")

_SIDE_CURRENCY: Final = {"JP": "JPY", "KR": "KRW"}


@dataclass(frozen=True)
class PayingSide:
    """Who pays a visit: the fund's ``side`` (``JP`` or ``KR``) in its ``currency``, to
    the host organisation (``payee_is_host``) or else to the visitor's home organisation."""

    side: str
    currency: str
    payee_is_host: bool


def paying_side(home_country: str, host_country: str) -> PayingSide:
    """§25: the host's side pays a visit hosted in Japan or Korea, to the host; a visit
    hosted in the US is paid by the visitor's home side, to the home organisation.

    Raises ``ValueError`` for a country outside JP/KR/US, for a visit within one country
    and for a US-to-US visit (no side of the fund is involved)."""
    for country in (home_country, host_country):
        if country not in MOBILITY_COUNTRIES:
            raise ValueError(f"not a mobility country: {country!r}")
    if home_country == host_country:
        raise ValueError("a visit goes to another country")
    if host_country in _SIDE_CURRENCY:
        return PayingSide(host_country, _SIDE_CURRENCY[host_country], payee_is_host=True)
    # Hosted in the US: the home side (JP or KR, since the home is not the US) pays.
    return PayingSide(home_country, _SIDE_CURRENCY[home_country], payee_is_host=False)


def add_months(day: date, months: int) -> date:
    """``day`` moved ``months`` calendar months on; a day the target month lacks becomes
    its last day (31 January + 1 month is 28 or 29 February)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def stipend_due_on(arrived_on: date, month: int) -> date:
    """§25, paid in advance: month ``k`` of a visit is due at the start of its visit-month,
    ``arrived_on + (k − 1)`` months; month 1 on the arrival day."""
    if month < 1:
        raise ValueError("visit months count from 1")
    return add_months(arrived_on, month - 1)


def stipend_months_due(*, arrived_on: date, months: int, until: date) -> list[int]:
    """The months (1..``months``) due on or before ``until``: what the daily job pays by
    then, and what a visit that ends on ``until`` keeps (the visitor was there on the
    first day of each of them)."""
    return [k for k in range(1, months + 1) if stipend_due_on(arrived_on, k) <= until]
