"""Pure ledger rules: account codes, leg normalisation and integer splitting (§9, §8, §10.5).

No ORM here: plain functions of plain values, tested exhaustively with Hypothesis.

Account codes (§9) name what an account is for; the ledger itself never looks behind them:

=================================  ========  =====================================
code                               kind      meaning
=================================  ========  =====================================
``agency:{side}``                  external  a side's funding agency (source)
``fund:{side}:pool``               internal  uncommitted money of that side
``fund:{side}:reserve``            internal  performance reserve of that side
``project:{id}:{side}:committed``  internal  committed to a project, not released
``visit:{id}:{side}:committed``    internal  committed to a visit (§25), not released
``org:{id}:{ccy}:payable``         internal  released to an organisation, not paid
``org:{id}:{ccy}:paid``            external  confirmed paid (sink)
``licensee:{id}:{ccy}``            external  a licensee paying royalties (source)
=================================  ========  =====================================

External accounts stand for the world outside the fund and may run negative; internal
accounts hold the fund's money and never go below zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from fundapp.money import MAX_AMOUNT

CURRENCIES: Final = ("JPY", "KRW")
SIDES: Final = ("JP", "KR")
SIDE_CURRENCY: Final = {"JP": "JPY", "KR": "KRW"}

INTERNAL: Final = "internal"
EXTERNAL: Final = "external"
ACCOUNT_KINDS: Final = (INTERNAL, EXTERNAL)

BASIS_POINTS_WHOLE: Final = 10_000
MAX_CODE_LENGTH: Final = 100

_ID = r"[1-9][0-9]{0,17}"
_SIDE = "|".join(SIDES)
_CCY = "|".join(CURRENCIES)
# family -> (pattern, kind). Ids are positive integers without leading zeros so that one
# account has exactly one spelling.
_CODE_PATTERNS: Final = {
    "agency": (re.compile(rf"agency:(?P<side>{_SIDE})"), EXTERNAL),
    "fund_pool": (re.compile(rf"fund:(?P<side>{_SIDE}):pool"), INTERNAL),
    "fund_reserve": (re.compile(rf"fund:(?P<side>{_SIDE}):reserve"), INTERNAL),
    "project_committed": (
        re.compile(rf"project:(?P<id>{_ID}):(?P<side>{_SIDE}):committed"),
        INTERNAL,
    ),
    "visit_committed": (
        re.compile(rf"visit:(?P<id>{_ID}):(?P<side>{_SIDE}):committed"),
        INTERNAL,
    ),
    "org_payable": (re.compile(rf"org:(?P<id>{_ID}):(?P<ccy>{_CCY}):payable"), INTERNAL),
    "org_paid": (re.compile(rf"org:(?P<id>{_ID}):(?P<ccy>{_CCY}):paid"), EXTERNAL),
    "licensee": (re.compile(rf"licensee:(?P<id>{_ID}):(?P<ccy>{_CCY})"), EXTERNAL),
}


@dataclass(frozen=True)
class AccountCode:
    """A parsed account code."""

    code: str
    family: str
    kind: str
    side: str | None = None
    currency: str | None = None  # only codes that spell their currency (org, licensee)
    owner_id: int | None = None


def parse_account_code(code: str) -> AccountCode:
    """Parse ``code``; ``ValueError`` if it is not one of the §9 account families."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        raise ValueError(f"not an account code: {code!r}")
    for family, (pattern, kind) in _CODE_PATTERNS.items():
        match = pattern.fullmatch(code)
        if match:
            parts = match.groupdict()
            return AccountCode(
                code=code,
                family=family,
                kind=kind,
                side=parts.get("side"),
                currency=parts.get("ccy"),
                owner_id=int(parts["id"]) if parts.get("id") else None,
            )
    raise ValueError(f"not an account code: {code!r}")


def account_kind(code: str) -> str:
    """``internal`` or ``external``, decided by the code alone."""
    return parse_account_code(code).kind


def _side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}")
    return side


def _currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise ValueError(f"unknown currency {currency!r}")
    return currency


def _owner(owner_id: int) -> int:
    if isinstance(owner_id, bool) or not isinstance(owner_id, int) or owner_id <= 0:
        raise ValueError(f"not a positive id: {owner_id!r}")
    return owner_id


def account_code_agency(side: str) -> str:
    return f"agency:{_side(side)}"


def account_code_fund_pool(side: str) -> str:
    return f"fund:{_side(side)}:pool"


def account_code_fund_reserve(side: str) -> str:
    return f"fund:{_side(side)}:reserve"


def account_code_project_committed(project_id: int, side: str) -> str:
    return f"project:{_owner(project_id)}:{_side(side)}:committed"


