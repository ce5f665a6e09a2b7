"""The paying side of a visit (§25), for every pair of the three countries."""

from __future__ import annotations

import pytest

from mobility.rules import MOBILITY_COUNTRIES, PayingSide, paying_side

HOST = True
HOME = False


@pytest.mark.parametrize(
    ("home", "host", "expected"),
    [
        ("JP", "KR", PayingSide("KR", "KRW", HOST)),
        ("KR", "JP", PayingSide("JP", "JPY", HOST)),
        ("US", "JP", PayingSide("JP", "JPY", HOST)),
        ("US", "KR", PayingSide("KR", "KRW", HOST)),
        ("JP", "US", PayingSide("JP", "JPY", HOME)),
        ("KR", "US", PayingSide("KR", "KRW", HOME)),
    ],
)
def test_the_host_side_pays_and_a_us_host_is_paid_by_the_home_side(home, host, expected):
    assert paying_side(home, host) == expected


@pytest.mark.parametrize("country", MOBILITY_COUNTRIES)
def test_a_visit_within_one_country_has_no_paying_side(country):
    with pytest.raises(ValueError, match="another country"):
        paying_side(country, country)


@pytest.mark.parametrize(("home", "host"), [("CN", "JP"), ("JP", "DE"), ("jp", "KR")])
def test_a_country_outside_the_three_is_refused(home, host):
    with pytest.raises(ValueError, match="not a mobility country"):
        paying_side(home, host)


def test_the_table_covers_every_pair():
    pairs = {(home, host) for home in MOBILITY_COUNTRIES for host in MOBILITY_COUNTRIES}
    paid = {pair for pair in pairs if pair[0] != pair[1]}
    assert len(paid) == 6
    for home, host in paid:
        rule = paying_side(home, host)
        assert rule.side in {home, host} - {"US"}
        assert rule.payee_is_host == (host != "US")
