"""Visit applications (§25 with §4's deadline and §5's effort rule): the wizard's saves,
the rules of a submission, withdrawal, and research and mobility calls kept apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from mobility.models import ApplicationState
from mobility.services.applications import (
    application_create,
    application_submit,
    application_update,
    application_withdraw,
)
from projects.models import PersonRole, ProposalPerson, ProposalState
from projects.services.proposals import proposal_create
from tests.factories import CallFactory, OrganisationFactory, UserFactory, member_of
from tests.factories.mobility import (
    draft_application,
    exchange,
    submitted_application,
    us_org,
)
from tests.factories.proposals import complete_proposal
from tests.workflow_states import force_state

pytestmark = pytest.mark.django_db


def _errors(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return exc.value.errors or {}


def test_a_submission_is_audited_and_awaits_the_hosts_endorsement():
    x = exchange()
    application = draft_application(x)
    assert application.version == 2

    submitted = application_submit(application=application, actor=x.visitor)

    assert submitted.state == ApplicationState.SUBMITTED
    assert submitted.submitted_at is not None
    assert AuditEvent.objects.filter(
        action="visit_application.submitted", object_id=str(submitted.pk)
    ).exists()


def test_a_research_call_takes_no_visit_application_and_a_mobility_call_no_proposal():
    x = exchange()
    with pytest.raises(ValidationFailed) as refused:
        application_create(
            actor=x.visitor,
            call=CallFactory.create(),
            data={"home_organisation": x.home.pk, "host_organisation": x.host.pk},
        )
    assert "call" in _errors(refused)
    with pytest.raises(ValidationFailed) as refused:
        proposal_create(actor=x.visitor, call=x.call)
    assert "call" in _errors(refused)


@pytest.mark.parametrize(
    ("home_country", "host_country", "eligible", "field"),
    [
        ("JP", "JP", ["JP", "KR", "US"], "host_organisation"),
        ("JP", "US", ["JP", "KR"], "host_organisation"),
        ("US", "KR", ["JP", "KR"], "home_organisation"),
        ("CN", "KR", ["JP", "KR", "US"], "home_organisation"),
    ],
)
def test_the_two_countries_differ_and_the_call_takes_both(
    home_country, host_country, eligible, field
):
    x = exchange(eligible_countries=eligible)
    home = OrganisationFactory.create(code=f"{home_country}-HOMEX", country=home_country)
    host = OrganisationFactory.create(code=f"{host_country}-HOSTX", country=host_country)
    x.visitor.memberships.create(organisation=home)
    with pytest.raises(ValidationFailed) as refused:
        application_create(
            actor=x.visitor,
            call=x.call,
            data={"home_organisation": home.pk, "host_organisation": host.pk},
        )
    assert field in _errors(refused)


def test_the_home_organisation_is_one_of_the_visitors():
    x = exchange()
    with pytest.raises(ValidationFailed) as refused:
        application_create(
            actor=x.visitor,
            call=x.call,
            data={"home_organisation": us_org().pk, "host_organisation": x.host.pk},
        )
    assert "home_organisation" in _errors(refused)


def test_months_stay_within_the_calls_bounds():
    x = exchange(min_months=3, max_months=6)
    application = draft_application(x, months=9)
    with pytest.raises(ValidationFailed) as refused:
        application_submit(application=application, actor=x.visitor)
    assert "months" in _errors(refused)
    assert application.state == ApplicationState.DRAFT


def test_a_submission_after_the_deadline_is_refused_whatever_the_clients_clock():
    x = exchange()
    application = draft_application(x)
    with pytest.raises(ValidationFailed) as refused:
        application_submit(
            application=application,
            actor=x.visitor,
            now=x.call.closes_at + timedelta(seconds=1),
        )
    assert "call" in _errors(refused)


def test_effort_over_proposals_and_visits_stays_within_a_hundred_percent():
    x = exchange()
    first = submitted_application(x, effort_percent=60)
    assert first.state == ApplicationState.SUBMITTED
    second = draft_application(x, effort_percent=50)
    with pytest.raises(ValidationFailed) as refused:
        application_submit(application=second, actor=x.visitor)
    assert "effort_percent" in _errors(refused)

    # The proposals' rule counts the pending visit too (registered with the kernel).
    proposal, _consortium = complete_proposal()
    person = ProposalPerson.objects.filter(proposal=proposal, role=PersonRole.PI).first()
    assert person is not None
    ProposalPerson.objects.filter(pk=person.pk).update(user=x.visitor, effort_percent=50)
    from projects.services.proposals import eligibility_problems

    problems = eligibility_problems(proposal).as_dict()
    assert "110%" in problems["people"][0], problems
    assert proposal.state == ProposalState.DRAFT


def test_a_stale_save_answers_409_and_changes_nothing():
    x = exchange()
    application = draft_application(x)
    application_update(
        application=application, actor=x.visitor, data={"months": 4}, expected_version=2
    )
    with pytest.raises(Conflict) as stale:
        application_update(
            application=application, actor=x.visitor, data={"months": 5}, expected_version=2
        )
    assert stale.value.code == "stale_version"
    application.refresh_from_db()
    assert application.months == 4


def test_bad_input_answers_translated_field_errors():
    x = exchange()
    application = draft_application(x)
    with pytest.raises(ValidationFailed) as refused:
        application_update(
            application=application,
            actor=x.visitor,
            data={
                "months": "many",
                "planned_start": "next spring",
                "host_supervisor_email": "not an address",
                "research_area": 999999,
                "colour": "blue",
            },
        )
    assert set(_errors(refused)) == {
        "months",
        "planned_start",
        "host_supervisor_email",
        "research_area",
        "colour",
    }


def test_only_the_visitor_changes_submits_and_withdraws():
    x = exchange()
    application = draft_application(x)
    stranger = member_of(x.home)
    for attempt in (
        lambda: application_update(application=application, actor=stranger, data={"months": 2}),
        lambda: application_submit(application=application, actor=stranger),
        lambda: application_withdraw(application=application, actor=stranger),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    withdrawn = application_withdraw(
        application=application, actor=x.visitor, reason="Changed plans"
    )
    assert withdrawn.state == ApplicationState.WITHDRAWN


def test_an_officer_cannot_apply():
    x = exchange()
    with pytest.raises(PermissionDenied):
        application_create(
            actor=x.officers.jp,
            call=x.call,
            data={"home_organisation": x.home.pk, "host_organisation": x.host.pk},
        )


def test_a_closed_call_takes_no_new_application():
    x = exchange()
    force_state(x.call, "closed")
    x.call.closes_at = timezone.now() - timedelta(minutes=1)
    with pytest.raises(ValidationFailed):
        application_create(
            actor=UserFactory.create(),
            call=x.call,
            data={"home_organisation": x.home.pk, "host_organisation": x.host.pk},
        )