def account_code_visit_committed(visit_id: int, side: str) -> str:
    return f"visit:{_owner(visit_id)}:{_side(side)}:committed"


def account_code_org_payable(org_id: int, currency: str) -> str:
    return f"org:{_owner(org_id)}:{_currency(currency)}:payable"


def account_code_org_paid(org_id: int, currency: str) -> str:
    return f"org:{_owner(org_id)}:{_currency(currency)}:paid"


def account_code_licensee(licensee_id: int, currency: str) -> str:
    return f"licensee:{_owner(licensee_id)}:{_currency(currency)}"


_FAMILY_NAMES: Final = {
    "agency": "Agency {side}",
    "fund_pool": "Fund pool {side}",
    "fund_reserve": "Performance reserve {side}",
    "project_committed": "Project {owner_id} committed {side}",
    "visit_committed": "Visit {owner_id} committed {side}",
    "org_payable": "Organisation {owner_id} payable {currency}",
    "org_paid": "Organisation {owner_id} paid {currency}",
    "licensee": "Licensee {owner_id} {currency}",
}


def account_default_name(code: str) -> str:
    parsed = parse_account_code(code)
    return _FAMILY_NAMES[parsed.family].format(
        side=parsed.side, currency=parsed.currency, owner_id=parsed.owner_id
    )


class LegError(ValueError):
    """Legs that cannot form a transaction; ``field`` says which part is wrong."""

    def __init__(self, message: str, *, field: str = "legs"):
        super().__init__(message)
        self.field = field


def normalise_legs(legs: object, *, currency: str) -> list[tuple[str, int]]:
    """Check legs and merge them into one signed amount per account.

    Returns ``[(code, amount), ...]`` in order of each code's first appearance. Raises
    ``LegError`` unless every leg is ``(well-formed code, int ≠ 0, |amount| ≤ 10¹⁵)``, codes
    that spell a currency spell ``currency``, the legs sum to exactly zero, and at least two
    accounts are left with a non-zero amount after merging.
    """
    if currency not in CURRENCIES:
        raise LegError(f"unknown currency {currency!r}", field="currency")
    if not isinstance(legs, list | tuple) or not legs:
        raise LegError("a transaction needs legs")
    merged: dict[str, int] = {}
    for index, leg in enumerate(legs):
        if not isinstance(leg, list | tuple) or len(leg) != 2:
            raise LegError(f"leg {index} is not a (code, amount) pair")
        code, amount = leg
        try:
            parsed = parse_account_code(code)
        except ValueError as exc:
            raise LegError(f"leg {index}: {exc}") from None
        if parsed.currency is not None and parsed.currency != currency:
            raise LegError(f"leg {index}: account {code} is in {parsed.currency}, not {currency}")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LegError(f"leg {index}: amount must be a whole number of {currency}")
        if amount == 0:
            raise LegError(f"leg {index}: amount must not be zero")
        if abs(amount) > MAX_AMOUNT:
            raise LegError(f"leg {index}: amount exceeds {MAX_AMOUNT}")
        merged[code] = merged.get(code, 0) + amount
    total = sum(merged.values())
    if total != 0:
        raise LegError(f"legs do not balance: they sum to {total}, not 0")
    result = [(code, amount) for code, amount in merged.items() if amount != 0]
    if len(result) < 2:
        raise LegError("legs cancel out: nothing moves")
    for code, amount in result:
        if abs(amount) > MAX_AMOUNT:
            raise LegError(f"account {code}: merged amount exceeds {MAX_AMOUNT}")
    return result


def legs_key(legs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The order-free identity of a set of merged legs, for idempotency comparisons."""
    return sorted(legs)


def largest_remainder_split(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder).

    The parts sum exactly to ``total``; each is the floor of its exact share, plus one for
    the items with the largest fractional remainders until the total is reached; equal
    remainders go to the item listed first. Zero weights get 0. ``ValueError`` for a
    negative total or weight, no weights, or all weights zero.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError("total must be a non-negative integer")
    if not weights:
        raise ValueError("at least one weight is needed")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ValueError("weights must be non-negative integers")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    quotients: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        quotient, remainder = divmod(total * weight, weight_sum)
        quotients.append(quotient)
        remainders.append(remainder)
    left = total - sum(quotients)
    # Python's sort is stable, so among equal remainders the earlier item comes first.
    for index in sorted(range(len(weights)), key=lambda i: -remainders[i])[:left]:
        quotients[index] += 1
    return quotients


def split_by_basis_points(total: int, basis_points: list[int]) -> list[int]:
    """Split ``total`` by a table of basis points summing to 10,000 (§10.5)."""
    if sum(basis_points) != BASIS_POINTS_WHOLE:
        raise ValueError("basis points must sum to 10,000")
    return largest_remainder_split(total, basis_points)
