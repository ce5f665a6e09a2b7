"""Pure licensing rules (§10): coverage, terms, the licence check, exclusivity, royalties.

No database: runs with ``pytest tests/ip_licensing/test_rules.py -p no:django``.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_licensing import rules
from ip_licensing.rules import (
    PURPOSES,
    REASONS,
    CheckResult,
    LicenceTerms,
    check_use,
    correction_delta,
    default_allocation_table,
    exclusive_conflicts,
    field_covers,
    fields_overlap,
    latest_end,
    licence_failures,
    parse_quarter,
    quarter_bounds,
    royalty_due,
    royalty_split,
    terms_overlap,
    territories_overlap,
    territory_covers,
    today_in_tokyo,
    validate_terms,
)


# The project conftest clears the cache and patches Django settings for every test; these
# rules touch neither, and overriding the two fixtures here lets the module run without
# the Django plugin (and so without a database or Redis).
@pytest.fixture(autouse=True)
def _fresh_cache():
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    yield


ASSET = 10
LICENSEE = 20
START = date(2026, 1, 1)
END = date(2028, 12, 31)
DAY = timedelta(days=1)


def lic(**overrides: Any) -> LicenceTerms:
    """An active non-exclusive licence of ASSET to LICENSEE, JP and KR, research+development."""
    values: dict[str, Any] = {
        "licence_id": 1,
        "asset_id": ASSET,
        "licensee_id": LICENSEE,
        "fields": ("semiconductor.ai",),
        "purposes": ("research", "development"),
        "territories": ("JP", "KR"),
        "start": START,
        "end": END,
        "exclusivity": "non_exclusive",
        "state": "active",
    }
    values.update(overrides)
    return LicenceTerms(**values)


def check(licences: list[LicenceTerms], **query: Any) -> CheckResult:
    values: dict[str, Any] = {
        "licensee_id": LICENSEE,
        "asset_id": ASSET,
        "purpose": "research",
        "field": "semiconductor.ai.edge",
        "territory": "JP",
        "on": date(2026, 6, 1),
    }
    values.update(query)
    return check_use(licences=licences, **values)


# -- coverage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("licence_field", "used_field", "covered"),
    [
        ("semiconductor.ai", "semiconductor.ai", True),
        ("semiconductor.ai", "semiconductor.ai.edge", True),
        ("semiconductor.ai", "semiconductor.ai.edge.npu", True),
        ("semiconductor", "semiconductor.ai", True),
        ("semiconductor.ai", "semiconductor.aix", False),  # shares a prefix, not a parent
        ("semiconductor.ai", "semiconductor", False),  # licence narrower than the use
        ("semiconductor.ai.edge", "semiconductor.ai", False),
        ("semiconductor.ai", "semiconductor.memory", False),
        ("semiconductor.ai", "quantum.ai", False),
    ],
)
def test_field_covers_itself_and_what_is_below_it(licence_field, used_field, covered):
    assert field_covers(licence_field, used_field) is covered


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("semiconductor.ai", "semiconductor.ai", True),
        ("semiconductor.ai", "semiconductor.ai.edge", True),
        ("semiconductor.ai.edge", "semiconductor.ai", True),
        ("semiconductor.ai", "semiconductor.memory", False),
        ("semiconductor.ai", "semiconductor.aix", False),
    ],
)
def test_fields_overlap_when_either_covers_the_other(a, b, overlap):
    assert fields_overlap(a, b) is overlap
    assert fields_overlap(b, a) is overlap


@pytest.mark.parametrize(
    ("territories", "territory", "covered"),
    [
        (("WW",), "JP", True),
        (("WW",), "US", True),
        (("WW",), "WW", True),
        (("JP",), "JP", True),
        (("JP", "KR"), "KR", True),
        (("JP",), "KR", False),
        (("JP", "KR"), "WW", False),  # a worldwide use needs a worldwide licence
        ((), "JP", False),
    ],
)
def test_territory_covers(territories, territory, covered):
    assert territory_covers(territories, territory) is covered


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ({"WW"}, {"JP"}, True),
        ({"WW"}, {"WW"}, True),
        ({"JP", "KR"}, {"KR", "US"}, True),
        ({"JP"}, {"KR"}, False),
        ({"WW"}, set(), False),
        (set(), set(), False),
    ],
)
def test_territories_overlap(a, b, overlap):
    assert territories_overlap(a, b) is overlap
    assert territories_overlap(b, a) is overlap


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ((date(2026, 1, 1), date(2026, 12, 31)), (date(2027, 1, 1), date(2027, 12, 31)), False),
        ((date(2026, 1, 1), date(2026, 12, 31)), (date(2026, 12, 31), date(2027, 12, 31)), True),
        ((date(2026, 1, 1), date(2030, 12, 31)), (date(2027, 6, 1), date(2027, 6, 1)), True),
        ((date(2026, 1, 1), date(2026, 1, 1)), (date(2026, 1, 1), date(2026, 1, 1)), True),
    ],
)
def test_terms_overlap_inclusively(a, b, overlap):
    assert terms_overlap(*a, *b) is overlap
    assert terms_overlap(*b, *a) is overlap


@pytest.mark.parametrize(
    ("now", "today"),
    [
        (datetime(2026, 3, 31, 14, 59, 59, tzinfo=UTC), date(2026, 3, 31)),
        (datetime(2026, 3, 31, 15, 0, tzinfo=UTC), date(2026, 4, 1)),
        (datetime(2026, 4, 1, 0, 30, tzinfo=ZoneInfo("Asia/Seoul")), date(2026, 4, 1)),
        (datetime(2026, 3, 31, 12, 0, tzinfo=ZoneInfo("America/New_York")), date(2026, 4, 1)),
    ],
)
def test_today_in_tokyo(now, today):
    assert today_in_tokyo(now) == today


def test_today_in_tokyo_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        today_in_tokyo(datetime(2026, 3, 31, 15, 0))  # noqa: DTZ001


# -- the licence check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("licence", "query", "decision", "reasons"),
    [
        pytest.param(lic(), {}, "allow", (), id="baseline"),
        pytest.param(
            lic(), {"field": "semiconductor.ai"}, "allow", (), id="field-equal-to-licence"
        ),
        pytest.param(
            lic(fields=("semiconductor",)), {}, "allow", (), id="licence-broader-than-use"
        ),
        pytest.param(
            lic(fields=("semiconductor.ai.edge",)),
            {"field": "semiconductor.ai"},
            "deny",
            ("field_not_covered",),
            id="licence-narrower-than-use",
        ),
        pytest.param(
            lic(),
            {"field": "semiconductor.aix"},
            "deny",
            ("field_not_covered",),
            id="prefix-sibling",
        ),
        pytest.param(
            lic(fields=("quantum.comm", "semiconductor.ai")), {}, "allow", (), id="second-field"
        ),
        pytest.param(lic(territories=("WW",)), {"territory": "US"}, "allow", (), id="WW"),
        pytest.param(
            lic(), {"territory": "US"}, "deny", ("territory_not_covered",), id="territory"
        ),
        pytest.param(lic(), {"purpose": "sale"}, "deny", ("purpose_not_covered",), id="purpose"),
        pytest.param(lic(), {"on": START}, "allow", (), id="first-day"),
        pytest.param(lic(), {"on": END}, "allow", (), id="last-day"),
        pytest.param(lic(), {"on": END + DAY}, "deny", ("expired",), id="day-after-end"),
        pytest.param(lic(), {"on": START - DAY}, "deny", ("not_started",), id="day-before-start"),
        pytest.param(lic(state="approved"), {"on": START}, "allow", (), id="approved-within-term"),
        pytest.param(
            lic(state="approved"),
            {"on": START - DAY},
            "deny",
            ("not_started",),
            id="approved-before-start",
        ),
        pytest.param(lic(state="expired"), {}, "deny", ("expired",), id="expired-state"),
        pytest.param(lic(state="suspended"), {}, "deny", ("suspended",), id="suspended"),
        pytest.param(lic(state="terminated"), {}, "deny", ("terminated",), id="terminated"),
        pytest.param(lic(state="draft"), {}, "deny", ("no_licence",), id="draft-is-no-licence"),
        pytest.param(lic(state="pending"), {}, "deny", ("no_licence",), id="pending-is-no-licence"),
        pytest.param(
            lic(licensee_id=LICENSEE + 1), {}, "deny", ("no_licence",), id="other-licensee"
        ),
        pytest.param(lic(asset_id=ASSET + 1), {}, "deny", ("no_licence",), id="other-asset"),
        pytest.param(
            lic(state="suspended"),
            {
                "on": END + DAY,
                "field": "quantum.comm",
                "purpose": "sale",
                "territory": "US",
            },
            "deny",
            (
                "expired",
                "suspended",
                "field_not_covered",
                "purpose_not_covered",
                "territory_not_covered",
            ),
            id="five-reasons-in-order",
        ),
        pytest.param(
            lic(state="terminated"),
            {"on": START - DAY, "territory": "CN"},
            "deny",
            ("not_started", "terminated", "territory_not_covered"),
            id="three-reasons-in-order",
        ),
    ],
)
def test_check_use_one_licence(licence, query, decision, reasons):
    result = check([licence], **query)

    assert result.decision == decision
    assert result.reasons == reasons
    assert result.licence_id == (licence.licence_id if decision == "allow" else None)


@pytest.mark.parametrize("granted", PURPOSES)
def test_each_purpose_is_covered_only_by_itself(granted):
    licence = lic(purposes=(granted,))

    for asked in PURPOSES:
        result = check([licence], purpose=asked)
        if asked == granted:
            assert result == CheckResult("allow", 1, ())
        else:
            assert result == CheckResult("deny", None, ("purpose_not_covered",))


def test_no_licences_at_all():
    assert check([]) == CheckResult("deny", None, ("no_licence",))


def test_another_licensees_licence_does_not_count_beside_an_own_failing_one():
    others = lic(licence_id=1, licensee_id=LICENSEE + 1)
    own_expired = lic(licence_id=2, state="expired")

    assert check([others, own_expired]) == CheckResult("deny", None, ("expired",))


def test_allow_uses_the_lowest_allowing_licence():
    licences = [
        lic(licence_id=9),
        lic(licence_id=4, territories=("WW",)),
        lic(licence_id=2, state="suspended"),
        lic(licence_id=6, state="approved"),
    ]

    assert check(licences) == CheckResult("allow", 4, ())


def test_deny_reports_the_closest_licence():
    licences = [
        lic(licence_id=3, state="suspended", territories=("US",)),  # two reasons
        lic(licence_id=5, purposes=("sale",)),  # one reason
    ]

    assert check(licences) == CheckResult("deny", None, ("purpose_not_covered",))


def test_deny_ties_go_to_the_lowest_licence_id():
    licences = [
        lic(licence_id=7, territories=("US",)),
        lic(licence_id=4, purposes=("sale",)),
        lic(licence_id=8, state="terminated"),
    ]

    assert check(licences) == CheckResult("deny", None, ("purpose_not_covered",))


def test_draft_licences_are_ignored_beside_granted_ones():
    licences = [lic(licence_id=1, state="draft"), lic(licence_id=2, state="expired")]

    assert check(licences) == CheckResult("deny", None, ("expired",))


def test_check_use_is_the_same_for_shuffled_input():
    licences = [
        lic(licence_id=1, state="expired"),
        lic(licence_id=2, territories=("US",)),
        lic(licence_id=3, purposes=("sale",)),
        lic(licence_id=4, state="suspended"),
    ]
    expected = check(licences)

    for order in ([3, 1, 0, 2], [2, 3, 1, 0], [1, 0, 3, 2]):
        assert check([licences[i] for i in order]) == expected


def test_check_result_contract_shape():
    assert check([lic(licence_id=7)]).as_contract() == {
        "decision": "allow",
        "licence": 7,
        "reasons": [],
    }
    assert check([]).as_contract() == {
        "decision": "deny",
        "licence": None,
        "reasons": ["no_licence"],
    }


def test_reason_codes_are_the_published_ones():
    assert REASONS == (
        "no_licence",
        "not_started",
        "expired",
        "suspended",
        "terminated",
        "field_not_covered",
        "purpose_not_covered",
        "territory_not_covered",
        "diligence_breach",
        "not_exclusive",
        # §23: why a sublicence's parent denies
        "parent_expired",
        "parent_suspended",
        "parent_terminated",
        "parent_denied",
    )


@pytest.mark.parametrize(
    ("exclusivity", "lost_on", "on", "expected"),
    [
        ("exclusive", None, date(2026, 7, 1), ()),
        ("non_exclusive", None, date(2026, 7, 1), ("not_exclusive",)),
        # Converted on 1 July after a diligence breach: exclusive until 30 June.
        ("non_exclusive", date(2026, 7, 1), date(2026, 6, 30), ()),
        ("non_exclusive", date(2026, 7, 1), date(2026, 7, 1), ("diligence_breach",)),
        ("non_exclusive", date(2026, 7, 1), date(2026, 12, 1), ("diligence_breach",)),
    ],
)
def test_uses_that_need_exclusivity(exclusivity, lost_on, on, expected):
    terms = lic(
        licence_id=7,
        exclusivity=exclusivity,
        exclusivity_lost_on=lost_on,
        state="active",
        start=date(2026, 1, 1),
        end=date(2027, 12, 31),
    )
    asked = {"purpose": "research", "field": "semiconductor.ai", "territory": "JP", "on": on}
    assert licence_failures(terms, exclusive=True, **asked) == expected
    # A use that does not need exclusivity is allowed whatever it lost.
    assert licence_failures(terms, **asked) == ()


# -- exclusivity -----------------------------------------------------------------------------


def exclusive(**overrides) -> LicenceTerms:
    return lic(**{"licence_id": 1, "exclusivity": "exclusive", "state": "draft", **overrides})


@pytest.mark.parametrize(
    ("candidate", "other", "conflicts"),
    [
        pytest.param(exclusive(), lic(licence_id=2), [2], id="overlap-in-all-three"),
        pytest.param(
            exclusive(territories=("JP",)),
            lic(licence_id=2, territories=("KR",)),
            [],
            id="disjoint-territory",
        ),
        pytest.param(
            exclusive(fields=("semiconductor.ai",)),
            lic(licence_id=2, fields=("semiconductor.memory",)),
            [],
            id="field-siblings",
        ),
        pytest.param(
            exclusive(fields=("semiconductor.ai",)),
            lic(licence_id=2, fields=("semiconductor.aix",)),
            [],
            id="field-prefix-siblings",
        ),
        pytest.param(
            exclusive(fields=("semiconductor.ai.edge",)),
            lic(licence_id=2, fields=("semiconductor",)),
            [2],
            id="field-parent",
        ),
        pytest.param(
            exclusive(start=date(2029, 1, 1), end=date(2030, 12, 31)),
            lic(licence_id=2, end=date(2028, 12, 31)),
            [],
            id="adjacent-terms",
        ),
        pytest.param(
            exclusive(start=date(2028, 12, 31), end=date(2030, 12, 31)),
            lic(licence_id=2, end=date(2028, 12, 31)),
            [2],
            id="one-shared-day",
        ),
        pytest.param(
            exclusive(territories=("WW",)),
            lic(licence_id=2, territories=("JP",)),
            [2],
            id="WW-vs-JP",
        ),
        pytest.param(
            lic(licence_id=1, state="draft"),
            lic(licence_id=2),
            [],
            id="non-exclusive-vs-non-exclusive",
        ),
        pytest.param(
            lic(licence_id=1, state="draft"),
            exclusive(licence_id=2, state="active"),
            [2],
            id="non-exclusive-vs-exclusive",
        ),
        pytest.param(
            exclusive(), lic(licence_id=2, state="terminated"), [], id="terminated-ignored"
        ),
        pytest.param(exclusive(), lic(licence_id=2, state="expired"), [], id="expired-ignored"),
        pytest.param(exclusive(), lic(licence_id=2, state="draft"), [], id="draft-ignored"),
        pytest.param(exclusive(), lic(licence_id=2, state="pending"), [2], id="pending-counts"),
        pytest.param(exclusive(), lic(licence_id=2, state="approved"), [2], id="approved-counts"),
        pytest.param(exclusive(), lic(licence_id=2, state="suspended"), [2], id="suspended-counts"),
        pytest.param(exclusive(), lic(licence_id=2, asset_id=ASSET + 1), [], id="other-asset"),
        pytest.param(exclusive(), lic(licence_id=1), [], id="itself"),
        pytest.param(
            exclusive(), lic(licence_id=2, licensee_id=LICENSEE + 1), [2], id="other-licensee"
        ),
    ],
)
def test_exclusive_conflicts(candidate, other, conflicts):
    assert exclusive_conflicts(candidate, [other]) == conflicts


def test_exclusive_conflicts_are_listed_once_in_id_order():
    others = [
        lic(licence_id=9),
        lic(licence_id=3),
        lic(licence_id=5, territories=("US",)),
        lic(licence_id=9, asset_id=ASSET),  # the same licence again (several assets)
    ]

    assert exclusive_conflicts(exclusive(), others) == [3, 9]


# -- licence terms ---------------------------------------------------------------------------

VALID_TERMS: dict[str, Any] = {
    "fields": ["semiconductor.ai"],
    "purposes": ["research", "manufacturing"],
    "territories": ["JP", "KR", "WW"],
    "start": date(2026, 1, 1),
    "end": date(2030, 12, 31),
    "royalty_rate": Decimal("0.035"),
    "minimum_annual_royalty": 1_000_000,
    "upfront_fee": 0,
    "currency": "JPY",
}


def test_valid_terms_have_no_problems():
    assert validate_terms(**VALID_TERMS) == []


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"fields": []}, [("fields", "required")]),
        ({"fields": ["Semiconductor.AI"]}, [("fields", "invalid_field")]),
        ({"fields": ["semiconductor..ai"]}, [("fields", "invalid_field")]),
        ({"purposes": []}, [("purposes", "required")]),
        ({"purposes": ["research", "resale"]}, [("purposes", "unknown_purpose")]),
        ({"territories": []}, [("territories", "required")]),
        ({"territories": ["jp"]}, [("territories", "invalid_territory")]),
        ({"territories": ["JPN"]}, [("territories", "invalid_territory")]),
        ({"territories": ["J"]}, [("territories", "invalid_territory")]),
        ({"start": None}, [("start", "required")]),
        ({"end": None}, [("end", "required")]),
        ({"start": None, "end": None}, [("start", "required"), ("end", "required")]),
        ({"end": date(2025, 12, 31)}, [("end", "end_before_start")]),
        ({"end": date(2026, 1, 1)}, []),  # a one-day licence
        ({"end": date(2031, 1, 1)}, [("end", "term_too_long")]),
        ({"start": date(2024, 2, 29), "end": date(2029, 2, 28)}, []),
        ({"start": date(2024, 2, 29), "end": date(2029, 3, 1)}, [("end", "term_too_long")]),
        ({"start": date(2024, 3, 1), "end": date(2029, 2, 28)}, []),
        ({"start": date(2024, 2, 28), "end": date(2029, 2, 27)}, []),
        ({"start": date(2024, 2, 28), "end": date(2029, 2, 28)}, [("end", "term_too_long")]),
        (
            {"start": date(2026, 1, 1), "end": date(2028, 12, 31), "max_licence_years": 3},
            [],
        ),
        (
            {"start": date(2026, 1, 1), "end": date(2029, 1, 1), "max_licence_years": 3},
            [("end", "term_too_long")],
        ),
        (  # 2032 is a leap year: the anniversary of 29 Feb exists
            {"start": date(2028, 2, 29), "end": date(2032, 2, 28), "max_licence_years": 4},
            [],
        ),
        (
            {"start": date(2028, 2, 29), "end": date(2032, 2, 29), "max_licence_years": 4},
            [("end", "term_too_long")],
        ),
        ({"royalty_rate": Decimal(0)}, []),
        ({"royalty_rate": Decimal(1)}, []),
        ({"royalty_rate": Decimal("-0.0001")}, [("royalty_rate", "rate_out_of_range")]),
        ({"royalty_rate": Decimal("1.0001")}, [("royalty_rate", "rate_out_of_range")]),
        ({"royalty_rate": Decimal("NaN")}, [("royalty_rate", "rate_out_of_range")]),
        ({"royalty_rate": None}, [("royalty_rate", "required")]),
        ({"minimum_annual_royalty": -1}, [("minimum_annual_royalty", "negative")]),
        ({"upfront_fee": -1}, [("upfront_fee", "negative")]),
        ({"upfront_fee": 10**15 + 1}, [("upfront_fee", "too_large")]),
        ({"upfront_fee": 1.5}, [("upfront_fee", "not_an_amount")]),
        ({"currency": "USD"}, [("currency", "unknown_currency")]),
        ({"currency": "KRW"}, []),
        (
            {
                "fields": [],
                "purposes": ["resale"],
                "territories": ["XXX"],
                "end": date(2020, 1, 1),
                "royalty_rate": Decimal(2),
                "minimum_annual_royalty": -5,
                "upfront_fee": -5,
                "currency": "EUR",
            },
            [
                ("fields", "required"),
                ("purposes", "unknown_purpose"),
                ("territories", "invalid_territory"),
                ("end", "end_before_start"),
                ("royalty_rate", "rate_out_of_range"),
                ("minimum_annual_royalty", "negative"),
                ("upfront_fee", "negative"),
                ("currency", "unknown_currency"),
            ],
        ),
    ],
)
def test_validate_terms(changes, problems):
    assert validate_terms(**{**VALID_TERMS, **changes}) == problems


@pytest.mark.parametrize(
    ("start", "years", "last"),
    [
        (date(2026, 1, 1), 5, date(2030, 12, 31)),
        (date(2026, 7, 15), 1, date(2027, 7, 14)),
        (date(2024, 2, 29), 5, date(2029, 2, 28)),
        (date(2024, 2, 29), 1, date(2025, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 28)),
        (date(9998, 6, 1), 5, date.max),
    ],
)
def test_latest_end(start, years, last):
    assert latest_end(start, years) == last


# -- royalties -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quarter"),
    [("2026-Q3", (2026, 3)), ("2026-Q1", (2026, 1)), ("1999-Q4", (1999, 4))],
)
def test_parse_quarter(text, quarter):
    assert parse_quarter(text) == quarter


@pytest.mark.parametrize(
    "text",
    ["2026-Q5", "2026-Q0", "2026Q3", "26-Q3", "2026-q3", " 2026-Q3", "2026-Q3 ", "", None, 2026],
)
def test_parse_quarter_refuses_anything_else(text):
    with pytest.raises(ValueError):
        parse_quarter(text)


@pytest.mark.parametrize(
    ("quarter", "bounds"),
    [
        (1, (date(2026, 1, 1), date(2026, 3, 31))),
        (2, (date(2026, 4, 1), date(2026, 6, 30))),
        (3, (date(2026, 7, 1), date(2026, 9, 30))),
        (4, (date(2026, 10, 1), date(2026, 12, 31))),
    ],
)
def test_quarter_bounds(quarter, bounds):
    assert quarter_bounds(2026, quarter) == bounds


@pytest.mark.parametrize("quarter", [0, 5, -1])
def test_quarter_bounds_refuses_bad_quarters(quarter):
    with pytest.raises(ValueError):
        quarter_bounds(2026, quarter)


@pytest.mark.parametrize(
    ("net_sales", "rate", "minimum_annual", "due"),
    [
        (1_234_567, "0.035", 0, 43_210),  # 43,209.845 rounds half up
        (1_234_567, "0.035", 1_000_001, 250_000),  # the quarterly minimum, floored
        (1_234_567, "0.035", 172_840, 43_210),  # the minimum is lower
        (100, "0.005", 0, 1),  # exactly half rounds up
        (100, "0.0049", 0, 0),
        (0, "0.1", 3, 0),
        (0, "0.1", 4, 1),
        (0, "0", 0, 0),
        (10**15, "1", 0, 10**15),
        (10**15, "0.333333333333333333333333333333333", 0, 333_333_333_333_333),
    ],
)
def test_royalty_due(net_sales, rate, minimum_annual, due):
    assert royalty_due(net_sales, Decimal(rate), minimum_annual) == due


@pytest.mark.parametrize(
    ("net_sales", "rate", "minimum_annual"),
    [(-1, "0.1", 0), (1, "1.1", 0), (1, "-0.1", 0), (1, "0.1", -4), (1, "NaN", 0)],
)
def test_royalty_due_refuses_bad_input(net_sales, rate, minimum_annual):
    with pytest.raises(ValueError):
        royalty_due(net_sales, Decimal(rate), minimum_annual)


@pytest.mark.parametrize(
    ("previous", "new", "delta"), [(43_210, 50_000, 6_790), (50_000, 43_210, -6_790), (7, 7, 0)]
)
def test_correction_delta(previous, new, delta):
    assert correction_delta(previous, new) == delta


@pytest.mark.parametrize(
    ("royalty", "fund_bp", "table", "expected"),
    [
        (1_000, 1_000, [(1, 6_000), (2, 4_000)], (100, [(1, 540), (2, 360)])),
        (
            43_210,
            1_000,
            [(1, 3_334), (2, 3_333), (3, 3_333)],
            # rest 38,889: exact shares 12,965.59 / 12,961.70 / 12,961.70; the two spare
            # yen go to the largest remainders.
            (4_321, [(1, 12_965), (2, 12_962), (3, 12_962)]),
        ),
        (15, 1_000, [(1, 5_000), (2, 5_000)], (2, [(1, 7), (2, 6)])),  # 1.5 → 2; tie → first
        (14, 1_000, [(1, 10_000)], (1, [(1, 13)])),  # 1.4 → 1
        (1, 0, [(2, 5_000), (1, 5_000)], (0, [(2, 1), (1, 0)])),  # tie to the first listed
        (999, 10_000, [(1, 10_000)], (999, [(1, 0)])),
        (0, 1_000, [(1, 6_000), (2, 4_000)], (0, [(1, 0), (2, 0)])),
    ],
)
def test_royalty_split(royalty, fund_bp, table, expected):
    result = royalty_split(royalty, fund_bp, table)

    assert result == expected
    assert result[0] + sum(amount for _, amount in result[1]) == royalty


@pytest.mark.parametrize(
    ("royalty", "fund_bp", "table"),
    [
        (100, 1_000, [(1, 6_000), (2, 3_999)]),
        (100, 1_000, [(1, 6_000), (2, 4_001)]),
        (100, 1_000, []),
        (100, 1_000, [(1, 5_000), (1, 5_000)]),
        (100, 1_000, [(1, 11_000), (2, -1_000)]),
        (100, 10_001, [(1, 10_000)]),
        (100, -1, [(1, 10_000)]),
        (-1, 1_000, [(1, 10_000)]),
    ],
)
def test_royalty_split_refuses_bad_input(royalty, fund_bp, table):
    with pytest.raises(ValueError):
        royalty_split(royalty, fund_bp, table)


@pytest.mark.parametrize(
    ("budget", "rate", "table"),
    [
        (
            [(1, "JPY", 60_000_000), (2, "KRW", 360_000_000)],
            "9.0",
            [(1, 6_000), (2, 4_000)],
        ),
        (  # 91,234,000 KRW and 364,936,000 KRW are exactly 10M and 40M JPY at 9.1234
            [(1, "JPY", 50_000_000), (2, "KRW", 364_936_000), (1, "KRW", 91_234_000)],
            "9.1234",
            [(1, 6_000), (2, 4_000)],
        ),
        ([(1, "JPY", 1), (2, "JPY", 1), (3, "JPY", 1)], "9", [(1, 3_334), (2, 3_333), (3, 3_333)]),
        ([(3, "JPY", 1), (1, "JPY", 1), (2, "JPY", 1)], "9", [(3, 3_334), (1, 3_333), (2, 3_333)]),
        ([(1, "JPY", 100), (2, "KRW", 0)], "9", [(1, 10_000), (2, 0)]),
    ],
)
def test_default_allocation_table(budget, rate, table):
    assert default_allocation_table(budget, Decimal(rate)) == table


@pytest.mark.parametrize(
    ("budget", "rate"),
    [
        ([], "9"),
        ([(1, "JPY", 0), (2, "KRW", 0)], "9"),
        ([(1, "USD", 100)], "9"),
        ([(1, "JPY", -1), (2, "JPY", 2)], "9"),
        ([(1, "JPY", 100)], "0"),
        ([(1, "JPY", 100)], "-9"),
        ([(1, "JPY", 100)], "Infinity"),
    ],
)
def test_default_allocation_table_refuses_bad_input(budget, rate):
    with pytest.raises(ValueError):
        default_allocation_table(budget, Decimal(rate))


# -- screening triggers (§11) ----------------------------------------------------------------

AREAS = {
    "semiconductor": "normal",
    "semiconductor.ai": "sensitive",
    "semiconductor.ai.edge": "controlled",
    "quantum.comm": "normal",
}


@pytest.mark.parametrize(
    ("country", "fields", "triggers"),
    [
        ("JP", ["quantum.comm"], ()),
        ("KR", ["semiconductor.ai"], ("controlled_field",)),  # covers a controlled area
        ("KR", ["semiconductor.ai.edge.npu"], ()),
        ("JP", ["semiconductor.ai.edge"], ("controlled_field",)),
        ("US", ["quantum.comm"], ("licensee_outside_jp_kr",)),
        ("CN", ["semiconductor"], ("licensee_outside_jp_kr", "controlled_field")),
    ],
)
def test_licence_screening_triggers(country, fields, triggers):
    result = rules.licence_screening_triggers(
        licensee_country=country, fields=fields, area_sensitivity=AREAS
    )

    assert result == triggers


# -- properties ------------------------------------------------------------------------------

basis_point_tables = (
    st.lists(st.integers(0, 10_000), max_size=8)
    .map(lambda cuts: [0, *sorted(cuts), 10_000])
    .map(lambda edges: [b - a for a, b in zip(edges, edges[1:], strict=False)])
    .map(lambda bps: list(enumerate(bps, start=1)))
)


@settings(deadline=None)
@given(
    royalty=st.integers(0, 10**15),
    fund_bp=st.integers(0, 10_000),
    table=basis_point_tables,
)
def test_royalty_split_sums_exactly_and_is_fair(royalty, fund_bp, table):
    fund_part, parts = royalty_split(royalty, fund_bp, table)

    assert fund_part + sum(amount for _, amount in parts) == royalty
    assert fund_part == rules.round_half_up(Fraction(royalty * fund_bp, 10_000))
    rest = royalty - fund_part
    assert [org for org, _ in parts] == [org for org, _ in table]
    for (_, amount), (_, bp) in zip(parts, table, strict=True):
        assert amount >= 0
        assert abs(amount - Fraction(rest * bp, 10_000)) < 1


budgets = st.lists(
    st.tuples(st.integers(1, 6), st.sampled_from(["JPY", "KRW"]), st.integers(0, 10**15)),
    min_size=1,
    max_size=10,
).filter(lambda rows: any(amount for _, _, amount in rows))
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100_000), places=4)


@settings(deadline=None)
@given(budget=budgets, rate=rates)
def test_default_allocation_table_always_sums_to_10000(budget, rate):
    table = default_allocation_table(budget, rate)

    assert sum(bp for _, bp in table) == 10_000
    assert [org for org, _ in table] == list(dict.fromkeys(org for org, _, _ in budget))
    in_jpy: dict[int, Fraction] = {}
    for org, currency, amount in budget:
        value = Fraction(amount) if currency == "JPY" else Fraction(amount) / Fraction(rate)
        in_jpy[org] = in_jpy.get(org, Fraction(0)) + value
    whole = sum(in_jpy.values())
    for org, bp in table:
        assert abs(bp - 10_000 * in_jpy[org] / whole) < 1


days = st.dates(min_value=date(2025, 1, 1), max_value=date(2031, 12, 31))
field_codes = st.sampled_from(
    ["semiconductor", "semiconductor.ai", "semiconductor.ai.edge", "semiconductor.aix", "quantum"]
)
territory_codes = st.sampled_from(["WW", "JP", "KR", "US"])


@st.composite
def licences(draw, licence_id=None):
    start = draw(days)
    return LicenceTerms(
        licence_id=licence_id if licence_id is not None else draw(st.integers(1, 12)),
        asset_id=draw(st.sampled_from([ASSET, ASSET + 1])),
        licensee_id=draw(st.sampled_from([LICENSEE, LICENSEE + 1])),
        fields=tuple(draw(st.lists(field_codes, min_size=1, max_size=2, unique=True))),
        purposes=tuple(draw(st.lists(st.sampled_from(PURPOSES), min_size=1, unique=True))),
        territories=tuple(draw(st.lists(territory_codes, min_size=1, max_size=2, unique=True))),
        start=start,
        end=start + timedelta(days=draw(st.integers(0, 3 * 365))),
        exclusivity=draw(st.sampled_from(rules.EXCLUSIVITIES)),
        state=draw(st.sampled_from(rules.STATES)),
    )


@settings(deadline=None)
@given(
    data=st.data(),
    ids=st.lists(st.integers(1, 12), min_size=0, max_size=8, unique=True),
    purpose=st.sampled_from(PURPOSES),
    field=field_codes,
    territory=territory_codes,
    on=days,
)
def test_check_use_is_deterministic_and_consistent(data, ids, purpose, field, territory, on):
    given_licences = [data.draw(licences(licence_id=i)) for i in ids]
    shuffled = data.draw(st.permutations(given_licences))
    query = {"purpose": purpose, "field": field, "territory": territory, "on": on}

    result = check(given_licences, **query)

    assert check(shuffled, **query) == result
    assert result.reasons == rules.sort_reasons(result.reasons)
    mine = [
        licence
        for licence in given_licences
        if licence.asset_id == ASSET
        and licence.licensee_id == LICENSEE
        and licence.state not in ("draft", "pending")
    ]
    if result.decision == "allow":
        (granting,) = [licence for licence in mine if licence.licence_id == result.licence_id]
        assert granting.state in ("approved", "active")
        assert granting.start <= on <= granting.end
        assert any(field_covers(f, field) for f in granting.fields)
        assert purpose in granting.purposes
        assert territory_covers(granting.territories, territory)
        assert result.reasons == ()
    elif not mine:
        assert result == CheckResult("deny", None, ("no_licence",))
    else:
        assert result.licence_id is None
        assert result.reasons
        assert "no_licence" not in result.reasons


@settings(deadline=None)
@given(a=licences(licence_id=1), b=licences(licence_id=2), states=st.data())
def test_exclusive_conflicts_are_symmetric_between_exclusive_licences(a, b, states):
    counted = st.sampled_from(sorted(rules.CONFLICTING_STATES))
    a = replace(a, exclusivity="exclusive", asset_id=ASSET, state=states.draw(counted))
    b = replace(b, exclusivity="exclusive", asset_id=ASSET, state=states.draw(counted))

    a_sees_b = exclusive_conflicts(a, [b]) == [2]
    b_sees_a = exclusive_conflicts(b, [a]) == [1]

    assert a_sees_b == b_sees_a
    assert a_sees_b == rules.licences_overlap(a, b)


# --------------------------------------------------------------------------- sublicences (§23)

_SUB_FIELDS = ["semiconductor", "semiconductor.ai", "semiconductor.ai.edge", "semiconductor.memory"]
_SUB_TERRITORIES = ["JP", "KR", "US", "WW"]
_SUB_BASE = date(2026, 1, 1)


@st.composite
def _scopes(draw):
    start = _SUB_BASE + timedelta(days=draw(st.integers(0, 60)))
    end = start + timedelta(days=draw(st.integers(0, 120)))
    return {
        "fields": draw(st.lists(st.sampled_from(_SUB_FIELDS), min_size=1, max_size=2, unique=True)),
        "purposes": draw(
            st.lists(st.sampled_from(rules.PURPOSES), min_size=1, max_size=3, unique=True)
        ),
        "territories": draw(
            st.lists(st.sampled_from(_SUB_TERRITORIES), min_size=1, max_size=2, unique=True)
        ),
        "start": start,
        "end": end,
        "exclusive": draw(st.booleans()),
    }


@settings(max_examples=150, deadline=None)
@given(parent=_scopes(), child=_scopes(), state=st.sampled_from(["active", "suspended"]))
def test_no_sublicence_the_rule_accepts_ever_exceeds_its_parent(parent, child, state):
    """Whatever the rule accepts lies inside: every use the sublicence allows on any day,
    the parent allows too; and whatever it refuses sticks out somewhere."""
    excess = rules.sublicence_scope_excess(
        parent_assets=[1],
        parent_fields=parent["fields"],
        parent_purposes=parent["purposes"],
        parent_territories=parent["territories"],
        parent_start=parent["start"],
        parent_end=parent["end"],
        parent_exclusive=parent["exclusive"],
        assets=[1],
        fields=child["fields"],
        purposes=child["purposes"],
        territories=child["territories"],
        start=child["start"],
        end=child["end"],
        exclusive=child["exclusive"],
    )

    def terms(scope, licence_id, licensee_id, **extra):
        return rules.LicenceTerms(
            licence_id=licence_id,
            asset_id=1,
            licensee_id=licensee_id,
            fields=tuple(scope["fields"]),
            purposes=tuple(scope["purposes"]),
            territories=tuple(scope["territories"]),
            start=scope["start"],
            end=scope["end"],
            state="active",
            **extra,
        )

    parent_terms = terms(parent, 1, 10)
    child_alone = terms(child, 2, 20)
    sub = terms(child, 2, 20, parent=replace(parent_terms, state=state))
    exceeds = False
    for offset in range(0, 190, 9):
        on = _SUB_BASE + timedelta(days=offset)
        for field in [*_SUB_FIELDS, "semiconductor.ai.edge.npu"]:
            for purpose in rules.PURPOSES:
                for territory in ["JP", "KR", "US", "CN", "WW"]:
                    alone = not rules.licence_failures(
                        child_alone, purpose=purpose, field=field, territory=territory, on=on
                    )
                    by_parent = not rules.licence_failures(
                        parent_terms, purpose=purpose, field=field, territory=territory, on=on
                    )
                    if alone and not by_parent:
                        exceeds = True
                    answer = rules.check_use(
                        licences=[sub],
                        licensee_id=20,
                        asset_id=1,
                        purpose=purpose,
                        field=field,
                        territory=territory,
                        on=on,
                    )
                    # A sublicence allows only where it and its parent both allow.
                    assert answer.allowed == (alone and by_parent and state == "active")
    if not excess:
        assert not exceeds
    if exceeds:
        assert excess


def test_sublicence_scope_excess_names_what_sticks_out():
    excess = rules.sublicence_scope_excess(
        parent_assets=[1, 2],
        parent_fields=["semiconductor.ai"],
        parent_purposes=["research"],
        parent_territories=["JP", "KR"],
        parent_start=date(2026, 1, 1),
        parent_end=date(2027, 12, 31),
        parent_exclusive=False,
        assets=[1, 3],
        fields=["semiconductor.ai.edge", "semiconductor"],
        purposes=["research", "sale"],
        territories=["KR", "WW"],
        start=date(2025, 12, 31),
        end=date(2028, 1, 1),
        exclusive=True,
    )
    assert [(e.field, e.code, e.value) for e in excess] == [
        ("assets", "asset_not_in_parent", "3"),
        ("fields_of_use", "field_not_in_parent", "semiconductor"),
        ("purposes", "purpose_not_in_parent", "sale"),
        ("territories", "territory_not_in_parent", "WW"),
        ("start_on", "starts_before_parent", "2026-01-01"),
        ("end_on", "ends_after_parent", "2027-12-31"),
        ("exclusivity", "exclusive_under_non_exclusive", "exclusive"),
    ]


@pytest.mark.parametrize(
    ("parent_state", "reasons"),
    [
        ("active", ()),
        ("approved", ()),
        ("suspended", ("parent_suspended",)),
        ("terminated", ("parent_terminated",)),
        ("expired", ("parent_expired",)),
        ("pending", ("parent_denied",)),
    ],
)
def test_a_sublicence_denies_with_its_parents_reason(parent_state, reasons):
    parent = rules.LicenceTerms(
        1,
        1,
        10,
        ("semiconductor",),
        ("research",),
        ("WW",),
        date(2026, 1, 1),
        date(2026, 12, 31),
        state=parent_state,
    )
    sub = rules.LicenceTerms(
        2,
        1,
        20,
        ("semiconductor.ai",),
        ("research",),
        ("JP",),
        date(2026, 2, 1),
        date(2026, 11, 30),
        state="active",
        parent=parent,
    )
    use: dict[str, Any] = {"purpose": "research", "field": "semiconductor.ai", "territory": "JP"}
    assert rules.licence_failures(sub, on=date(2026, 6, 1), **use) == reasons
    result = rules.check_use(licences=[sub], licensee_id=20, asset_id=1, on=date(2026, 6, 1), **use)
    assert result.as_contract() == {
        "decision": "deny" if reasons else "allow",
        "licence": None if reasons else 2,
        "reasons": list(reasons),
    }


@pytest.mark.parametrize(
    ("income", "share_bp", "due"),
    [(0, 2500, 0), (1, 5000, 1), (3, 5000, 2), (1_000_001, 2500, 250_000), (7, 10_000, 7)],
)
def test_sublicence_due_rounds_half_up(income, share_bp, due):
    assert rules.sublicence_due(income, share_bp) == due


@pytest.mark.parametrize(("income", "share_bp"), [(-1, 100), (1, -1), (1, 10_001), (1.0, 1)])
def test_sublicence_due_refuses_nonsense(income, share_bp):
    with pytest.raises(ValueError):
        rules.sublicence_due(income, share_bp)
