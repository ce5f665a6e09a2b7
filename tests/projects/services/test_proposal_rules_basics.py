"""§5 basics and §17 text: TRL 1–9 with the target not below the current level, text stored
as NFC with NUL and over-long values refused, research areas within the call's."""

import unicodedata

import pytest

from projects.models import Proposal
from tests.factories import ResearchAreaFactory
from tests.factories.proposals import complete_proposal

from .refusals import refused, save

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trl_now", 0, "Enter a number of at least 1."),
        ("trl_now", 10, "Enter a number of at most 9."),
        ("trl_target", 10, "Enter a number of at most 9."),
        ("trl_target", "0", "Enter a number of at least 1."),
        ("trl_now", "three", "Enter a whole number."),
        ("trl_now", 2.5, "Enter a whole number."),
        ("trl_now", float("nan"), "Enter a whole number."),
        ("trl_now", True, "Enter a whole number."),
    ],
)
def test_trl_outside_1_to_9_is_refused(field, value, message):
    proposal, c = complete_proposal()
    basics = {"title_en": "T", "trl_now": 3, "trl_target": 6, field: value}
    with refused(proposal, field=field, message=message):
        save(proposal, c.pi_jp, basics=basics)


@pytest.mark.parametrize(("now", "target"), [(1, 1), (1, 9), (9, 9), ("4", "5")])
def test_trl_from_1_to_9_is_stored(now, target):
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, basics={"title_en": "T", "trl_now": now, "trl_target": target})
    proposal.refresh_from_db()
    assert (proposal.trl_now, proposal.trl_target) == (int(now), int(target))


def test_a_target_trl_below_the_current_one_is_refused():
    proposal, c = complete_proposal()
    with refused(
        proposal,
        field="trl_target",
        message="The target TRL cannot be below the current TRL.",
    ):
        save(proposal, c.pi_jp, basics={"title_en": "T", "trl_now": 5, "trl_target": 4})


def test_text_is_stored_in_nfc():
    proposal, c = complete_proposal()
    decomposed = "か\u3099ん"  # が as か + combining dakuten
    assert unicodedata.is_normalized("NFD", decomposed) and len(decomposed) == 3
    save(
        proposal,
        c.pi_jp,
        basics={
            "title_ja": decomposed,
            "abstract_ko": unicodedata.normalize("NFD", "한국어 초록"),
            "keywords": ["e\u0301dge"],
        },
    )
    stored = Proposal.objects.get(pk=proposal.pk)
    assert stored.title_ja == "がん" and len(stored.title_ja) == 2
    assert stored.abstract_ko == "한국어 초록"
    assert stored.keywords == ["édge"]


def test_a_nul_character_is_refused():
    proposal, c = complete_proposal()
    with refused(proposal, field="title_en", message="Text may not contain NUL characters."):
        save(proposal, c.pi_jp, basics={"title_en": "Edge\x00AI"})


@pytest.mark.parametrize(
    ("field", "limit"), [("title_en", 300), ("title_ko", 300), ("abstract_ja", 10000)]
)
def test_over_long_text_is_refused(field, limit):
    proposal, c = complete_proposal()
    with refused(proposal, field=field, message=f"Use at most {limit} characters."):
        save(proposal, c.pi_jp, basics={field: "あ" * (limit + 1)})


def test_text_at_the_limit_is_accepted():
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, basics={"title_en": "x" * 300})
    assert len(Proposal.objects.get(pk=proposal.pk).title_en) == 300


def test_text_must_be_text():
    proposal, c = complete_proposal()
    with refused(proposal, field="title_en", message="Enter text."):
        save(proposal, c.pi_jp, basics={"title_en": {"en": "nested"}})


def test_a_research_area_outside_the_call_is_refused():
    proposal, c = complete_proposal()  # the call covers semiconductor.ai
    ResearchAreaFactory.create(code="quantum.communication")
    with refused(
        proposal,
        field="research_area",
        message="This research area is not part of the call.",
    ):
        save(proposal, c.pi_jp, basics={"research_area": "quantum.communication"})


def test_a_sibling_whose_code_merely_starts_the_same_is_outside_the_call():
    proposal, c = complete_proposal()
    ResearchAreaFactory.create(code="semiconductor.aix")
    with refused(proposal, field="research_area"):
        save(proposal, c.pi_jp, basics={"research_area": "semiconductor.aix"})


def test_a_sub_area_of_a_call_area_is_accepted():
    proposal, c = complete_proposal()
    edge = ResearchAreaFactory.create(code="semiconductor.ai.edge")
    save(proposal, c.pi_jp, basics={"title_en": "Edge", "research_area": "semiconductor.ai.edge"})
    assert Proposal.objects.get(pk=proposal.pk).research_area == edge


def test_an_unknown_research_area_is_refused():
    proposal, c = complete_proposal()
    with refused(proposal, field="research_area", message="Unknown research area."):
        save(proposal, c.pi_jp, basics={"research_area": "no.such.area"})


def test_unknown_sections_are_refused():
    proposal, c = complete_proposal()
    with refused(proposal, field="budgett", message="Unknown section."):
        save(proposal, c.pi_jp, budgett=[])
