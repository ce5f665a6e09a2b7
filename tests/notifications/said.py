"""Messages that say a given text, one per kind, for the tests of the notification
machinery itself (the domains' own messages are tested in test_messages.py)."""

from __future__ import annotations

from typing import Any

from fundapp.notifications.messages import Message, Plain
from fundapp.notifications.models import NotificationKind

TEST_MESSAGES = [
    Message(
        key=f"test.{kind}",
        kind=kind,
        title="{title}",
        body="{body}",
        params={"title": Plain(), "body": Plain()},
    )
    for kind in NotificationKind.values
]


def said(kind: str, title: str, body: str = "") -> dict[str, Any]:
    """``notify`` arguments for a notification of ``kind`` that says ``title`` and ``body``."""
    return {"message": f"test.{kind}", "params": {"title": title, "body": body}}
