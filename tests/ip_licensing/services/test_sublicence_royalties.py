"""Sublicence income (§23): reported with the parent's quarterly royalty report, the
parent's ``sublicence_share_bp`` of it due (round half up) and split like royalties
(§10.5) — sums exact, the ledger clean (``check_ledger``)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fundapp.errors import ValidationFailed
from fundapp.ledger.selectors import account_balance, ledger_verify
from ip_licensing import rules
from ip_licensing.services.royalties import royalty_report_submit
from tests.factories.licensing import days, make_project_world, project_licence

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def current_quarter() -> str:
    today = days(0)
    return rules.format_quarter(today.year, (today.month - 1) // 3 + 1)


@pytest.fixture
def pw(db):
    return make_project_world()


@pytest.fixture
def licence(pw):
    """3.5 % of net sales, 50,000 a quarter at least, and a quarter of sublicence income."""
    return project_licence(
        pw, start_on=days(-200).isoformat(), sublicensable=True, sublicence_share_bp=2500
    )


def report(pw, licence, net_sales, income):
    return royalty_report_submit(
        licence=licence,
        actor=pw.office_licensee,
        quarter=current_quarter(),
        net_sales=net_sales,
        sublicence_income=income,
    )


def posted_legs(row) -> dict[str, int]:
    return dict(row.ledger_transaction.entries.values_list("account__code", "amount"))


@pytest.mark.parametrize(
    ("income", "share_due"),
    [
        (0, 0),
        (1_000_000, 250_000),
        (1_000_002, 250_001),  # 250,000.5 rounds half up
        (1_000_001, 250_000),  # 250,000.25 rounds down
    ],
)
def test_the_share_of_sublicence_income_is_due_with_the_royalty(pw, licence, income, share_due):
    row = report(pw, licence, 10_000_000, income)
    assert (row.royalty_due, row.sublicence_income, row.sublicence_due) == (
        350_000,
        income,
        share_due,
    )
    assert row.posted_amount == 350_000 + share_due
    legs = posted_legs(row)
    assert sum(legs.values()) == 0
    assert legs[f"licensee:{pw.licensee.pk}:JPY"] == -(350_000 + share_due)
    # split like a royalty: the fund's 10 % first, the rest 60/40 by the table
    fund_part, parts = rules.royalty_split(
        350_000 + share_due, 1000, [(pw.partner_jp.pk, 6000), (pw.partner_kr.pk, 4000)]
    )
    assert account_balance("fund:JP:pool") == fund_part
    for org_id, part in parts:
        assert account_balance(f"org:{org_id}:JPY:payable") == part
    call_command("check_ledger")


def test_a_correction_of_the_income_alone_posts_the_difference(pw, licence):
    report(pw, licence, 10_000_000, 1_000_000)
    second = report(pw, licence, 10_000_000, 1_400_000)
    assert second.posted_amount == 100_000  # 25 % of 400,000 more
    third = report(pw, licence, 10_000_000, 0)
    assert third.posted_amount == -350_000
    assert account_balance(f"licensee:{pw.licensee.pk}:JPY") == -350_000
    call_command("check_ledger")


@pytest.mark.parametrize("income", [-1, "12", 1.5, True])
def test_malformed_income_is_refused(pw, licence, income):
    with pytest.raises(ValidationFailed) as refused:
        report(pw, licence, 10_000_000, income)
    assert set(refused.value.errors) == {"sublicence_income"}


def test_a_licence_that_is_not_sublicensable_has_no_sublicence_income(pw):
    plain = project_licence(pw, start_on=days(-200).isoformat())
    with pytest.raises(ValidationFailed) as refused:
        report(pw, plain, 10_000_000, 5)
    assert "not sublicensable" in refused.value.errors["sublicence_income"][0]
    assert report(pw, plain, 10_000_000, 0).sublicence_due == 0


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    share_bp=st.integers(0, 10_000),
    reports=st.lists(
        st.tuples(st.integers(0, 10**9), st.integers(0, 10**12)), min_size=1, max_size=3
    ),
)
def test_sublicence_income_always_splits_exactly_and_keeps_the_ledger_clean(pw, share_bp, reports):
    with transaction.atomic():
        licence = project_licence(
            pw,
            start_on=days(-200).isoformat(),
            end_on=days(200).isoformat(),
            sublicensable=True,
            sublicence_share_bp=share_bp,
        )
        expected_total = 0
        for net_sales, income in reports:
            try:
                row = report(pw, licence, net_sales, income)
            except Exception as exc:  # a repeated report changes nothing
                assert getattr(exc, "code", "") == "royalty_report_unchanged"
                continue
            due = rules.royalty_due(net_sales, licence.royalty_rate, 200_000)
            assert row.sublicence_due == rules.sublicence_due(income, share_bp)
            assert row.royalty_due == due
            expected_total = due + row.sublicence_due
            if row.ledger_transaction is not None:
                legs = posted_legs(row)
                assert sum(legs.values()) == 0
                assert -legs[f"licensee:{pw.licensee.pk}:JPY"] == row.posted_amount
        received = (
            account_balance("fund:JP:pool")
            + account_balance(f"org:{pw.partner_jp.pk}:JPY:payable")
            + account_balance(f"org:{pw.partner_kr.pk}:JPY:payable")
        )
        assert received == expected_total == -account_balance(f"licensee:{pw.licensee.pk}:JPY")
        verified = ledger_verify()
        assert verified.ok, verified.breaches
        transaction.set_rollback(True)


def test_the_end_of_the_term_still_takes_the_income(pw):
    licence = project_licence(
        pw,
        start_on=days(-200).isoformat(),
        end_on=days(1).isoformat(),
        sublicensable=True,
        sublicence_share_bp=10_000,
    )
    from ip_licensing.services.licences import licences_activate_and_expire

    licences_activate_and_expire(today=days(2))
    licence.refresh_from_db()
    assert licence.state == "expired"
    row = report(pw, licence, 0, 80_000)
    assert row.sublicence_due == 80_000
