"""Times on the proposal and review pages read as on every other page (§15)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.utils import translation

from fundapp.accounts.templatetags.fund_format import local_dt

AT = datetime(2026, 11, 24, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("ja", "2026年11月24日 14:30 JST"),
        ("ko", "2026년 11월 24일 14:30 KST"),
        ("en", "24 Nov 2026 14:30 JST"),
    ],
)
def test_when_is_the_readers_date_and_zone(lang, expected):
    with translation.override(lang):
        rendered = Template("{% load proposal_format %}{{ at|when }}").render(Context({"at": AT}))
        assert rendered == expected == local_dt(AT)


def test_when_of_nothing_is_empty():
    assert Template("{% load proposal_format %}{{ at|when }}").render(Context({"at": None})) == ""
