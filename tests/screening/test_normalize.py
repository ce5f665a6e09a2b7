"""normalize_name (§11): what "the same name" means for restricted-party matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundapp.screening.normalize import normalize_name, normalize_names

CASES = [
    # Japanese legal forms, before and after the name, attached or spaced.
    ("株式会社東洋電子", "東洋電子"),
    ("東洋電子株式会社", "東洋電子"),
    ("株式会社 東洋電子", "東洋電子"),
    ("東洋電子 株式会社", "東洋電子"),
    ("有限会社山田製作所", "山田製作所"),
    ("山田製作所有限会社", "山田製作所"),
    ("合同会社ミライ", "ミライ"),
    ("(株)東洋電子", "東洋電子"),
    ("東洋電子(株)", "東洋電子"),
    ("東洋電子（株）", "東洋電子"),  # full-width parentheses
    ("㈱東洋電子", "東洋電子"),  # the one-character form
    ("東洋電子㈱", "東洋電子"),
    ("（有）山田製作所", "山田製作所"),
    ("㈲山田製作所", "山田製作所"),
    ("ｶﾌﾞｼｷｶﾞｲｼｬﾄｰﾖｰ", "カブシキガイシャトーヨー"),  # half-width katakana widened
    # Korean legal forms.
    ("(주)한빛반도체", "한빛반도체"),
    ("㈜한빛반도체", "한빛반도체"),
    ("한빛반도체(주)", "한빛반도체"),
    ("한빛반도체 ㈜", "한빛반도체"),
    ("주식회사 한빛반도체", "한빛반도체"),
    ("주식회사한빛반도체", "한빛반도체"),
    ("한빛반도체주식회사", "한빛반도체"),
    ("유한회사 누리", "누리"),
    ("누리유한회사", "누리"),
    ("(유)누리", "누리"),
    # English and European legal forms, with and without punctuation.
    ("Toyo Denshi Co., Ltd.", "toyo denshi"),
    ("TOYO DENSHI CO.,LTD.", "toyo denshi"),
    ("Toyo Denshi Co Ltd", "toyo denshi"),
    ("Toyo Denshi Co.Ltd.", "toyo denshi"),
    ("Toyo Denshi Company Co., Limited", "toyo denshi company"),
    ("Toyo Denshi Ltd", "toyo denshi"),
    ("Toyo Denshi Limited", "toyo denshi"),
    ("Acme Inc", "acme"),
    ("Acme, Inc.", "acme"),
    ("Acme Corp", "acme"),
    ("Acme Corp.", "acme"),
    ("Acme Corporation", "acme"),
    ("Acme LLC", "acme"),
    ("Acme L.L.C.", "acme"),
    ("Müller GmbH", "müller"),
    ("Banco Ejemplo S.A.", "banco ejemplo"),
    ("Banco Ejemplo SA", "banco ejemplo"),
    ("Northwind PLC", "northwind"),
    ("Nippon Optics K.K.", "nippon optics"),
    ("Nippon Optics KK", "nippon optics"),
    ("Inc Acme", "acme"),  # a legal form as a separate word is removed wherever it stands
    # Case and width.
    ("ＴＯＹＯ　ＤＥＮＳＨＩ", "toyo denshi"),
    ("ｔｏｙｏ ｄｅｎｓｈｉ", "toyo denshi"),
    ("TOYO DENSHI", "toyo denshi"),
    ("Straße GmbH", "strasse"),
    # Punctuation and symbols (categories P* and S*), whitespace.
    ("Toyo-Denshi", "toyo denshi"),
    ("Toyo/Denshi", "toyo denshi"),
    ("Toyo & Denshi", "toyo denshi"),
    ("«Toyo» Denshi!", "toyo denshi"),
    ("Toyo® Denshi™", "toyo denshitm"),  # ™ is NFKC "TM"; ® is a symbol
    ("McDonald's", "mcdonalds"),
    ("McDonald’s", "mcdonalds"),
    ("I.B.M.", "ibm"),
    ("  Toyo \t\n Denshi  ", "toyo denshi"),
    ("東洋・電子", "東洋 電子"),
    ("Toyo\u200bDenshi", "toyodenshi"),  # zero-width space is invisible
    ("\ufeffToyo", "toyo"),
    # Words that merely contain a legal form stay whole.
    ("Cooperative Systems", "cooperative systems"),
    ("Incubator Labs", "incubator labs"),
    ("Limitedless", "limitedless"),
    ("Co-op", "co op"),
    ("Saitama Optics", "saitama optics"),
    # Nothing but legal forms: keep the words rather than an empty key.
    ("Limited", "limited"),
    ("株式会社", "株式会社"),
    ("Co., Ltd.", "co ltd"),
    # Empty input.
    ("", ""),
    ("  ", ""),
    ("!!!", ""),
    ("(株)", ""),
]


@pytest.mark.parametrize(("name", "expected"), CASES)
def test_normalize_name(name, expected):
    assert normalize_name(name) == expected


@pytest.mark.parametrize(
    "variants",
    [
        [
            "株式会社東洋電子",
            "東洋電子株式会社",
            "㈱東洋電子",
            "東洋電子（株）",
            "株式会社 東洋電子",
        ],
        ["(주)한빛반도체", "㈜한빛반도체", "주식회사 한빛반도체", "한빛반도체 주식회사"],
        ["Toyo Denshi Co., Ltd.", "TOYO DENSHI CO LTD", "ＴＯＹＯ ＤＥＮＳＨＩ", "toyo-denshi ltd"],
    ],
)
def test_variants_share_one_key(variants):
    assert len({normalize_name(v) for v in variants}) == 1


def test_normalize_names_drops_empties_and_duplicates():
    assert normalize_names(["Acme Inc", "ACME", "", "!!", "Acme Robotics"]) == [
        "acme",
        "acme robotics",
    ]


@given(st.text(max_size=60))
def test_idempotent(name):
    once = normalize_name(name)
    assert normalize_name(once) == once


@given(st.text(max_size=60))
def test_no_punctuation_or_double_spaces(name):
    import unicodedata

    result = normalize_name(name)
    assert "  " not in result and result == result.strip()
    assert not any(unicodedata.category(c)[0] in "PS" for c in result)
