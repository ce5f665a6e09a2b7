"""Normalized organisation names for restricted-party matching (§11).

Two names match when their normalized forms are equal, so this function decides what
"the same name" means. It is pure and deterministic: the import stores its output, and
screening compares the output for each organisation's names against it in SQL.

Steps, in order:

1. NFKC and case folding (NFKC again after folding, so the result is stable): full-width
   ``ＡＢＣ`` and half-width ``ｶﾌﾞｼｷ`` become ``abc`` and ``カブシキ``; ``㈱`` becomes
   ``(株)``.
2. The parenthesised Japanese and Korean legal forms ``(株)``, ``(有)``, ``(주)``,
   ``(유)`` are removed wherever they stand, attached or not.
3. Full stops and apostrophes are deleted, so abbreviations close up (``S.A.`` → ``sa``,
   ``K.K.`` → ``kk``, ``McDonald's`` → ``mcdonalds``); every other punctuation or symbol
   character (Unicode categories P* and S*) becomes a space, so ``Toyo-Denshi`` and
   ``Toyo Denshi`` agree. Invisible format characters (Cf, e.g. a zero-width space) go.
4. Legal-form words are removed wherever they stand as separate words (``Co., Ltd.``,
   ``Ltd``, ``Limited``, ``Inc``, ``Corp``, ``Corporation``, ``LLC``, ``GmbH``, ``S.A.``,
   ``PLC``, ``K.K.``, 株式会社, 有限会社, 合同会社, 주식회사, 유한회사); the Japanese and
   Korean forms also when attached to the front or back of a word (``株式会社東洋電子``,
   ``東洋電子株式会社`` → ``東洋電子``), since those languages write them without a space.
5. Whitespace is collapsed to single spaces.

A name made only of legal forms (``"Limited"``) keeps its words rather than becoming
empty, so no two unrelated one-word names collapse into the same empty key.
"""

from __future__ import annotations

import re
import unicodedata

# Separate words that are legal forms once punctuation is gone ("s.a." → "sa").
LEGAL_FORM_WORDS = frozenset(
    {
        "ltd",
        "limited",
        "inc",
        "corp",
        "corporation",
        "llc",
        "gmbh",
        "sa",
        "plc",
        "kk",
        "coltd",  # "Co.Ltd." with no space after the full stop
        "株式会社",
        "有限会社",
        "合同会社",
        "주식회사",
        "유한회사",
    }
)
# "Co" is a legal form only as the first half of "Co., Ltd." / "Co., Limited".
_COMPANY_WORD = "co"
_COMPANY_FOLLOWERS = frozenset({"ltd", "limited"})

# Written attached to the name in Japanese and Korean; stripped from either end of a word.
ATTACHED_LEGAL_FORMS = ("株式会社", "有限会社", "合同会社", "주식회사", "유한회사")

# After NFKC, ㈱ ㈲ ㈜ ㈲ and full-width parentheses are plain "(株)" etc.
_PARENTHESISED_FORM = re.compile(r"\(\s*(?:株|有|주|유)\s*\)")
_CLOSING_UP = frozenset({".", "'", "\u2018", "\u2019", "\uff07"})


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _strip_punctuation(text: str) -> str:
    out: list[str] = []
    for char in text:
        if char in _CLOSING_UP:
            continue
        category = unicodedata.category(char)
        if category == "Cf":
            continue
        if category[0] in ("P", "S", "Z") or category == "Cc":
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _strip_attached(word: str) -> str:
    changed = True
    while changed and word:
        changed = False
        for form in ATTACHED_LEGAL_FORMS:
            if word.startswith(form):
                word = word[len(form) :]
                changed = True
            if word.endswith(form):
                word = word[: -len(form)]
                changed = True
    return word


def _without_legal_forms(words: list[str]) -> list[str]:
    kept: list[str] = []
    skip_next = False
    for index, word in enumerate(words):
        if skip_next:
            skip_next = False
            continue
        following = words[index + 1] if index + 1 < len(words) else ""
        if word == _COMPANY_WORD and following in _COMPANY_FOLLOWERS:
            skip_next = True
            continue
        if word in LEGAL_FORM_WORDS:
            continue
        stripped = _strip_attached(word)
        if stripped:
            kept.append(stripped)
    return kept


def normalize_name(name: str) -> str:
    """The matching key of an organisation or restricted-party name (see the module doc)."""
    text = _fold(name or "")
    text = _PARENTHESISED_FORM.sub(" ", text)
    words = _strip_punctuation(text).split()
    kept = _without_legal_forms(words)
    return " ".join(kept or words)


def normalize_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """Distinct, non-empty normalized forms of several names, in first-seen order."""
    seen: dict[str, None] = {}
    for name in names:
        key = normalize_name(name)
        if key:
            seen.setdefault(key, None)
    return list(seen)
