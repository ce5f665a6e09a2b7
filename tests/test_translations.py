"""Japanese and Korean ship complete and compiled (§15)."""

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

LOCALES = ("ja", "ko")


@pytest.mark.parametrize("lang", LOCALES)
def test_catalogue_is_complete_and_valid(lang):
    po = Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        ["msgfmt", "-c", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


@pytest.mark.parametrize("lang", LOCALES)
def test_compiled_catalogue_is_in_the_repository(lang):
    mo = Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.mo"
    assert mo.exists() and mo.stat().st_size > 1000


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ja", "提案"), ("ko", "제안서")],
)
def test_glossary_terms_are_used(lang, expected):
    with translation.override(lang):
        assert translation.gettext("proposal") == expected


# The product's words (§1 and the terms chosen since: 評価者 for a reviewer, 과제 for a
# project): (English pattern, Japanese, Korean). A message that names the thing in English
# names it with the same word in Japanese and Korean.
GLOSSARY = [
    (r"fund officers?", "プログラムオフィサー", "사업 담당관"),
    (r"calls? for proposals", "公募", "공모"),
    (r"principal investigators?", "研究代表者", "연구책임자"),
    (r"consortium|consortia", "コンソーシアム", "컨소시엄"),
    (r"tranches?", "トランシェ", "트랜치"),
    (r"licences?", "ライセンス", "라이선스"),
    (r"fields? of use", "用途", "용도"),
    (r"reviewers?", "評価者", "심사위원"),
    (r"projects?", "プロジェクト", "과제"),
    (r"proposals?", "提案", "제안"),
]

# What is not the product's word even though it reads like it: placeholders, API scopes and
# event names, and the longer terms that contain a shorter one ("call for proposals" is 公募,
# not a proposal).
_NOT_WORDS = re.compile(r"\{[^}]*\}|%\([^)]*\)[sd]|\b[a-z_]+[:.][a-z_.]+\b|calls? for proposals")


def _catalogue(lang: str) -> list[tuple[str | None, str, str]]:
    """(context, msgid, msgstr) of every translated message of ``lang``'s catalogue."""
    po = Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.po"

    def joined(text: str) -> str:
        return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', text))

    found = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        message = re.search(r"^msgid ((?:\".*\"\n?)+)msgstr ((?:\".*\"\n?)+)", block, re.M)
        context = re.search(r"^msgctxt ((?:\".*\"\n?)+)", block, re.M)
        if message and joined(message.group(1)):
            found.append(
                (
                    joined(context.group(1)) if context else None,
                    joined(message.group(1)),
                    joined(message.group(2)),
                )
            )
    return found


@pytest.mark.parametrize("lang", LOCALES)
def test_each_product_word_is_translated_the_same_way_everywhere(lang):
    column = 1 if lang == "ja" else 2
    catalogue = _catalogue(lang)
    off = []
    for term in GLOSSARY:
        english = re.compile(rf"\b(?:{term[0]})\b", re.IGNORECASE)
        for _context, msgid, msgstr in catalogue:
            words = _NOT_WORDS.sub(" ", msgid) if term[0] != GLOSSARY[1][0] else msgid
            if english.search(words) and term[column] not in msgstr:
                off.append(f"{term[0]!r} → {term[column]}: {msgid!r} = {msgstr!r}")
    assert not off, "\n".join(off)


@pytest.mark.parametrize(
    ("lang", "context", "msgid", "expected"),
    [
        ("ja", "review recommendation", "Fund", "採択"),
        ("ko", "review recommendation", "Fund", "선정"),
        ("ja", "call state", "Open", "公募中"),
        ("ko", "call state", "Open", "접수 중"),
        ("ja", "link", "Open", "開く"),
        ("ko", "link", "Open", "열기"),
        ("ja", "gate evaluation result", "Score", "スコア"),
        ("ko", "gate evaluation result", "Score", "점수"),
        ("ja", "review criterion mark", "Score", "評点"),
        ("ko", "review criterion mark", "Score", "평점"),
        ("ja", "action: score a proposal", "Score", "採点する"),
        ("ko", "action: score a proposal", "Score", "채점하기"),
        ("ja", "amount", "Planned", "計画額"),
        ("ko", "amount", "Planned", "계획액"),
        # An award's outcome is not the two-person panel's "Decline" (差し戻す / 반려).
        ("ja", "award outcome", "Reject", "不採択"),
        ("ko", "award outcome", "Reject", "미선정"),
        # A rejected measurement is not a proposal that was not funded (不採択 / 미선정).
        ("ja", "measurement", "Rejected", "却下"),
        ("ko", "measurement", "Rejected", "반려됨"),
    ],
)
def test_one_english_word_with_two_meanings_has_a_context(lang, context, msgid, expected):
    with translation.override(lang):
        assert translation.pgettext(context, msgid) == expected
        # The Fund itself keeps its glossary word.
        assert translation.gettext("Fund") in ("基金", "기금")


@pytest.mark.parametrize("lang", ["ja", "ko"])
def test_award_outcome_reject_reads_apart_from_declining_an_approval(lang):
    from projects.models import AwardOutcome

    with translation.override(lang):
        assert str(AwardOutcome.REJECT.label) != translation.gettext("Decline")
        assert str(AwardOutcome.REJECT.label) == translation.pgettext("award outcome", "Reject")


# English words that mean different things on different pages: every template use names its
# meaning with a context, so one translation never serves two meanings.
AMBIGUOUS_WORDS = ("Fund", "Open", "Score")


@pytest.mark.parametrize("word", AMBIGUOUS_WORDS)
def test_templates_give_an_ambiguous_word_its_context(word):
    bare = re.compile(r"\{%\s*translate\s+" + re.escape(f'"{word}"') + r"\s*(?:as\s+\w+\s*)?%\}")
    found = [
        str(path.relative_to(settings.BASE_DIR))
        for path in sorted((settings.BASE_DIR / "templates").rglob("*.html"))
        if bare.search(path.read_text(encoding="utf-8"))
    ]
    assert not found, f"{word!r} translated without a context in: {found}"
