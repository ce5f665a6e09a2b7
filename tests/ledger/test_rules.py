"""Pure ledger rules: account codes, leg normalisation and the largest-remainder split."""

from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fundapp.ledger import rules
from fundapp.ledger.rules import (
    LegError,
    largest_remainder_split,
    normalise_legs,
    split_by_basis_points,
)

# -- account codes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "currency"),
    [
        ("agency:JP", "external", None),
        ("agency:KR", "external", None),
        ("fund:JP:pool", "internal", None),
        ("fund:KR:reserve", "internal", None),
        ("project:42:JP:committed", "internal", None),
        ("visit:5:KR:committed", "internal", None),
        ("org:7:JPY:payable", "internal", "JPY"),
        ("org:7:KRW:paid", "external", "KRW"),
        ("licensee:9:KRW", "external", "KRW"),
    ],
)
def test_codes_decide_kind_and_currency(code, kind, currency):
    parsed = rules.parse_account_code(code)

    assert parsed.kind == kind
    assert parsed.currency == currency
    assert rules.account_kind(code) == kind


@pytest.mark.parametrize(
    "code",
    [
        "",
        "agency:US",
        "fund:JP",
        "fund:JP:pool:extra",
        "project:0:JP:committed",
        "project:042:JP:committed",
        "project:x:JP:committed",
        "visit:0:JP:committed",
        "visit:5:US:committed",
        "org:7:USD:payable",
        "org:7:JPY:owed",
        "licensee:9",
        "FUND:JP:POOL",
        " fund:JP:pool",
        "fund:JP:pool\n",
    ],
)
def test_malformed_codes_are_refused(code):
    with pytest.raises(ValueError, match="not an account code"):
        rules.parse_account_code(code)


def test_code_builders_spell_the_spec_codes():
    assert rules.account_code_agency("JP") == "agency:JP"
    assert rules.account_code_fund_pool("KR") == "fund:KR:pool"
    assert rules.account_code_fund_reserve("JP") == "fund:JP:reserve"
    assert rules.account_code_project_committed(42, "JP") == "project:42:JP:committed"
    assert rules.account_code_visit_committed(5, "KR") == "visit:5:KR:committed"
    assert rules.account_code_org_payable(7, "JPY") == "org:7:JPY:payable"
    assert rules.account_code_org_paid(7, "JPY") == "org:7:JPY:paid"
    assert rules.account_code_licensee(9, "KRW") == "licensee:9:KRW"
    with pytest.raises(ValueError):
        rules.account_code_project_committed(0, "JP")
    with pytest.raises(ValueError):
        rules.account_code_org_payable(7, "USD")
    with pytest.raises(ValueError):
        rules.account_code_fund_pool("OTHER")


# -- legs --------------------------------------------------------------------------------


def test_legs_on_one_account_are_merged_in_first_appearance_order():
    legs = [
        ("project:1:JP:committed", -100),
        ("org:1:JPY:payable", 100),
        ("fund:JP:reserve", -10),
        ("org:1:JPY:payable", 10),
    ]

    assert normalise_legs(legs, currency="JPY") == [
        ("project:1:JP:committed", -100),
        ("org:1:JPY:payable", 110),
        ("fund:JP:reserve", -10),
    ]


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([], "needs legs"),
        ([("agency:JP", -100), ("fund:JP:pool", 99)], "do not balance"),
        ([("agency:JP", -100.0), ("fund:JP:pool", 100.0)], "whole number"),
        ([("agency:JP", True), ("fund:JP:pool", -1)], "whole number"),
        ([("agency:JP", 0), ("fund:JP:pool", 0)], "must not be zero"),
        ([("agency:JP", -(10**15) - 1), ("fund:JP:pool", 10**15 + 1)], "exceeds"),
        ([("agency:JP", -100), ("nowhere", 100)], "not an account code"),
        ([("agency:JP", -100), ("org:1:KRW:payable", 100)], "is in KRW"),
        ([("fund:JP:pool", -100), ("fund:JP:pool", 100)], "nothing moves"),
        ([("agency:JP", -100, "x")], "not a (code, amount) pair"),
        (
            [("agency:JP", -(10**15)), ("agency:JP", -(10**15)), ("fund:JP:pool", 2 * 10**15)],
            "exceeds",
        ),
    ],
)
def test_bad_legs_are_refused(legs, message):
    with pytest.raises(LegError) as caught:
        normalise_legs(legs, currency="JPY")

    assert message in str(caught.value)


def test_unknown_currency_is_refused():
    with pytest.raises(LegError) as caught:
        normalise_legs([("agency:JP", -1), ("fund:JP:pool", 1)], currency="USD")

    assert caught.value.field == "currency"


# -- largest remainder -----------------------------------------------------------------


def test_split_worked_examples():
    assert largest_remainder_split(100, [1, 1, 1]) == [34, 33, 33]
    assert largest_remainder_split(10, [1, 1, 1, 1]) == [3, 3, 2, 2]
    assert largest_remainder_split(7, [0, 3, 0, 4]) == [0, 3, 0, 4]
    assert largest_remainder_split(0, [5, 5]) == [0, 0]
    # 44,000,000 over budget shares 3:2:2 → 18,857,142.86 / 12,571,428.57 / 12,571,428.57
    assert largest_remainder_split(44_000_000, [3, 2, 2]) == [18_857_143, 12_571_429, 12_571_428]


def test_split_refuses_what_cannot_be_split():
    with pytest.raises(ValueError, match="not all be zero"):
        largest_remainder_split(100, [0, 0])
    with pytest.raises(ValueError, match="at least one"):
        largest_remainder_split(100, [])
    with pytest.raises(ValueError, match="non-negative"):
        largest_remainder_split(-1, [1])
    with pytest.raises(ValueError, match="non-negative"):
        largest_remainder_split(10, [2, -1])
    with pytest.raises(ValueError, match="non-negative"):
        largest_remainder_split(10, [1.5, 1])  # type: ignore[list-item]


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=10**15),
    weights=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=25).filter(
        any
    ),
)
@example(total=10**15, weights=[1, 1, 1])
@example(total=5, weights=[0, 1, 0, 1, 1])
def test_split_sums_exactly_is_fair_and_gives_ties_to_the_earliest(total, weights):
    parts = largest_remainder_split(total, weights)

    weight_sum = sum(weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    remainders = [total * w % weight_sum for w in weights]
    got_extra = []
    for part, weight in zip(parts, weights, strict=True):
        share = Fraction(total * weight, weight_sum)
        assert abs(part - share) < 1
        assert part >= 0
        if weight == 0:
            assert part == 0
        got_extra.append(part > share)
    # The extra units go to the largest remainders; among equal ones, to the earliest.
    for i in range(len(weights)):
        for j in range(len(weights)):
            if got_extra[j] and not got_extra[i]:
                assert remainders[j] > remainders[i] or (remainders[j] == remainders[i] and j < i)


def test_split_by_basis_points():
    assert split_by_basis_points(1_000, [3_333, 3_333, 3_334]) == [333, 333, 334]
    assert split_by_basis_points(1, [5_000, 5_000]) == [1, 0]
    with pytest.raises(ValueError, match="10,000"):
        split_by_basis_points(1_000, [5_000, 4_999])
