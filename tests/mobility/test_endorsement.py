"""The host organisation's endorsement (§25, as §5) and the call's deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from mobility.models import ApplicationState, VisitApplication
from mobility.services.endorsements import application_endorse, application_return
from projects.models import Call, CallState
from projects.services.calls import call_close
from tests.factories import member_of
from tests.factories.mobility import exchange, submitted_application

pytestmark = pytest.mark.django_db


def test_the_hosts_research_office_endorses_once():
    x = exchange()
    application = submitted_application(x)

    endorsed = application_endorse(application=application, actor=x.host_office, comment="Welcome")

    assert endorsed.state == ApplicationState.ENDORSED
    assert endorsed.endorsed_by_user == x.host_office
    again = application_endorse(application=application, actor=x.host_office)
    assert again.state == ApplicationState.ENDORSED
    assert (
        AuditEvent.objects.filter(
            action="visit_application.endorsed", object_id=str(application.pk)
        ).count()
        == 1
    )


@pytest.mark.parametrize("who", ["visitor", "home_office", "other_office", "officer"])
def test_nobody_else_endorses(who):
    x = exchange()
    application = submitted_application(x)
    actor = {
        "visitor": x.visitor,
        "home_office": x.home_office,
        "other_office": member_of(exchange().host, research_office=True),
        "officer": x.officers.jp,
    }[who]
    with pytest.raises(PermissionDenied):
        application_endorse(application=application, actor=actor)
    application.refresh_from_db()
    assert application.state == ApplicationState.SUBMITTED


def test_the_host_returns_an_application_to_the_visitor_with_a_reason():
    x = exchange()
    application = submitted_application(x)
    with pytest.raises(ValidationFailed):
        application_return(application=application, actor=x.host_office, reason=" ")

    returned = application_return(
        application=application, actor=x.host_office, reason="Pick a later start."
    )

    assert returned.state == ApplicationState.DRAFT
    assert returned.submitted_at is None
    assert returned.version == 3


def test_no_endorsement_after_the_deadline():
    x = exchange()
    application = submitted_application(x)
    with pytest.raises(ValidationFailed):
        application_endorse(
            application=application,
            actor=x.host_office,
            now=x.call.closes_at + timedelta(seconds=1),
        )


def test_a_draft_cannot_be_endorsed():
    x = exchange()
    application = submitted_application(x)
    application_return(application=application, actor=x.host_office, reason="Not yet.")
    with pytest.raises(Conflict):
        application_endorse(application=application, actor=x.host_office)


def test_closing_the_call_makes_the_unendorsed_ineligible_and_leaves_the_endorsed():
    x = exchange()
    waiting = [submitted_application(x, effort_percent=10) for _ in range(3)]
    endorsed = application_endorse(
        application=submitted_application(x, effort_percent=10), actor=x.host_office
    )
    Call.objects.filter(pk=x.call.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    x.call.refresh_from_db()

    call_close(actor=None, call=x.call)

    states = dict(VisitApplication.objects.filter(call=x.call).values_list("pk", "state"))
    assert {states[a.pk] for a in waiting} == {ApplicationState.INELIGIBLE}
    assert states[endorsed.pk] == ApplicationState.ENDORSED
    assert Call.objects.get(pk=x.call.pk).state == CallState.CLOSED
    first = VisitApplication.objects.get(pk=waiting[0].pk)
    assert x.host.name in first.eligibility_reasons[0]
    assert AuditEvent.objects.filter(action="visit_application.ineligible").count() == len(waiting)
