"""Celery tasks of the projects app (§16).

Each task is thin: it takes ids (or nothing), loads rows and calls one service, which
decides idempotency with row locks and constraints. Every task runs with ``acks_late`` so a
worker that dies mid-task leaves the message to be redelivered, and rerunning is harmless.
Beat schedules for these tasks are declared in ``projects.schedules``.

Sections: calls.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from projects.services.calls import calls_open_and_close

# --- calls (§4) ---------------------------------------------------------------------------


@shared_task(name="projects.open_and_close_calls", acks_late=True)
def open_and_close_calls() -> dict[str, list[int]]:
    """Open and close calls by their opens_at / closes_at; every 5 minutes from beat."""
    return calls_open_and_close(now=timezone.now()).as_dict()
