"""§5 budget and §17 amounts: each side's budget equals its tranches; only consortium
organisations inside Japan and Korea are funded; amounts are whole yen/won in 0..10¹⁵."""

from decimal import Decimal

import pytest

from projects.models import BudgetLine, ProposalStage, ProposalState
from tests.factories import OrganisationFactory, jp_org, member_of
from tests.factories.proposals import complete_proposal

from .refusals import refused, save, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def line(org, amount, category="personnel"):
    return {"organisation": org.code, "category": category, "amount": amount}


def consortium_with(c, *extra):
    return {
        "members": [
            {"organisation": c.jp.code, "role": "lead_jp"},
            {"organisation": c.kr.code, "role": "lead_kr"},
            *({"organisation": org.code, "role": role} for org, role in extra),
        ],
        "people": [
            {"user": c.pi_jp.pk, "organisation": c.jp.code, "role": "pi", "effort_percent": 30},
            {"user": c.pi_kr.pk, "organisation": c.kr.code, "role": "pi", "effort_percent": 30},
        ],
    }


@pytest.mark.parametrize(
    ("jpy", "krw", "message"),
    [
        (
            90_000_000,
            1_000_000_000,
            "The JP budget (¥90,000,000) must equal the JP tranches (¥100,000,000).",
        ),
        (
            100_000_000,
            1_000_000_001,
            "The KR budget (₩1,000,000,001) must equal the KR tranches (₩1,000,000,000).",
        ),
    ],
)
def test_each_sides_budget_must_equal_its_tranches_at_submit(jpy, krw, message):
    proposal, c = complete_proposal()  # tranches: ¥100,000,000 and ₩1,000,000,000
    save(proposal, c.pi_jp, budget=[line(c.jp, jpy), line(c.kr, krw)])
    with refused(proposal, field="budget", message=message) as info:
        submit(proposal, c.pi_jp)
    assert set(info.value.errors) == {"budget"}


def test_a_budget_split_over_categories_and_partners_that_adds_up_is_accepted():
    proposal, c = complete_proposal()
    partner = jp_org()
    member_of(partner)
    save(
        proposal,
        c.pi_jp,
        consortium=consortium_with(c, (partner, "partner")),
        budget=[
            line(c.jp, 50_000_000),
            line(c.jp, 20_000_000, "equipment"),
            line(partner, 30_000_000),
            line(c.kr, 1_000_000_000),
        ],
    )
    assert submit(proposal, c.pi_jp).state == ProposalState.SUBMITTED
    assert sorted(
        BudgetLine.objects.filter(proposal=proposal).values_list("currency", "amount")
    ) == [
        ("JPY", 20_000_000),
        ("JPY", 30_000_000),
        ("JPY", 50_000_000),
        ("KRW", 1_000_000_000),
    ]


def test_an_in_kind_partner_outside_japan_and_korea_gets_no_budget():
    proposal, c = complete_proposal()
    us = OrganisationFactory.create(code="US-LAB", country="US")
    save(proposal, c.pi_jp, consortium=consortium_with(c, (us, "in_kind")))
    with refused(
        proposal,
        field="budget.2.organisation",
        message="In-kind partners outside Japan and Korea receive no funding.",
    ):
        save(
            proposal,
            c.pi_jp,
            budget=[line(c.jp, 100_000_000), line(c.kr, 1_000_000_000), line(us, 1)],
        )


def test_an_in_kind_partner_inside_japan_gets_no_budget_either():
    """Decision: "in kind" means unfunded, whatever the country (§3)."""
    proposal, c = complete_proposal()
    in_kind = jp_org()
    save(proposal, c.pi_jp, consortium=consortium_with(c, (in_kind, "in_kind")))
    with refused(
        proposal, field="budget.2.organisation", message="In-kind partners receive no funding."
    ):
        save(
            proposal,
            c.pi_jp,
            budget=[line(c.jp, 90_000_000), line(c.kr, 1_000_000_000), line(in_kind, 10_000_000)],
        )


def test_a_budget_for_an_organisation_outside_the_consortium_is_refused():
    proposal, c = complete_proposal()
    stranger = jp_org()
    with refused(
        proposal,
        field="budget.2.organisation",
        message="This organisation is not in the consortium.",
    ):
        save(
            proposal,
            c.pi_jp,
            budget=[line(c.jp, 90_000_000), line(c.kr, 1_000_000_000), line(stranger, 10_000_000)],
        )


