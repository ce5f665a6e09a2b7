"""The unread count in the page header (§13, §15)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.http import HttpRequest

from .selectors import unread_count_for


def unread_count(request: HttpRequest) -> dict[str, Callable[[], int]]:
    """``notifications_unread_count``: one COUNT, run only if the page shows it.

    Templates call the value when they use it; the answer is remembered for the rest of
    this one rendering, never across requests (a count must not lag behind a mark-read).
    """
    user: Any = getattr(request, "user", None)

    @cache
    def count() -> int:
        return unread_count_for(user)

    return {"notifications_unread_count": count}
