"""The final gate needs the project's results registered (§7, §10.1)."""

from __future__ import annotations

import pytest

from fundapp.errors import Conflict
from fundapp.notifications.messages import notifications_render
from fundapp.notifications.models import Notification
from ip_licensing.services.assets import asset_register
from projects.models import ProjectState
from projects.services.decisions import final_gate_requirements_met, gate_decision_approve
from tests.factories.engine import (
    award,
    engine_proposal,
    evaluate,
    fund_pools,
    gate_of,
    make_staff,
)
from tests.factories.licences import background_asset

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upfront_posts")]

MESSAGE = "Register the project's results (IP assets with their owner) before the final gate."


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def project_and_consortium(staff):
    fund_pools(staff)
    proposal, c = engine_proposal()
    return award(proposal, staff), c


def test_a_project_without_registered_results_cannot_complete(staff, project_and_consortium):
    project, c = project_and_consortium
    # Background IP of a consortium organisation is no result of the project.
    background_asset(c.office_jp, c.jp)
    assert final_gate_requirements_met(project) == (False, MESSAGE)

    evaluate(gate_of(project, 1), outcome="pass", score="1.0000")
    assert evaluate(gate_of(project, 2), outcome="pass", score="1.0000") is None
    # The officers are told why, by the requirement's name, read in their language.
    told = Notification.objects.filter(message="gate.decision_needed", user=staff.jp).latest("id")
    assert told.params["reason"] == "ip_licensing.results_registered" and told.body == ""
    assert notifications_render([told], language="en")[0].shown_body == MESSAGE
    with pytest.raises(Conflict, match="Register the project's results"):
        gate_decision_approve(gate=gate_of(project, 2), actor=staff.jp, kind="release")
    project.refresh_from_db()
    assert project.state == ProjectState.ACTIVE

    asset_register(
        actor=c.pi_kr,
        data={"kind": "software", "title_en": "Runtime", "owner": c.kr.code, "project": project.pk},
    )
    assert final_gate_requirements_met(project) == (True, "")
    decision = evaluate(gate_of(project, 2), outcome="pass", score="1.0000")
    project.refresh_from_db()
    assert decision is not None
    assert project.state == ProjectState.COMPLETED
