"""One Decision type, one ``require`` and one calendar for every domain (§2, §8, §10.3)."""

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.utils import translation

from fundapp.errors import PermissionDenied
from fundapp.kernel.calendar import FUND_TIMEZONE, today_in_tokyo, tokyo_date
from fundapp.kernel.decisions import require

REPO = Path(__file__).resolve().parents[2]
CODE = ["fundapp", "projects", "ip_licensing"]


def test_require_passes_an_allowed_decision_and_refuses_with_its_reason():
    require((True, ""))
    with pytest.raises(PermissionDenied) as refused:
        require((False, "Only fund officers may do this."), code="not_officer")
    assert str(refused.value.message) == "Only fund officers may do this."
    assert refused.value.code == "not_officer"
    assert refused.value.status == 403


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "You may not do this."), ("ja", None), ("ko", None)],
)
def test_a_refusal_without_a_reason_gets_the_general_message_in_the_readers_language(
    language, message
):
    with translation.override(language):
        with pytest.raises(PermissionDenied) as refused:
            require((False, ""))
        text = str(refused.value.message)
    assert text
    if message:
        assert text == message
    else:
        assert text != "You may not do this."  # translated


def test_the_fund_day_is_the_tokyo_day():
    # 15:00 UTC is already the next day in Tokyo (UTC+9).
    assert tokyo_date(datetime(2026, 3, 31, 15, 0, tzinfo=UTC)) == date(2026, 4, 1)
    assert tokyo_date(datetime(2026, 3, 31, 14, 59, tzinfo=UTC)) == date(2026, 3, 31)
    with pytest.raises(ValueError, match="timezone-aware"):
        tokyo_date(datetime(2026, 3, 31, 15, 0))  # noqa: DTZ001 - the naive case refused
    before = datetime.now(FUND_TIMEZONE).date()
    today = today_in_tokyo()
    after = datetime.now(FUND_TIMEZONE).date()
    assert today in {before, after}  # either side of a midnight the call straddled


def test_no_module_defines_its_own_decision_type_require_or_tokyo_today():
    """The copies drifted (different refusal messages for the same rule); one of each."""
    own = re.compile(
        r"^(Decision = tuple\[bool, str\]|def _require\(decision|def (today_in_tokyo|tokyo_today)\()",
        re.M,
    )
    found = [
        str(path.relative_to(REPO))
        for top in CODE
        for path in (REPO / top).rglob("*.py")
        if "migrations" not in path.parts and own.search(path.read_text())
    ]
    assert sorted(found) == ["fundapp/kernel/calendar.py", "fundapp/kernel/decisions.py"]
