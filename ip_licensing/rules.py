"""Pure rules of IP licensing (§10): coverage, licence terms, the licence check, royalties.

No ORM here: plain functions of plain values, so they can be tested exhaustively
(Hypothesis) and benchmarked. Services load rows, turn them into the values below and act
on the answers; nothing here reads a clock, a setting or the database.

Decisions this module makes (and the tests pin):

* **Fields of use** are dotted research-area codes. ``semiconductor.ai`` covers itself
  and every code below it (``semiconductor.ai.edge``), never a sibling that merely
  shares a prefix (``semiconductor.aix``) nor its parent (``semiconductor``).
* **Territories** are ISO alpha-2 codes; ``WW`` covers every code (and is the only thing
  that covers a use asked about for ``WW``).
* **Terms** are inclusive at both ends, in Asia/Tokyo dates (:func:`today_in_tokyo`).
* **Longest term**: a licence of at most *N* years may end on the day before the *N*-th
  anniversary of its start at the latest (2026-01-01 + 5 years → 2030-12-31). The
  anniversary of 29 February in a common year is 1 March, so a licence starting
  2024-02-29 may end on 2029-02-28 (the last day of February), as the Japanese Civil Code
  art. 143(2) and the Korean Civil Act art. 160 count periods of years.
* **Licence check**: an ``approved`` licence whose term includes the day is treated like an
  ``active`` one (activation by the daily job is bookkeeping; the licence was granted for
  that day). ``draft`` and ``pending`` licences are not licences yet: they are ignored, so
  a licensee with only drafts gets ``no_licence``. The state is the licence's current
  state, so an ``expired``, ``terminated`` or ``suspended`` licence denies whatever day is
  asked about.
* **Royalties** are rounded once, with names: the percentage royalty is
  ``round_half_up`` to a whole yen/won, the quarterly minimum is ``floor(minimum / 4)``,
  the fund's share is the largest-remainder split of the royalty over
  ``[fund_share_bp, 10,000 − fund_share_bp]`` (which equals ``round_half_up`` of the share)
  and the rest is split over the allocation table by largest remainder, ties to the
  organisation listed first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Final, NamedTuple

from fundapp.kernel.calendar import FUND_TIMEZONE, tokyo_date
from fundapp.ledger.rules import (
    BASIS_POINTS_WHOLE,
    CURRENCIES,
    largest_remainder_split,
    split_by_basis_points,
)
from fundapp.money import MAX_AMOUNT

# -- vocabulary --------------------------------------------------------------------------

PURPOSES: Final = ("research", "development", "manufacturing", "sale", "internal_use")
WORLDWIDE: Final = "WW"

EXCLUSIVITIES: Final = ("non_exclusive", "exclusive")
STATES: Final = ("draft", "pending", "approved", "active", "expired", "terminated", "suspended")

# The order in which deny reasons are reported (§10.4).
NO_LICENCE: Final = "no_licence"
NOT_STARTED: Final = "not_started"
EXPIRED: Final = "expired"
SUSPENDED: Final = "suspended"
TERMINATED: Final = "terminated"
FIELD_NOT_COVERED: Final = "field_not_covered"
PURPOSE_NOT_COVERED: Final = "purpose_not_covered"
TERRITORY_NOT_COVERED: Final = "territory_not_covered"
# §23: a use asked about as exclusive (``exclusive: true``) of a licence that lost its
# exclusivity by a diligence breach, from the day it was converted; of a licence that was
# never exclusive.
DILIGENCE_BREACH: Final = "diligence_breach"
NOT_EXCLUSIVE: Final = "not_exclusive"
# A sublicence allows only where its parent allows too (§23): why the parent does not.
PARENT_EXPIRED: Final = "parent_expired"
PARENT_SUSPENDED: Final = "parent_suspended"
PARENT_TERMINATED: Final = "parent_terminated"
PARENT_DENIED: Final = "parent_denied"  # any other reason of the parent's
REASONS: Final = (
    NO_LICENCE,
    NOT_STARTED,
    EXPIRED,
    SUSPENDED,
    TERMINATED,
    FIELD_NOT_COVERED,
    PURPOSE_NOT_COVERED,
    TERRITORY_NOT_COVERED,
    DILIGENCE_BREACH,
    NOT_EXCLUSIVE,
    PARENT_EXPIRED,
    PARENT_SUSPENDED,
    PARENT_TERMINATED,
    PARENT_DENIED,
)
_REASON_ORDER: Final = {code: index for index, code in enumerate(REASONS)}

ALLOW: Final = "allow"
DENY: Final = "deny"

DEFAULT_MAX_LICENCE_YEARS: Final = 5

# States in which a licence holds (or is about to hold) its field, territory and term
# against an exclusive licence; drafts were never agreed, expired and terminated ones are
# over.
CONFLICTING_STATES: Final = frozenset({"pending", "approved", "active", "suspended"})
# States the licence check looks at; drafts and pending licences do not grant anything yet.
# Of these, every state but approved and active is itself a deny reason, so a licence
# allows exactly when it fails for no reason at all.
_CHECKED_STATES: Final = frozenset({"approved", "active", "expired", "terminated", "suspended"})

# Same spelling as kernel.ResearchArea.code (not imported: rules stay free of models).
FIELD_CODE_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_TERRITORY_PATTERN: Final = re.compile(r"[A-Z]{2}")
_QUARTER_PATTERN: Final = re.compile(r"([1-9][0-9]{3})-Q([1-4])")

TOKYO: Final = FUND_TIMEZONE


# -- coverage ------------------------------------------------------------------------------


def field_covers(licence_field: str, used_field: str) -> bool:
    """Whether a licence for ``licence_field`` covers use in ``used_field`` (itself or below)."""
    return used_field == licence_field or used_field.startswith(licence_field + ".")


def fields_overlap(a: str, b: str) -> bool:
    """Either field covers the other (§10.2: the exclusivity test)."""
    return field_covers(a, b) or field_covers(b, a)


def any_fields_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """Some field of ``a`` overlaps some field of ``b``."""
    b = tuple(b)
    return any(fields_overlap(x, y) for x in a for y in b)


def territory_covers(licence_territories: Iterable[str], territory: str) -> bool:
    """Whether the licence's territories include ``territory``; ``WW`` includes every one."""
    territories = set(licence_territories)
    return WORLDWIDE in territories or territory in territories


