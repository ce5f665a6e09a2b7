"""§2 who may do what to a proposal, at the service level, the way the browser and the API
ask it: fetch through ``get_proposal_for_actor`` (not visible → 404), then call the service
(allowed, or PermissionDenied with nothing changed). Visibility is one SQL query."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from fundapp.accounts.models import ApiKey, Organisation, Scope, User
from fundapp.audit.models import AuditEvent
from fundapp.errors import NotFound, PermissionDenied
from projects.models import Endorsement, Proposal, ProposalState
from projects.selectors.proposals import get_proposal_for_actor, proposals_visible_to
from projects.services import proposals as svc
from tests.factories import jp_org, member_of, officer
from tests.factories.proposals import (
    Consortium,
    complete_changes,
    complete_proposal,
    make_consortium,
)

from .refusals import fingerprint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

ALLOWED, DENIED, HIDDEN = "allowed", "PermissionDenied", "not visible"


def api_key(org: Organisation, *scopes: str) -> ApiKey:
    key_id, secret, _full = ApiKey.generate()
    return ApiKey.objects.create(
        organisation=org,
        name=f"{org.code} system",
        key_id=key_id,
        secret_hash=secret,
        scopes=list(scopes),
    )


@dataclass
class World:
    c: Consortium
    co_investigator: User
    outsider: User
    officer: User
    key_write: ApiKey
    key_read: ApiKey
    key_unrelated: ApiKey

    def actor(self, name: str):
        return {
            "creator PI": self.c.pi_jp,
            "other lead's PI": self.c.pi_kr,
            "co-investigator": self.co_investigator,
            "lead research office": self.c.office_jp,
            "unrelated researcher": self.outsider,
            "fund officer": self.officer,
            "lead key proposals:write": self.key_write,
            "lead key proposals:read": self.key_read,
            "unrelated key": self.key_unrelated,
        }[name]


def build_world() -> tuple[Proposal, World]:
    c = make_consortium()
    coi = member_of(c.jp)
    unrelated = jp_org()
    world = World(
        c=c,
        co_investigator=coi,
        outsider=member_of(unrelated),
        officer=officer("KR"),
        key_write=api_key(c.jp, Scope.PROPOSALS_READ, Scope.PROPOSALS_WRITE),
        key_read=api_key(c.jp, Scope.PROPOSALS_READ),
        key_unrelated=api_key(unrelated, Scope.PROPOSALS_READ, Scope.PROPOSALS_WRITE),
    )
    proposal, _ = complete_proposal(c)
    consortium = complete_changes(c)["consortium"]
    consortium["people"].append(
        {"user": coi.pk, "organisation": c.jp.code, "role": "co_investigator", "effort_percent": 10}
    )
    proposal = svc.proposal_update(
        proposal=proposal,
        actor=c.pi_jp,
        expected_version=proposal.version,
        changes={"consortium": consortium},
    )
    return proposal, world


def attempt(actor, proposal: Proposal, action) -> str:
    """The outcome of one action as a view would run it; a refusal must change nothing."""
    try:
        target = get_proposal_for_actor(actor, proposal.pk)
    except NotFound:
        return HIDDEN
    before = fingerprint(proposal)
    try:
        action(target)
    except PermissionDenied:
        assert fingerprint(proposal) == before
        return DENIED
    return ALLOWED


def edit(actor):
    def run(p):
        basics = {
            "title_en": "Edited",
            "abstract_en": p.abstract_en,
            "research_area": p.research_area.code if p.research_area else None,
            "trl_now": p.trl_now,
            "trl_target": p.trl_target,
        }
        svc.proposal_update(
            proposal=p, actor=actor, expected_version=p.version, changes={"basics": basics}
        )

    return run


def submit(actor):
    return lambda p: svc.proposal_submit(proposal=p, actor=actor)


def endorse(actor):
    return lambda p: svc.proposal_endorse(proposal=p, actor=actor)


#   actor                        see draft  edit     submit   see submitted  endorse
MATRIX = {
    "creator PI":                (True,  ALLOWED, ALLOWED, True,  DENIED),
    "other lead's PI":           (True,  ALLOWED, ALLOWED, True,  DENIED),
    "co-investigator":           (True,  DENIED,  DENIED,  True,  DENIED),
    "lead research office":      (False, HIDDEN,  HIDDEN,  True,  ALLOWED),
    "unrelated researcher":      (False, HIDDEN,  HIDDEN,  False, HIDDEN),
    "fund officer":              (True,  DENIED,  DENIED,  True,  DENIED),
    "lead key proposals:write":  (False, HIDDEN,  HIDDEN,  True,  ALLOWED),
    "lead key proposals:read":   (False, HIDDEN,  HIDDEN,  True,  DENIED),
    "unrelated key":             (False, HIDDEN,  HIDDEN,  False, HIDDEN),
}  # fmt: skip


@pytest.mark.parametrize("name", MATRIX)
def test_permission_matrix(name):
    proposal, world = build_world()
    actor = world.actor(name)
    pi = world.c.pi_jp
    seen: dict[str, object] = {}

    seen["see draft"] = proposals_visible_to(actor).filter(pk=proposal.pk).exists()
    seen["edit"] = attempt(actor, proposal, edit(actor))
    seen["submit"] = attempt(actor, proposal, submit(actor))
    if Proposal.objects.get(pk=proposal.pk).state == ProposalState.DRAFT:
        svc.proposal_submit(proposal=Proposal.objects.get(pk=proposal.pk), actor=pi)
    seen["see submitted"] = proposals_visible_to(actor).filter(pk=proposal.pk).exists()
    seen["endorse"] = attempt(actor, proposal, endorse(actor))

    expected = dict(
        zip(["see draft", "edit", "submit", "see submitted", "endorse"], MATRIX[name], strict=True)
    )
    assert seen == expected
    stored = Proposal.objects.get(pk=proposal.pk)
    assert stored.state == ProposalState.SUBMITTED
    assert (stored.title_en == "Edited") == (expected["edit"] == ALLOWED)
    assert Endorsement.objects.filter(proposal=proposal).exists() == (
        expected["endorse"] == ALLOWED
    )


def test_a_draft_made_through_a_lead_key_belongs_to_that_organisations_systems():
    c = make_consortium()
    key_write = api_key(c.jp, Scope.PROPOSALS_READ, Scope.PROPOSALS_WRITE)
    key_read = api_key(c.jp, Scope.PROPOSALS_READ)
    key_kr = api_key(c.kr, Scope.PROPOSALS_READ, Scope.PROPOSALS_WRITE)
    proposal = svc.proposal_create(actor=key_write, call=c.call, basics={"title_en": "Via API"})

    assert attempt(key_write, proposal, edit(key_write)) == ALLOWED
    assert attempt(key_read, proposal, edit(key_read)) == DENIED
    assert attempt(key_kr, proposal, edit(key_kr)) == HIDDEN
    assert attempt(c.pi_jp, proposal, edit(c.pi_jp)) == HIDDEN
    assert attempt(c.office_jp, proposal, edit(c.office_jp)) == HIDDEN


def test_a_read_only_key_cannot_start_a_proposal():
    c = make_consortium()
    with pytest.raises(PermissionDenied):
        svc.proposal_create(actor=api_key(c.jp, Scope.PROPOSALS_READ), call=c.call)
    assert not Proposal.objects.exists()
    assert not AuditEvent.objects.exists()


# --------------------------------------------------------------------------- lists in SQL


def _many_proposals(c: Consortium, count: int) -> None:
    for _ in range(count):
        svc.proposal_create(actor=c.pi_jp, call=c.call, basics={"title_en": "Mine"})


def _listing(actor) -> list[tuple[int, str, str]]:
    return [
        (p.pk, p.title, p.call.title) for p in proposals_visible_to(actor).select_related("call")
    ]


@pytest.mark.parametrize("who", ["pi", "other researcher", "officer", "key"])
def test_listing_visible_proposals_takes_the_same_queries_for_3_and_30(
    who, django_assert_num_queries
):
    c = make_consortium()
    stranger = member_of(jp_org())
    actors: dict[str, User | ApiKey] = {
        "pi": c.pi_jp,
        "other researcher": stranger,
        "officer": officer("JP"),
        "key": api_key(c.jp, Scope.PROPOSALS_READ),
    }
    actor = actors[who]
    svc.proposal_create(actor=stranger, call=c.call)  # someone else's draft in the same call
    _many_proposals(c, 3)
    qs = proposals_visible_to(actor)
    assert isinstance(qs, QuerySet) and qs.model is Proposal

    with CaptureQueriesContext(connection) as small:
        few = _listing(actor)
    _many_proposals(c, 27)
    with django_assert_num_queries(len(small.captured_queries)):
        many = _listing(actor)

    assert len(small.captured_queries) == 1
    expected = {"pi": (3, 30), "other researcher": (1, 1), "officer": (4, 31), "key": (0, 0)}[who]
    assert (len(few), len(many)) == expected
