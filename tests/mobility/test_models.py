"""What the database itself holds the talent exchange's rows to (§25): the workflow
tables as triggers, the amounts, the months and the exactly-once payments."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, ProgrammingError, transaction

from fundapp.ledger.services import ledger_post
from mobility.models import (
    ApplicationState,
    MobilityTerms,
    PaymentKind,
    VisitApplication,
    VisitPayment,
    VisitState,
)
from projects.models import Call, CallKind
from tests.factories import CallFactory
from tests.factories.mobility import (
    MobilityCallFactory,
    VisitApplicationFactory,
    VisitFactory,
    us_org,
)
from tests.workflow_states import force_state

pytestmark = pytest.mark.django_db


def test_a_call_is_a_research_call_unless_made_a_mobility_call():
    assert CallFactory.create().kind == CallKind.RESEARCH
    call = MobilityCallFactory.create()
    assert call.kind == CallKind.MOBILITY
    terms = call.mobility_terms
    assert (terms.min_months, terms.max_months) == (1, 12)
    assert terms.eligible_countries == ["JP", "KR", "US"]


@pytest.mark.parametrize(
    "values",
    [
        {"min_months": 0},
        {"max_months": 13},
        {"min_months": 6, "max_months": 3},
        {"stipend_month_jpy": -1},
        {"travel_krw": -1},
        {"eligible_countries": ["JP", "CN"]},
        {"eligible_countries": ["JP"]},
    ],
)
def test_the_database_refuses_terms_out_of_bounds(values):
    call = CallFactory.create(kind=CallKind.MOBILITY)
    with pytest.raises(IntegrityError), transaction.atomic():
        MobilityTerms.objects.create(call=call, **values)


def test_an_application_cannot_jump_from_draft_to_awarded():
    application = VisitApplicationFactory.create()
    with pytest.raises(ProgrammingError, match="Invalid transition"), transaction.atomic():
        VisitApplication.objects.filter(pk=application.pk).update(state=ApplicationState.AWARDED)
    force_state(application, ApplicationState.AWARDED)
    application.refresh_from_db()
    assert application.state == ApplicationState.AWARDED


def test_a_submission_carries_every_step_of_the_wizard():
    with pytest.raises(IntegrityError), transaction.atomic():
        VisitApplicationFactory.create(state=ApplicationState.SUBMITTED, months=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        VisitApplicationFactory.create(
            state=ApplicationState.SUBMITTED, title_en="", title_ja="", title_ko=""
        )
    # A draft may lack them.
    assert VisitApplicationFactory.create(months=None, title_en="", title_ja="", title_ko="")


def test_the_host_is_not_the_home_organisation():
    org = us_org()
    with pytest.raises(IntegrityError), transaction.atomic():
        VisitApplicationFactory.create(home_organisation=org, host_organisation=org)


def test_a_visit_is_paid_in_its_side_currency_and_commits_every_month_and_the_travel():
    visit = VisitFactory.create()
    assert (visit.paying_side, visit.currency) == ("KR", "KRW")
    assert visit.payee == visit.application.host_organisation
    assert visit.committed_amount == 6 * 3_000_000 + 2_000_000
    assert visit.state == VisitState.AWARDED
    with pytest.raises(IntegrityError), transaction.atomic():
        VisitFactory.create(currency="JPY")


def test_an_active_visit_has_arrived_and_an_ended_one_has_left():
    visit = VisitFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        force_state(visit, VisitState.ACTIVE)
    force_state(visit, VisitState.ACTIVE, arrived_on=date(2027, 4, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        force_state(visit, VisitState.ENDED, ended_on=date(2027, 3, 1))
    force_state(visit, VisitState.ENDED, ended_on=date(2027, 6, 30))


def test_each_payment_is_made_once():
    visit = VisitFactory.create()

    def posted(reference: str):
        return ledger_post(
            kind="adjustment",
            currency="KRW",
            legs=[("agency:KR", -1), ("fund:KR:pool", 1)],
            reference=reference,
        )

    VisitPayment.objects.create(
        visit=visit, kind=PaymentKind.STIPEND, month=1, amount=1, transaction=posted("t1")
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        VisitPayment.objects.create(
            visit=visit, kind=PaymentKind.STIPEND, month=1, amount=1, transaction=posted("t2")
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        VisitPayment.objects.create(
            visit=visit, kind=PaymentKind.TRAVEL, month=1, amount=1, transaction=posted("t3")
        )
    assert Call.objects.count() == 1
