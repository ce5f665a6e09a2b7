"""§2, §24 who may do what with an amendment, at the service level, the way the browser and
the API ask it: fetch the project through ``get_project_for_actor`` (not visible → 404),
then call the service (allowed, or PermissionDenied with nothing changed). The matrix is
role × own / other project × action."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from fundapp.accounts.models import Role
from fundapp.errors import NotFound, PermissionDenied
from projects.models import Amendment, AmendmentDecision, ProjectPerson
from projects.selectors.projects import get_project_for_actor
from projects.services.amendments import (
    amendment_approve,
    amendment_decline,
    amendment_propose,
    amendment_withdraw,
)
from tests.factories import UserFactory, jp_org, member_of
from tests.factories.amendments import AmendWorld, amend_world, propose
from tests.factories.engine import award, engine_proposal

pytestmark = pytest.mark.django_db

ALLOWED, DENIED, HIDDEN = "allowed", "PermissionDenied", "not visible"

ACTORS = (
    "PI of the project",
    "PI of another project",
    "co-investigator",
    "other researcher",
    "officer JP",
    "officer KR",
    "finance officer",
    "reviewer",
)

EXPECTED = {
    # actor: (propose, approve, decline, withdraw)
    "PI of the project": (ALLOWED, DENIED, DENIED, ALLOWED),
    "PI of another project": (HIDDEN, HIDDEN, HIDDEN, HIDDEN),
    "co-investigator": (DENIED, DENIED, DENIED, DENIED),
    "other researcher": (HIDDEN, HIDDEN, HIDDEN, HIDDEN),
    "officer JP": (ALLOWED, ALLOWED, ALLOWED, DENIED),
    "officer KR": (ALLOWED, ALLOWED, ALLOWED, DENIED),
    "finance officer": (DENIED, DENIED, DENIED, DENIED),
    "reviewer": (HIDDEN, HIDDEN, HIDDEN, HIDDEN),
}
ACTIONS = ("propose", "approve", "decline", "withdraw")


def _actor(w: AmendWorld, name: str):
    if name == "PI of the project":
        return w.c.pi_jp
    if name == "PI of another project":
        proposal, other = engine_proposal()
        award(proposal, w.staff)
        return other.pi_jp
    if name == "co-investigator":
        person = member_of(w.c.jp)
        ProjectPerson.objects.create(
            project=w.project,
            organisation=w.c.jp,
            user=person,
            role="co_investigator",
            effort_percent=10,
        )
        assign_perm("projects.view_project", person, w.project)
        return person
    if name == "other researcher":
        return member_of(jp_org())
    if name == "officer JP":
        return w.staff.jp
    if name == "officer KR":
        return w.staff.kr
    if name == "finance officer":
        return w.staff.finance_jp
    return UserFactory.create(role=Role.REVIEWER)


def _outcome(w: AmendWorld, actor, action: str) -> str:
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    before = (Amendment.objects.count(), AmendmentDecision.objects.count())
    try:
        project = get_project_for_actor(actor, w.project.pk)
    except NotFound:
        return HIDDEN
    try:
        if action == "propose":
            amendment_propose(
                project=project,
                actor=actor,
                changes=[{"kind": "kpi", "kpi": w.kpi_id("K2B"), "weight": "4"}],
                reason="Weigh it more.",
            )
        elif action == "approve":
            amendment_approve(amendment=amendment, actor=actor)
        elif action == "decline":
            amendment_decline(amendment=amendment, actor=actor, reason="No.")
        else:
            amendment_withdraw(amendment=amendment, actor=actor)
    except PermissionDenied:
        assert (Amendment.objects.count(), AmendmentDecision.objects.count()) == before
        amendment.refresh_from_db()
        assert amendment.state == "proposed"
        return DENIED
    return ALLOWED


@pytest.mark.parametrize("name", ACTORS)
def test_who_may_propose_approve_decline_and_withdraw(name):
    w = amend_world()
    actor = _actor(w, name)
    found = tuple(_outcome(w, actor, action) for action in ACTIONS)
    assert found == EXPECTED[name], dict(zip(ACTIONS, found, strict=True))
