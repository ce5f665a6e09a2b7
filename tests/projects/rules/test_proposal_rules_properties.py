"""Properties of the pure proposal rules (§5, §17), checked with Hypothesis."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fundapp.kernel.problems import check_amount
from fundapp.money import MAX_AMOUNT
from projects.rules.proposals import (
    MemberFacts,
    StageFacts,
    consortium_problems,
    non_decreasing_problems,
)

# No example database: the suite leaves nothing behind in the working tree.
fast = settings(database=None, max_examples=300, deadline=None)

# --------------------------------------------------------------------------- amounts

amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)
near_bounds = st.sampled_from([-1, 0, 1, MAX_AMOUNT - 1, MAX_AMOUNT, MAX_AMOUNT + 1])
anything = st.one_of(
    st.integers(),
    near_bounds,
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-1, max_value=MAX_AMOUNT + 1, places=0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
)


def is_whole_amount(value: object) -> bool:
    """The meaning of "accepts exactly the ints 0..10**15": the value is that number, exactly
    (an int, or a Decimal or float with no fraction), and never a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= MAX_AMOUNT
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer() and 0 <= value <= MAX_AMOUNT
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value() and 0 <= value <= MAX_AMOUNT
    return False


@fast
@given(amounts)
def test_every_whole_amount_from_zero_to_10_15_is_accepted(value):
    assert check_amount(value) is None
    assert check_amount(Decimal(value)) is None


@fast
@given(anything)
@example(True)
@example(False)
@example(Decimal("1E+99999999"))  # must answer at once, not build a 10**8-digit int
@example(Decimal("-1E+99999999"))
@example(Decimal("1E-99999999"))
@example(Decimal("sNaN"))
@example(float("inf"))
@example(float("nan"))
@example(0.1)
@example(1e15)
@example(1e15 + 2)
@example(Decimal("1000000000000000.0"))
@example(Decimal("1000000000000000.5"))
@example("1000")
def test_check_amount_accepts_exactly_the_whole_numbers_from_zero_to_10_15(value):
    answer = check_amount(value)
    assert (answer is None) == is_whole_amount(value), (value, answer)
    assert answer is None or isinstance(answer, str) and answer


@fast
@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_AMOUNT + 1)))
def test_amounts_out_of_range_say_which_bound(value):
    expected = "cannot be negative" if value < 0 else "may not exceed 10¹⁵"
    message = check_amount(value)
    assert message is not None and expected in message


@fast
@given(
    st.decimals(min_value=-(10**6), max_value=10**6, places=3).filter(
        lambda d: d != d.to_integral_value()
    )
)
def test_fractions_are_refused_as_fractions(value):
    assert check_amount(value) == "Amounts in yen and won have no fractions."


# --------------------------------------------------------------------------- tranches

tranches = st.lists(st.tuples(amounts, amounts), min_size=0, max_size=6)


def non_decreasing(values: list[int]) -> bool:
    return all(a <= b for a, b in zip(values, values[1:], strict=False))


@fast
@given(tranches, st.randoms(use_true_random=False))
def test_no_problem_iff_both_sides_never_shrink(plan, rnd):
    stages = [StageFacts(n + 1, 12, jp, kr, 1) for n, (jp, kr) in enumerate(plan)]
    rnd.shuffle(stages)  # the rule orders by stage number itself

    problems = non_decreasing_problems(stages)

    jp = [p[0] for p in plan]
    kr = [p[1] for p in plan]
    assert (problems == []) == (non_decreasing(jp) and non_decreasing(kr))
    expected_fields = {f"stages.{i}.planned_jpy" for i in range(1, len(jp)) if jp[i] < jp[i - 1]}
    expected_fields |= {f"stages.{i}.planned_krw" for i in range(1, len(kr)) if kr[i] < kr[i - 1]}
    assert {p.field for p in problems} == expected_fields
    assert len(problems) == len(expected_fields)


@fast
@given(st.lists(amounts, min_size=1, max_size=5))
def test_sorted_tranches_always_pass(values):
    ordered = sorted(values)
    stages = [StageFacts(n + 1, 6, v, v, 1) for n, v in enumerate(ordered)]
    assert non_decreasing_problems(stages) == []


# --------------------------------------------------------------------------- consortium

ROLES = ["lead_jp", "lead_kr", "partner", "in_kind"]
members = st.lists(
    st.builds(
        MemberFacts,
        organisation_id=st.integers(min_value=1, max_value=6),
        country=st.sampled_from(["JP", "KR", "US", "DE"]),
        role=st.sampled_from(ROLES),
    ),
    max_size=6,
)


def no_duplicates(ms: list[MemberFacts]) -> bool:
    ids = [m.organisation_id for m in ms]
    return len(ids) == len(set(ids))


def roles_fit_countries(ms: list[MemberFacts]) -> bool:
    return all(
        (m.role != "lead_jp" or m.country == "JP")
        and (m.role != "lead_kr" or m.country == "KR")
        and (m.role != "partner" or m.country in ("JP", "KR"))
        for m in ms
    )


@fast
@given(members)
@example([MemberFacts(1, "JP", "lead_jp"), MemberFacts(2, "KR", "lead_kr")])
@example(
    [
        MemberFacts(1, "JP", "lead_jp"),
        MemberFacts(2, "KR", "lead_kr"),
        MemberFacts(3, "US", "in_kind"),
    ]
)
@example(
    [
        MemberFacts(1, "JP", "lead_jp"),
        MemberFacts(2, "KR", "lead_kr"),
        MemberFacts(3, "US", "partner"),
    ]
)
@example([MemberFacts(1, "KR", "lead_jp"), MemberFacts(2, "KR", "lead_kr")])
@example([MemberFacts(1, "JP", "lead_jp"), MemberFacts(1, "KR", "lead_kr")])
def test_a_complete_consortium_has_no_problem_iff_it_follows_the_rule(ms):
    jp_leads = [m for m in ms if m.role == "lead_jp"]
    kr_leads = [m for m in ms if m.role == "lead_kr"]
    follows_rule = (
        len(jp_leads) == 1
        and jp_leads[0].country == "JP"
        and len(kr_leads) == 1
        and kr_leads[0].country == "KR"
        and no_duplicates(ms)
        and not any(m.role == "partner" and m.country not in ("JP", "KR") for m in ms)
    )
    assert (consortium_problems(ms, complete=True) == []) == follows_rule


@fast
@given(members)
def test_a_draft_consortium_may_be_partial_but_never_wrong(ms):
    at_most_one_lead_per_side = (
        sum(m.role == "lead_jp" for m in ms) <= 1 and sum(m.role == "lead_kr" for m in ms) <= 1
    )
    follows_rule = no_duplicates(ms) and roles_fit_countries(ms) and at_most_one_lead_per_side
    problems = consortium_problems(ms, complete=False)
    assert (problems == []) == follows_rule
    # Draft problems are a subset of submission problems: saving never hides a later refusal.
    assert set(problems) <= set(consortium_problems(ms, complete=True))
