"""Celery tasks of the IP registry and licensing (§16).

Thin: each computes today's Asia/Tokyo date (or takes the one asked for on demand) and
calls one service, which locks and re-checks every licence, so reruns, redeliveries after
a dead worker (``acks_late``) and several workers at once change each licence once. Beat
schedules are declared in ``projects.schedules``.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ip_licensing.services.licences import (
    licence_expiry_reminders as run_expiry_reminders,
)
from ip_licensing.services.licences import (
    licences_activate_and_expire,
    tokyo_today,
)
from ip_licensing.services.obligations import obligations_mark_due as run_obligations_mark_due
from ip_licensing.services.royalty_integrity import royalty_overdue_run

# A database outage is retried with backoff (§17); the work is idempotent.
RETRY_ON = (OperationalError, InterfaceError)


def _day(on: str | None) -> date:
    return date.fromisoformat(on) if on else tokyo_today()


@shared_task(
    name="ip_licensing.activate_and_expire_licences",
    acks_late=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,
)
def activate_and_expire_licences(on: str | None = None) -> dict[str, list[int]]:
    """Activate approved licences whose start date has come and expire those past their
    end date; daily at 00:05 Asia/Tokyo from beat, or on demand (``on``: YYYY-MM-DD)."""
    return licences_activate_and_expire(today=_day(on))


@shared_task(
    name="ip_licensing.licence_expiry_reminders",
    acks_late=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,
)
def licence_expiry_reminders(on: str | None = None) -> dict[str, list[int]]:
    """Remind the parties 30 and 7 days before a licence ends, once each; daily from beat."""
    return run_expiry_reminders(today=_day(on))


@shared_task(
    name="ip_licensing.obligations_mark_due",
    acks_late=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,
)
def obligations_mark_due(on: str | None = None) -> dict[str, list[int]]:
    """Make obligations overdue (cure notice) and breached by their days; daily at 00:10
    Asia/Tokyo from beat, or on demand (``on``: YYYY-MM-DD). Idempotent."""
    return run_obligations_mark_due(today=_day(on))


@shared_task(
    name="ip_licensing.royalty_overdue_reports",
    acks_late=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,
)
def royalty_overdue_reports(on: str | None = None) -> dict[str, list[int]]:
    """Remind of royalty reports due 30 days after their quarter and mark those missing
    45 days after overdue; daily from beat, or on demand (``on``: YYYY-MM-DD)."""
    return royalty_overdue_run(today=_day(on))
