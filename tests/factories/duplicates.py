"""Proposals that the duplicate-funding check (§22) flags, built through the services."""

from __future__ import annotations

from typing import Any

from projects.models import DuplicateFundingFlag, Proposal
from tests.factories.proposals import Consortium, make_consortium, submitted_proposal

BATTERIES_JA: dict[str, Any] = {
    "title_en": "",
    "title_ja": "全固体電池の高性能化と量産技術に関する研究",
    "title_ko": "",
    "abstract_en": "Sulfide electrolytes that survive a thousand cycles.",
}
# The same work submitted again (the title grows by one word; the abstract is in Korean).
BATTERIES_JA_AGAIN: dict[str, Any] = {
    "title_en": "",
    "title_ja": "全固体電池の高性能化と量産技術に関する研究開発",
    "title_ko": "",
    "abstract_en": "",
    "abstract_ko": "천 번의 충방전을 견디는 황화물 전해질.",
}
UNRELATED_JA: dict[str, Any] = {
    "title_en": "",
    "title_ja": "深層学習による海洋プランクトンの自動分類",
    "title_ko": "",
    "abstract_en": "",
    "abstract_ko": "심층 학습으로 해양 플랑크톤을 분류한다.",
}


def same_person(c: Consortium, **identifiers: str) -> Consortium:
    """A second consortium (same call) whose Japanese PI is another account of ``c``'s
    Japanese PI: both carry ``identifiers`` (``erad_number="…"``, ``orcid="…"``)."""
    for name, value in identifiers.items():
        setattr(c.pi_jp, name, value)
    c.pi_jp.save(update_fields=list(identifiers))
    other = make_consortium(c.call)
    for name, value in identifiers.items():
        setattr(other.pi_jp, name, value)
    other.pi_jp.save(update_fields=list(identifiers))
    return other


def flags_of(proposal: Proposal) -> list[DuplicateFundingFlag]:
    return list(DuplicateFundingFlag.objects.filter(proposal=proposal).order_by("id"))


def flagged_pair(
    c: Consortium | None = None, *, erad_number: str = "60011111"
) -> tuple[DuplicateFundingFlag, Consortium, Consortium]:
    """An open flag: ``c``'s pending proposal, then the same PI's second one of the same
    work from another consortium (flagged at its submission). Returns the flag, ``c`` and
    the second consortium. Pairs with different ``erad_number`` do not match each other."""
    c = c or make_consortium()
    submitted_proposal(c, basics=BATTERIES_JA)
    other = same_person(c, erad_number=erad_number)
    second, _o = submitted_proposal(other, basics=BATTERIES_JA_AGAIN)
    [flag] = flags_of(second)
    return flag, c, other
