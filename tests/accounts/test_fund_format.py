from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.utils import translation

from fundapp.accounts.templatetags.fund_format import (
    audit_changes,
    local_date,
    local_dt,
    minutes,
    money,
)

# 05:30 UTC is 14:30 in Tokyo and Seoul (both UTC+09:00).
MOMENT = datetime(2026, 11, 24, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12_000_000, "JPY", "¥12,000,000"),
        (120_000_000, "KRW", "₩120,000,000"),
        (0, "JPY", "¥0"),
        (-5_000, "KRW", "-₩5,000"),
        ("3000", "JPY", "¥3,000"),
        (None, "JPY", ""),
        ("", "JPY", ""),
        ("not a number", "JPY", ""),
    ],
)
def test_money(amount, currency, expected):
    assert money(amount, currency) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "2026年11月24日 14:30 JST"),
        ("ko", "2026년 11월 24일 14:30 KST"),
        ("en", "24 Nov 2026 14:30 JST"),
    ],
)
def test_local_dt_per_language(language, expected):
    with translation.override(language):
        assert local_dt(MOMENT) == expected


def test_local_dt_crosses_midnight_into_the_local_day():
    late_utc = datetime(2026, 12, 31, 15, 5, tzinfo=UTC)  # 00:05 on 1 January in Tokyo
    with translation.override("en"):
        assert local_dt(late_utc) == "1 Jan 2027 00:05 JST"


def test_local_dt_of_nothing_is_empty():
    assert local_dt(None) == ""
    assert local_dt("2026-11-24") == ""


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ja", "2026年3月5日"), ("ko", "2026년 3월 5일"), ("en", "5 Mar 2026")],
)
def test_local_date_per_language(language, expected):
    with translation.override(language):
        assert local_date(date(2026, 3, 5)) == expected


def test_local_date_of_a_datetime_uses_the_local_day():
    with translation.override("ko"):
        assert local_date(datetime(2026, 3, 4, 20, 0, tzinfo=UTC)) == "2026년 3월 5일"
    assert local_date(None) == ""


def test_filters_in_a_template():
    template = Template(
        "{% load fund_format %}{{ amount|money:'KRW' }} {{ when|local_dt }} {{ day|local_date }}"
    )
    with translation.override("ja"):
        rendered = template.render(
            Context({"amount": 120_000_000, "when": MOMENT, "day": date(2026, 11, 24)})
        )
    assert rendered == "₩120,000,000 2026年11月24日 14:30 JST 2026年11月24日"


def test_minutes_rounds_a_wait_up():
    assert minutes(timedelta(minutes=15)) == 15
    assert minutes(timedelta(seconds=61)) == 2
    assert minutes(None) == 0


def test_audit_changes_lists_changed_fields_for_display():
    event = SimpleNamespace(
        before={"revoked_at": None, "name": "same", "scopes": ["a"]},
        after={
            "revoked_at": "2026-11-24T05:30:00+00:00",
            "name": "same",
            "scopes": ["a", "b"],
            "active": False,
        },
    )
    with translation.override("en"):
        changes = audit_changes(event)
    assert changes == [
        ("revoked_at", "—", "24 Nov 2026 14:30 JST"),
        ("scopes", "a", "a, b"),
        ("active", "—", "✗"),
    ]


def test_audit_changes_of_a_creation_has_only_after():
    event = SimpleNamespace(before=None, after={"code": "JP-OSK-01"})
    assert audit_changes(event) == [("code", "—", "JP-OSK-01")]
