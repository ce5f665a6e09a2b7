"""Payment confirmation and contributions (§9, §14): who may, and exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command

from fundapp.accounts.models import ApiKey, Organisation, Scope
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.ledger.models import Transaction
from fundapp.ledger.selectors import account_balance
from projects.models import Disbursement, DisbursementState
from projects.services.payments import disbursement_confirm, fund_contribute
from projects.services.projects import tokyo_today
from projects.services.tranches import tranche_release
from tests.factories import FundFactory, OrganisationFactory
from tests.factories.engine import award, engine_proposal, fund_pools, make_staff, payable, tranche

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def released(staff):
    fund_pools(staff)
    proposal, c = engine_proposal()
    project = award(proposal, staff)
    tranche_release(tranche_id=tranche(project, 1, "JP").pk)
    return Disbursement.objects.get(tranche=tranche(project, 1, "JP")), c


def _key(country: str, kind: str, scopes: list[str]) -> ApiKey:
    org = OrganisationFactory.create(
        code=f"AG-{country}-{kind[:3].upper()}", country=country, kind=kind
    )
    key_id, secret, _full = ApiKey.generate()
    return ApiKey.objects.create(
        organisation=org, name="finance", key_id=key_id, secret_hash=secret, scopes=scopes
    )


def test_a_finance_officer_confirms_a_payment_once_and_a_repeat_is_idempotent(staff, released):
    disbursement, c = released
    today = tokyo_today()

    paid = disbursement_confirm(
        disbursement=disbursement, actor=staff.finance_jp, paid_on=today, reference="BANK-77"
    )
    again = disbursement_confirm(
        disbursement=disbursement, actor=staff.finance_jp, paid_on=today, reference="BANK-77"
    )

    assert (paid.state, paid.paid_on, paid.reference) == (DisbursementState.PAID, today, "BANK-77")
    assert paid.confirmed_by == staff.finance_jp
    assert again.ledger_transaction_id == paid.ledger_transaction_id
    assert Transaction.objects.filter(reference=f"disbursement:{paid.pk}:confirm").count() == 1
    assert payable(c.jp.pk, "JPY") == 0
    assert account_balance(f"org:{c.jp.pk}:JPY:paid") == 40_000_000
    assert AuditEvent.objects.filter(action="disbursement.confirmed").count() == 1
    with pytest.raises(Conflict):
        disbursement_confirm(
            disbursement=disbursement, actor=staff.finance_jp, paid_on=today, reference="BANK-78"
        )
    with pytest.raises(Conflict):
        disbursement_confirm(
            disbursement=disbursement,
            actor=staff.finance_jp,
            paid_on=today - timedelta(days=1),
            reference="BANK-77",
        )
    call_command("check_ledger")


def test_only_the_sides_finance_officer_or_agency_system_may_confirm(staff, released):
    disbursement, c = released
    today = tokyo_today()

    for actor in (staff.finance_kr, staff.jp, c.pi_jp):
        with pytest.raises(PermissionDenied):
            disbursement_confirm(
                disbursement=disbursement, actor=actor, paid_on=today, reference="X"
            )
    for key in (
        _key("KR", Organisation.Kind.AGENCY, [Scope.PAYMENTS_WRITE]),
        _key("JP", Organisation.Kind.UNIVERSITY, [Scope.PAYMENTS_WRITE]),
        _key("JP", Organisation.Kind.AGENCY, [Scope.PROJECTS_READ]),
    ):
        with pytest.raises(PermissionDenied):
            disbursement_confirm(disbursement=disbursement, actor=key, paid_on=today, reference="X")

    agency = _key("JP", Organisation.Kind.AGENCY, [Scope.PAYMENTS_WRITE])
    paid = disbursement_confirm(
        disbursement=disbursement, actor=agency, paid_on=today, reference="JST-1"
    )
    assert (paid.confirmed_by, paid.confirmed_by_api_key) == (None, agency)


def test_bad_payment_input_is_refused_with_field_errors(staff, released):
    disbursement, _c = released

    with pytest.raises(ValidationFailed) as future:
        disbursement_confirm(
            disbursement=disbursement,
            actor=staff.finance_jp,
            paid_on=tokyo_today() + timedelta(days=1),
            reference="X",
        )
    assert "paid_on" in future.value.errors
    with pytest.raises(ValidationFailed) as blank:
        disbursement_confirm(
            disbursement=disbursement, actor=staff.finance_jp, paid_on=tokyo_today(), reference=" "
        )
    assert "reference" in blank.value.errors
    disbursement.refresh_from_db()
    assert disbursement.state == DisbursementState.PAYABLE


def test_contributions_are_idempotent_by_reference_and_validated(staff):
    fund = FundFactory.create()

    first = fund_contribute(
        fund=fund, side="KR", amount=5_000, to="reserve", actor=staff.kr, reference="NRF-2026-1"
    )
    again = fund_contribute(
        fund=fund, side="KR", amount=5_000, to="reserve", actor=staff.kr, reference="NRF-2026-1"
    )

    assert first.pk == again.pk
    assert account_balance("fund:KR:reserve") == 5_000
    assert account_balance("agency:KR") == -5_000
    with pytest.raises(Conflict):
        fund_contribute(
            fund=fund, side="KR", amount=6_000, to="reserve", actor=staff.kr, reference="NRF-2026-1"
        )
    for bad in ({"amount": 0}, {"amount": 1.5}, {"side": "US"}, {"to": "project"}):
        kwargs: dict[str, Any] = {"side": "JP", "amount": 1, "to": "pool", "reference": "r"} | bad
        with pytest.raises(ValidationFailed):
            fund_contribute(fund=fund, actor=staff.jp, **kwargs)
    with pytest.raises(PermissionDenied):
        fund_contribute(
            fund=fund,
            side="JP",
            amount=1,
            to="pool",
            actor=None,  # type: ignore[arg-type]  # a missing actor, on purpose
            reference="r",
        )
