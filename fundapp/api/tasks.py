"""Housekeeping for the API layer."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .models import IdempotencyRecord

# A partner retrying the same write a month later is a new request, not a retry.
IDEMPOTENCY_RETENTION = timedelta(days=30)


@shared_task(name="api.purge_idempotency_records", acks_late=True)
def purge_idempotency_records() -> int:
    """Delete idempotency records older than the retention period; returns how many."""
    cutoff = timezone.now() - IDEMPOTENCY_RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