def territories_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """Two sets of territories share a country; ``WW`` shares one with any non-empty set."""
    a_set, b_set = set(a), set(b)
    if not a_set or not b_set:
        return False
    return WORLDWIDE in a_set or WORLDWIDE in b_set or bool(a_set & b_set)


def terms_overlap(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    """Two inclusive date ranges share at least one day (adjacent terms do not)."""
    return a_start <= b_end and b_start <= a_end


# The Asia/Tokyo date of an aware datetime: the day licence terms are counted in.
today_in_tokyo = tokyo_date


# -- licence terms -------------------------------------------------------------------------


class TermsProblem(NamedTuple):
    """One thing wrong with proposed licence terms: the input field and a message code."""

    field: str
    code: str


def latest_end(start: date, years: int) -> date:
    """The last day a licence of at most ``years`` years starting on ``start`` may run to.

    The day before the ``years``-th anniversary of ``start``; the anniversary of 29 February
    in a common year is 1 March, so the latest end is then 28 February.
    """
    year = start.year + years
    if year > date.max.year:
        return date.max
    try:
        anniversary = start.replace(year=year)
    except ValueError:  # 29 February in a common year
        anniversary = date(year, 3, 1)
    return anniversary - timedelta(days=1)


def _is_amount(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_terms(
    *,
    fields: Sequence[str],
    purposes: Sequence[str],
    territories: Sequence[str],
    start: date | None,
    end: date | None,
    royalty_rate: Decimal | None,
    minimum_annual_royalty: int,
    upfront_fee: int,
    currency: str,
    max_licence_years: int = DEFAULT_MAX_LICENCE_YEARS,
) -> list[TermsProblem]:
    """Every problem with proposed licence terms (§10.2), in argument order; ``[]`` if none.

    Each problem names the keyword argument it is about and a stable message code:
    ``required``, ``invalid_field``, ``unknown_purpose``, ``invalid_territory``,
    ``end_before_start``, ``term_too_long``, ``rate_out_of_range``, ``not_an_amount``,
    ``negative``, ``too_large``, ``unknown_currency``. Services translate the codes.
    """
    problems: list[TermsProblem] = []

    def add(field: str, code: str) -> None:
        if TermsProblem(field, code) not in problems:
            problems.append(TermsProblem(field, code))

    if not fields:
        add("fields", "required")
    for code in fields:
        if not isinstance(code, str) or not FIELD_CODE_PATTERN.fullmatch(code):
            add("fields", "invalid_field")

    if not purposes:
        add("purposes", "required")
    for purpose in purposes:
        if purpose not in PURPOSES:
            add("purposes", "unknown_purpose")

    if not territories:
        add("territories", "required")
    for territory in territories:
        if not isinstance(territory, str) or not _TERRITORY_PATTERN.fullmatch(territory):
            add("territories", "invalid_territory")

    if start is None:
        add("start", "required")
    if end is None:
        add("end", "required")
    if start is not None and end is not None:
        if end < start:
            add("end", "end_before_start")
        elif end > latest_end(start, max_licence_years):
            add("end", "term_too_long")

    if royalty_rate is None:
        add("royalty_rate", "required")
    elif (
        not isinstance(royalty_rate, Decimal)
        or not royalty_rate.is_finite()
        or not Decimal(0) <= royalty_rate <= Decimal(1)
    ):
        add("royalty_rate", "rate_out_of_range")

    for name, amount in (
        ("minimum_annual_royalty", minimum_annual_royalty),
        ("upfront_fee", upfront_fee),
    ):
        if not _is_amount(amount):
            add(name, "not_an_amount")
        elif amount < 0:
            add(name, "negative")
        elif amount > MAX_AMOUNT:
            add(name, "too_large")

    if currency not in CURRENCIES:
        add("currency", "unknown_currency")
    return problems


@dataclass(frozen=True)
class LicenceTerms:
    """What the rules need to know of one licence for one asset.

    A licence of several assets is passed as one ``LicenceTerms`` per asset, all with the
    licence's id.
    """

    licence_id: int
    asset_id: int
    licensee_id: int
    fields: tuple[str, ...]
    purposes: tuple[str, ...]
    territories: tuple[str, ...]
    start: date
    end: date
    exclusivity: str = "non_exclusive"  # non_exclusive | exclusive
    state: str = "draft"  # one of STATES
    # The day from which an exclusive licence is non-exclusive after a diligence breach.
    exclusivity_lost_on: date | None = None
    # A sublicence's parent licence, for the same asset (§23); None for a licence.
    parent: LicenceTerms | None = None

    @property
    def is_exclusive(self) -> bool:
        return self.exclusivity == "exclusive"


def licences_overlap(a: LicenceTerms, b: LicenceTerms) -> bool:
    """Same asset, and overlapping in field, territory and time."""
    return (
        a.asset_id == b.asset_id
        and any_fields_overlap(a.fields, b.fields)
        and territories_overlap(a.territories, b.territories)
        and terms_overlap(a.start, a.end, b.start, b.end)
    )


def exclusive_conflicts(candidate: LicenceTerms, others: Iterable[LicenceTerms]) -> list[int]:
    """Ids (ascending, once each) of licences the candidate may not coexist with (§10.2).

    Another licence conflicts when it is of the same asset, is pending, approved, active or
    suspended, overlaps the candidate in field, territory and time, and either of the two
    is exclusive. The candidate's own licence id never conflicts with itself; the
    candidate's own state does not matter (it is the licence being decided).
    """
    conflicts = {
        other.licence_id
        for other in others
        if other.licence_id != candidate.licence_id
        and other.state in CONFLICTING_STATES
        and (candidate.is_exclusive or other.is_exclusive)
        and licences_overlap(candidate, other)
    }
    return sorted(conflicts)


# -- the licence check (§10.4) ---------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """The answer to one licence check: the licence is set only when the use is allowed."""

    decision: str  # allow | deny
    licence_id: int | None
    reasons: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW

    def as_contract(self) -> dict[str, object]:
        """The §21 ``licences/check`` result body: ``decision``, ``licence``, ``reasons``."""
        return {
            "decision": self.decision,
            "licence": self.licence_id,
            "reasons": list(self.reasons),
        }


def sort_reasons(reasons: Iterable[str]) -> tuple[str, ...]:
    """Reason codes once each, in the fixed order of :data:`REASONS`."""
    return tuple(sorted(set(reasons), key=_REASON_ORDER.__getitem__))


def exclusivity_failure(licence: LicenceTerms, on: date) -> str | None:
    """Why ``licence`` does not grant exclusivity on ``on``: ``diligence_breach`` from the
    day officers converted it to non-exclusive after a breach (before that day it was
    exclusive), ``not_exclusive`` if it never was; ``None`` if it does."""
    lost_on = licence.exclusivity_lost_on
    if lost_on is not None:
        return DILIGENCE_BREACH if on >= lost_on else None
    return None if licence.is_exclusive else NOT_EXCLUSIVE


def licence_failures(
    licence: LicenceTerms,
    *,
    purpose: str,
    field: str,
    territory: str,
    on: date,
    exclusive: bool = False,
) -> tuple[str, ...]:
    """Why ``licence`` does not allow this use on ``on`` (sorted); ``()`` if it allows it.
    ``exclusive``: the use needs the licence's exclusivity (§23)."""
    reasons: list[str] = []
    if exclusive:
        failure = exclusivity_failure(licence, on)
        if failure is not None:
            reasons.append(failure)
    if on < licence.start:
        reasons.append(NOT_STARTED)
    if on > licence.end or licence.state == "expired":
        reasons.append(EXPIRED)
    if licence.state == "suspended":
        reasons.append(SUSPENDED)
    if licence.state == "terminated":
        reasons.append(TERMINATED)
    if not any(field_covers(granted, field) for granted in licence.fields):
        reasons.append(FIELD_NOT_COVERED)
    if purpose not in licence.purposes:
        reasons.append(PURPOSE_NOT_COVERED)
    if not territory_covers(licence.territories, territory):
        reasons.append(TERRITORY_NOT_COVERED)
    if licence.parent is not None:
        reasons.extend(
            parent_reasons(licence.parent, purpose=purpose, field=field, territory=territory, on=on)
        )
    return sort_reasons(reasons)


_PARENT_REASON: Final = {
    EXPIRED: PARENT_EXPIRED,
    SUSPENDED: PARENT_SUSPENDED,
    TERMINATED: PARENT_TERMINATED,
}


def parent_reasons(
    parent: LicenceTerms, *, purpose: str, field: str, territory: str, on: date
) -> tuple[str, ...]:
    """Why a sublicence's parent does not allow this use on ``on`` (§23), as ``parent_*``
    codes: its expiry, suspension and termination by name, anything else (a parent never
    granted, or a use outside the parent's scope, which the grant refuses) as
    ``parent_denied``. ``()`` when the parent allows the use."""
    if parent.state not in _CHECKED_STATES:
        return (PARENT_DENIED,)
    failures = licence_failures(parent, purpose=purpose, field=field, territory=territory, on=on)
    return tuple(sorted({_PARENT_REASON.get(code, PARENT_DENIED) for code in failures}))


def check_use(
    *,
    licences: Iterable[LicenceTerms],
    licensee_id: int,
    asset_id: int,
    purpose: str,
    field: str,
    territory: str,
    on: date,
    exclusive: bool = False,
) -> CheckResult:
    """May ``licensee_id`` use ``asset_id`` for ``purpose`` in ``field`` and ``territory`` on ``on``?

    ``exclusive``: the use needs exclusivity (§23): only a licence exclusive on ``on``
    allows it; one converted to non-exclusive after a diligence breach fails with
    ``diligence_breach`` from the day of the conversion, one never exclusive with
    ``not_exclusive``.

    Deterministic whatever the order of ``licences``: looks only at that licensee's
    approved, active, expired, terminated and suspended licences of that asset. Allows with
    the lowest-id approved or active licence covering field, purpose and territory whose
    inclusive term contains ``on``. Otherwise denies with ``(no_licence,)`` if there is no
    such licence at all, else with the reasons of the closest licence: the one failing for
    the fewest reasons, ties to the lowest id.
    """
    evaluated = sorted(
        (
            licence_failures(
                licence,
                purpose=purpose,
                field=field,
                territory=territory,
                on=on,
                exclusive=exclusive,
            ),
            licence.licence_id,
        )
        for licence in licences
        if licence.asset_id == asset_id
        and licence.licensee_id == licensee_id
        and licence.state in _CHECKED_STATES
    )
    if not evaluated:
        return CheckResult(DENY, None, (NO_LICENCE,))
    allowing = [licence_id for reasons, licence_id in evaluated if not reasons]
    if allowing:
        return CheckResult(ALLOW, min(allowing), ())
    reasons, _ = min(evaluated, key=lambda item: (len(item[0]), item[1], item[0]))
    return CheckResult(DENY, None, reasons)


# -- sublicences (§23) ----------------------------------------------------------------------


class ScopeExcess(NamedTuple):
    """One thing of a proposed sublicence outside its parent licence: the input field, a
    stable code and the value that sticks out (a code, or a date as ISO text)."""

    field: str
    code: str
    value: str


def sublicence_scope_excess(
    *,
    parent_assets: Iterable[int],
    parent_fields: Iterable[str],
    parent_purposes: Iterable[str],
    parent_territories: Iterable[str],
    parent_start: date,
    parent_end: date,
    parent_exclusive: bool,
    assets: Iterable[int],
    fields: Iterable[str],
    purposes: Iterable[str],
    territories: Iterable[str],
    start: date | None,
    end: date | None,
    exclusive: bool,
) -> list[ScopeExcess]:
    """Everything of a sublicence that does not lie inside its parent (§23); ``[]`` if it
    all does. Codes: ``asset_not_in_parent``, ``field_not_in_parent`` (a field no parent
    field covers), ``purpose_not_in_parent``, ``territory_not_in_parent`` (``WW`` lies only
    inside ``WW``), ``starts_before_parent``, ``ends_after_parent`` and
    ``exclusive_under_non_exclusive`` (only an exclusive licensee can grant exclusivity).

    What it accepts lies inside: every use the sublicence covers on a day of its term, the
    parent covers on that day (pinned by a property test)."""
    excess: list[ScopeExcess] = []
    parent_asset_set = set(parent_assets)
    for asset_id in assets:
        if asset_id not in parent_asset_set:
            excess.append(ScopeExcess("assets", "asset_not_in_parent", str(asset_id)))
    granted = tuple(parent_fields)
    for code in fields:
        if not any(field_covers(parent_field, code) for parent_field in granted):
            excess.append(ScopeExcess("fields_of_use", "field_not_in_parent", code))
    parent_purpose_set = set(parent_purposes)
    for purpose in purposes:
        if purpose not in parent_purpose_set:
            excess.append(ScopeExcess("purposes", "purpose_not_in_parent", purpose))
    parent_territory_set = set(parent_territories)
    for territory in territories:
        inside = (
            WORLDWIDE in parent_territory_set
            if territory == WORLDWIDE
            else territory_covers(parent_territory_set, territory)
        )
        if not inside:
            excess.append(ScopeExcess("territories", "territory_not_in_parent", territory))
    if start is not None and start < parent_start:
        excess.append(ScopeExcess("start_on", "starts_before_parent", parent_start.isoformat()))
    if end is not None and end > parent_end:
        excess.append(ScopeExcess("end_on", "ends_after_parent", parent_end.isoformat()))
    if exclusive and not parent_exclusive:
        excess.append(ScopeExcess("exclusivity", "exclusive_under_non_exclusive", "exclusive"))
    return excess


def sublicence_due(income: int, share_bp: int) -> int:
    """The parent's share of a quarter's sublicence income (§23):
    ``round_half_up(income × share_bp / 10,000)``, exactly (no float)."""
    _non_negative_int(income, "income")
    if not _is_amount(share_bp) or not 0 <= share_bp <= BASIS_POINTS_WHOLE:
        raise ValueError("share_bp must be an integer from 0 to 10,000")
    return round_half_up(Fraction(income * share_bp, BASIS_POINTS_WHOLE))


# -- screening triggers (§11) ----------------------------------------------------------------

SCREENING_LICENSEE_ABROAD: Final = "licensee_outside_jp_kr"
SCREENING_CONTROLLED_FIELD: Final = "controlled_field"


def licence_screening_triggers(
    *, licensee_country: str, fields: Iterable[str], area_sensitivity: Mapping[str, str]
) -> tuple[str, ...]:
    """Why a licence needs research-security screening (§11); ``()`` if it does not.

    ``area_sensitivity`` maps research-area codes to ``normal`` | ``sensitive`` |
    ``controlled``. A licence field is controlled when it, or any area it covers (a licence
    for ``semiconductor`` would allow use in a controlled ``semiconductor.ai.edge``), is
    controlled.
    """
    triggers: list[str] = []
    if licensee_country not in ("JP", "KR"):
        triggers.append(SCREENING_LICENSEE_ABROAD)
    controlled = [code for code, level in area_sensitivity.items() if level == "controlled"]
    if any(field_covers(granted, code) for granted in fields for code in controlled):
        triggers.append(SCREENING_CONTROLLED_FIELD)
    return tuple(triggers)


# -- royalties and return allocation (§10.5) ----------------------------------------------


def parse_quarter(text: str) -> tuple[int, int]:
    """``"2026-Q3"`` → ``(2026, 3)``; ``ValueError`` for anything else."""
    match = _QUARTER_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a quarter (YYYY-Qn): {text!r}")
    return int(match.group(1)), int(match.group(2))


def format_quarter(year: int, quarter: int) -> str:
    """``(2026, 3)`` → ``"2026-Q3"``."""
    quarter_bounds(year, quarter)  # validates
    return f"{year:04d}-Q{quarter}"


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """First and last day (inclusive) of a calendar quarter."""
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1 to 4, not {quarter!r}")
    first = date(year, 3 * quarter - 2, 1)
    following = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, following - timedelta(days=1)


def round_half_up(value: Fraction) -> int:
    """The nearest integer to a non-negative exact value, halves rounded up."""
    if value < 0:
        raise ValueError("round_half_up is defined here for non-negative values only")
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def _non_negative_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative whole amount")
    return value


def royalty_due(net_sales: int, rate: Decimal, minimum_annual: int) -> int:
    """The royalty due for one quarter (§10.5).

    ``max(round_half_up(net_sales × rate), floor(minimum_annual / 4))``, computed exactly
    (no float, no Decimal context precision). ``ValueError`` for negative amounts or a
    rate outside [0, 1].
    """
    _non_negative_int(net_sales, "net_sales")
    _non_negative_int(minimum_annual, "minimum_annual")
    if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate <= 1:
        raise ValueError("rate must be a Decimal between 0 and 1")
    percentage = round_half_up(Fraction(net_sales) * Fraction(rate))
    quarterly_minimum = minimum_annual // 4  # floor
    return max(percentage, quarterly_minimum)


def correction_delta(previous_due: int, new_due: int) -> int:
    """What a correcting report posts: the difference (negative when the royalty falls)."""
    return new_due - previous_due


def _allocation_table(table: Sequence[tuple[int, int]]) -> list[int]:
    if not table:
        raise ValueError("the allocation table is empty")
    org_ids = [org_id for org_id, _ in table]
    if len(set(org_ids)) != len(org_ids):
        raise ValueError("an organisation appears twice in the allocation table")
    basis_points = [bp for _, bp in table]
    for bp in basis_points:
        if not _is_amount(bp) or bp < 0:
            raise ValueError("basis points must be non-negative integers")
    if sum(basis_points) != BASIS_POINTS_WHOLE:
        raise ValueError("the allocation table must sum to 10,000 basis points")
    return basis_points


def royalty_split(
    royalty: int, fund_share_bp: int, table: Sequence[tuple[int, int]]
) -> tuple[int, list[tuple[int, int]]]:
    """Split a royalty: the fund's share first, the rest over the allocation table (§10.5).

    ``table`` is ``[(organisation_id, basis_points), ...]`` summing to 10,000. Returns
    ``(fund_part, [(organisation_id, amount), ...])`` in table order, summing exactly to
    ``royalty``. The fund part is the largest-remainder split over
    ``[fund_share_bp, 10,000 − fund_share_bp]`` (= round_half_up of the share); the rest
    goes by largest remainder, equal remainders to the organisation listed first.
    """
    _non_negative_int(royalty, "royalty")
    if not _is_amount(fund_share_bp) or not 0 <= fund_share_bp <= BASIS_POINTS_WHOLE:
        raise ValueError("fund_share_bp must be an integer from 0 to 10,000")
    basis_points = _allocation_table(table)
    fund_part, rest = largest_remainder_split(
        royalty, [fund_share_bp, BASIS_POINTS_WHOLE - fund_share_bp]
    )
    parts = split_by_basis_points(rest, basis_points)
    return fund_part, [(org_id, part) for (org_id, _), part in zip(table, parts, strict=True)]


def default_allocation_table(
    budget_by_org: Sequence[tuple[int, str, int]], krw_per_jpy: Decimal
) -> list[tuple[int, int]]:
    """Each organisation's share of the whole project budget, in basis points (§10.5).

    ``budget_by_org`` is ``[(organisation_id, currency, amount), ...]``; an organisation
    may appear once per currency. KRW is weighed in JPY at ``krw_per_jpy`` exactly (the
    Decimal is used as the exact fraction it spells). Returns ``[(organisation_id, bp)]``
    in order of first appearance, summing to exactly 10,000 by largest remainder (equal
    remainders to the organisation listed first). ``ValueError`` for an unknown currency,
    a negative amount, a rate that is not positive, or a budget of zero.
    """
    if not isinstance(krw_per_jpy, Decimal) or not krw_per_jpy.is_finite() or krw_per_jpy <= 0:
        raise ValueError("krw_per_jpy must be a positive Decimal")
    rate = Fraction(krw_per_jpy)
    # Value in JPY = jpy + krw / rate = (jpy·p + krw·q) / p for rate = p/q; the common
    # denominator p drops out of the shares, leaving exact integer weights.
    jpy_weight, krw_weight = rate.numerator, rate.denominator
    weights: dict[int, int] = {}
    for org_id, currency, amount in budget_by_org:
        _non_negative_int(amount, "budget amount")
        if currency == "JPY":
            weight = amount * jpy_weight
        elif currency == "KRW":
            weight = amount * krw_weight
        else:
            raise ValueError(f"unknown currency {currency!r}")
        weights[org_id] = weights.get(org_id, 0) + weight
    if not weights or sum(weights.values()) == 0:
        raise ValueError("the project budget is zero")
    shares = largest_remainder_split(BASIS_POINTS_WHOLE, list(weights.values()))
    return list(zip(weights.keys(), shares, strict=True))


# -- licence obligations (§23) -----------------------------------------------------------------


class ObligationDue(NamedTuple):
    """Where the daily job takes an obligation on a day: its new state (``None``: stays)
    and the days it records."""

    target: str | None
    overdue_on: date | None = None
    cure_ends_on: date | None = None
    breached_on: date | None = None


def obligation_due(
    *, state: str, due_on: date, cure_ends_on: date | None, cure_days: int, today: date
) -> ObligationDue:
    """The daily job's rule for one obligation on ``today`` (an Asia/Tokyo day).

    An ``open`` obligation is ``overdue`` from the day after its due date; its cure period
    is ``cure_days`` days from that day, both ends included (``cure_ends_on`` is its last
    day). An ``overdue`` one is ``breached`` the day after the cure period ends. Days are
    computed from the due date, never from the day the job ran, so a late or repeated run
    records the same days. Every other state stays.
    """
    if cure_days < 1:
        raise ValueError("the cure period is at least one day")
    if state == "open" and today > due_on:
        overdue_on = due_on + timedelta(days=1)
        return ObligationDue(
            "overdue", overdue_on=overdue_on, cure_ends_on=overdue_on + timedelta(cure_days - 1)
        )
    if state == "overdue" and cure_ends_on is not None and today > cure_ends_on:
        return ObligationDue("breached", breached_on=cure_ends_on + timedelta(days=1))
    return ObligationDue(None)
