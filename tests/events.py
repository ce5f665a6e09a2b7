"""Event types the test suite writes for itself (the audit chain's own tests record
``test.one`` and the like): registered for the whole session by ``tests/conftest.py``,
since an unregistered action cannot be written (§12)."""

from __future__ import annotations

from fundapp.kernel.events import EventType

TEST_PREFIX = "test."

NAMES = (
    "test.one",
    "test.two",
    "test.three",
    "test.many",
    "test.unicode",
    "test.discarded",
    "test.kept",
    "test.late",
    "test.early",
    "test.unsealed",
    *(f"test.{i}" for i in range(100)),
    *(f"test.writer{i}" for i in range(32)),
)

TEST_EVENT_TYPES = [EventType(name, "{actor}: " + name) for name in NAMES]


def is_test_type(name: str) -> bool:
    return name.startswith(TEST_PREFIX)
