"""Celery tasks of the talent exchange (§16, §25). Thin: they take ids (or nothing) and call
one service, which decides idempotency with row locks and constraints; late-acknowledged,
so a worker that dies mid-task leaves the message to be redelivered and a rerun is
harmless. The beat schedule is declared in ``projects.schedules``."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from mobility.services.stipends import stipends_release

_STIPEND_TASK: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 12,
}


@shared_task(name="mobility.release_stipends", **_STIPEND_TASK)
def release_stipends(visit_ids: list[int] | None = None) -> dict[str, object]:
    """Release every due, unreleased stipend month of the active visits (of ``visit_ids``
    when given): daily from beat, and after an arrival for its visit."""
    result = stipends_release(visit_ids=visit_ids)
    return {"released": [list(pair) for pair in result.released]}