def test_a_budget_left_behind_by_a_consortium_change_is_refused_at_submit():
    proposal, c = complete_proposal()
    partner = jp_org()
    save(
        proposal,
        c.pi_jp,
        consortium=consortium_with(c, (partner, "partner")),
        budget=[line(c.jp, 90_000_000), line(c.kr, 1_000_000_000), line(partner, 10_000_000)],
    )
    save(proposal, c.pi_jp, consortium=consortium_with(c))
    with refused(
        proposal,
        field="budget",
        message=f"{partner.name} has a budget but is not in the consortium.",
    ):
        submit(proposal, c.pi_jp)


def test_the_currency_follows_the_organisations_country():
    proposal, c = complete_proposal()
    with refused(
        proposal,
        field="budget.0.currency",
        message="Organisations in Japan budget in JPY, organisations in Korea in KRW.",
    ):
        save(
            proposal,
            c.pi_jp,
            budget=[{**line(c.jp, 100_000_000), "currency": "KRW"}, line(c.kr, 1_000_000_000)],
        )


def test_two_lines_in_one_category_for_one_organisation_are_refused():
    proposal, c = complete_proposal()
    with refused(proposal, field="budget.1.category"):
        save(proposal, c.pi_jp, budget=[line(c.jp, 1), line(c.jp, 2), line(c.kr, 3)])


BAD_AMOUNTS = [
    ("1.5", "Amounts in yen and won have no fractions."),
    (1.5, "Amounts in yen and won have no fractions."),
    (Decimal("0.1"), "Amounts in yen and won have no fractions."),
    ("12,000,000.50", "Amounts in yen and won have no fractions."),
    (-1, "An amount cannot be negative."),
    ("-5", "An amount cannot be negative."),
    (10**15 + 1, "An amount may not exceed 10¹⁵."),
    ("1e16", "An amount may not exceed 10¹⁵."),
    ("1E+99999999", "An amount may not exceed 10¹⁵."),  # must answer at once, not build the int
    ("abc", "Enter a whole amount."),
    ("NaN", "Enter a whole amount."),
    (float("inf"), "Enter a whole amount."),
    (True, "Enter a whole amount."),
    ([1], "Enter a whole amount."),
    (None, "This field is required."),
    ("", "This field is required."),
]


@pytest.mark.parametrize(("value", "message"), BAD_AMOUNTS, ids=[repr(v) for v, _ in BAD_AMOUNTS])
def test_bad_budget_amounts_are_refused(value, message):
    proposal, c = complete_proposal()
    with refused(proposal, field="budget.0.amount", message=message):
        save(proposal, c.pi_jp, budget=[line(c.jp, value), line(c.kr, 1_000_000_000)])


@pytest.mark.parametrize(
    ("value", "message"), BAD_AMOUNTS[:8], ids=[repr(v) for v, _ in BAD_AMOUNTS[:8]]
)
def test_bad_tranche_amounts_are_refused(value, message):
    from tests.factories.proposals import stages

    proposal, c = complete_proposal()
    plan = stages()
    plan[1]["planned_krw"] = value
    with refused(proposal, field="stages.1.planned_krw", message=message):
        save(proposal, c.pi_jp, stages=plan)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("12,000,000", 12_000_000),
        (" 12000000 ", 12_000_000),
        (12_000_000.0, 12_000_000),
        (Decimal("12000000.000"), 12_000_000),
        (0, 0),
        (10**15, 10**15),
    ],
)
def test_whole_amounts_are_accepted_and_stored_as_integers(value, stored):
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, budget=[line(c.jp, value), line(c.kr, 1_000_000_000)])
    amount = BudgetLine.objects.get(proposal=proposal, organisation=c.jp).amount
    assert amount == stored and type(amount) is int


def test_a_tranche_written_with_thousands_separators_is_stored_as_an_integer():
    from tests.factories.proposals import stages

    proposal, c = complete_proposal()
    plan = stages()
    plan[0]["planned_jpy"] = "40,000,000"
    save(proposal, c.pi_jp, stages=plan)
    assert ProposalStage.objects.get(proposal=proposal, number=1).planned_jpy == 40_000_000


def test_a_partner_turned_in_kind_after_budgeting_is_refused_at_submit():
    proposal, c = complete_proposal()
    partner = jp_org()
    save(
        proposal,
        c.pi_jp,
        consortium=consortium_with(c, (partner, "partner")),
        budget=[line(c.jp, 90_000_000), line(c.kr, 1_000_000_000), line(partner, 10_000_000)],
    )
    save(proposal, c.pi_jp, consortium=consortium_with(c, (partner, "in_kind")))
    with refused(
        proposal,
        field="budget",
        message=f"{partner.name} is an in-kind partner and receives no funding.",
    ):
        submit(proposal, c.pi_jp)
