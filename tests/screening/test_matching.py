"""Restricted-party matching on normalized names, in SQL (§11)."""

from __future__ import annotations

import pytest
from django.db import connection

from fundapp.screening.models import RestrictedParty
from fundapp.screening.selectors import restricted_party_matches

from .conftest import load_list, open_case, party

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "organisation_name",
    [
        "東洋電子株式会社",
        "株式会社東洋電子",
        "株式会社 東洋電子",
        "㈱東洋電子",
        "東洋電子（株）",
        "Toyo Denshi Co., Ltd.",
        "TOYO DENSHI CO.,LTD.",
        "ＴＯＹＯ　ＤＥＮＳＨＩ",  # full-width letters and space
        "toyo denshi",
        "Toyo Electronics Limited",  # an alias of the listed party
        "(주)한빛반도체",
        "㈜한빛반도체",
        "주식회사 한빛반도체",
        "한빛반도체 주식회사",
        "HANBIT SEMICONDUCTOR",
        "Northwind Dynamics",
        "NORTHWIND DYNAMICS, L.L.C.",
    ],
)
def test_variants_of_listed_names_match(restricted_list, organisation_name):
    matches = restricted_party_matches([party(7, organisation_name)])

    assert len(matches) == 1
    assert matches[0]["organisation"] == 7
    assert matches[0]["matched_name"] == organisation_name


@pytest.mark.parametrize(
    "organisation_name",
    ["東洋電子工業株式会社", "Toyo", "Denshi Toyo", "Hanbit", "Northwind Dynamics Labs", "한빛"],
)
def test_other_names_do_not_match(restricted_list, organisation_name):
    assert restricted_party_matches([party(7, organisation_name)]) == []


def test_an_organisation_alias_can_match(restricted_list):
    matches = restricted_party_matches([party(7, "Sendai Optics", "Toyo Denshi KK")])

    assert [(m["party_name"], m["matched_name"]) for m in matches] == [
        ("東洋電子株式会社", "Toyo Denshi KK")
    ]


def test_several_organisations_in_one_query(restricted_list, django_assert_num_queries):
    parties = [
        party(1, "Kyoto University"),
        party(2, "㈱東洋電子"),
        party(3, "Hanbit Semiconductor", country="KR"),
        party(4, "Cambridge Instruments", country="GB"),
    ]
    with django_assert_num_queries(1):
        matches = restricted_party_matches(parties)

    assert [(m["organisation"], m["party_name"]) for m in matches] == [
        (2, "東洋電子株式会社"),
        (3, "(주)한빛반도체"),
    ]


def test_inactive_parties_do_not_match(restricted_list):
    RestrictedParty.objects.filter(normalized_name="東洋電子").update(active=False)

    assert restricted_party_matches([party(1, "東洋電子")]) == []


def test_match_details_are_recorded_on_the_case(restricted_list):
    case = open_case(parties=[party(5, "Toyo Denshi Co., Ltd.")])

    listed = RestrictedParty.objects.get(normalized_name="東洋電子")
    assert case.matches == [
        {
            "party_id": listed.pk,
            "party_name": "東洋電子株式会社",
            "party_country": "JP",
            "party_source": "METI end-user list",
            "matched_name": "Toyo Denshi Co., Ltd.",
            "normalized": "toyo denshi",
            "organisation": 5,
            "organisation_name": "Toyo Denshi Co., Ltd.",
        }
    ]
    assert {
        "code": "restricted_party_match",
        "detail": ("Toyo Denshi Co., Ltd. ↔ 東洋電子株式会社 (METI end-user list)"),
    } in case.reasons


def test_matching_uses_the_gin_index():
    load_list(
        "name,aliases,country,source\n"
        + "".join(f"Party {i} Ltd,Alias {i},CN,Bulk\n" for i in range(300))
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE screening_restrictedparty")
        cursor.execute("SET LOCAL enable_seqscan = off")
    queryset = RestrictedParty.objects.filter(
        active=True, normalized_names__overlap=["party 7", "alias 9"]
    )
    plan = queryset.explain()

    assert "screening_party_names_gin" in plan
    assert queryset.count() == 2
