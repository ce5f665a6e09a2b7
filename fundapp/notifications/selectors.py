"""Reading notifications: a person sees their own and nobody else's (§13)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.lookups import IsNull

from fundapp.errors import NotFound

from .models import EmailState, Notification

# A pending e-mail younger than this is probably still in the broker; leave it alone.
EMAIL_GRACE = timedelta(minutes=10)
# After this the reconciler stops trying (§13: retries for up to 24 hours).
EMAIL_RETRY_WINDOW = timedelta(hours=24)


def _is_person(actor: Any) -> bool:
    # API keys and anonymous visitors have no inbox.
    return bool(getattr(actor, "is_authenticated", False)) and hasattr(actor, "notifications")


def notifications_for(actor: Any, *, unread_only: bool = False) -> QuerySet[Notification]:
    """The actor's notifications, unread first, then newest first."""
    if not _is_person(actor):
        return Notification.objects.none()
    rows = Notification.objects.filter(user_id=actor.pk)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows.order_by(IsNull(F("read_at"), True).desc(), "-created_at", "-id")


def unread_count_for(actor: Any) -> int:
    """How many of the actor's notifications are unread: one COUNT on the inbox index."""
    if not _is_person(actor):
        return 0
    return Notification.objects.filter(user_id=actor.pk, read_at__isnull=True).count()


def get_notification_for_actor(actor: Any, pk: object) -> Notification:
    """The actor's own notification; NotFound for a missing one and for someone else's."""
    try:
        return notifications_for(actor).get(pk=int(str(pk)))
    except (Notification.DoesNotExist, ValueError):
        raise NotFound() from None


def notification_ids_awaiting_email(
    *, now: datetime, limit: int = 1000, grace: timedelta = EMAIL_GRACE
) -> list[int]:
    """Pending e-mails past the grace period and inside the retry window, oldest first."""
    return list(
        Notification.objects.filter(
            email_state=EmailState.PENDING,
            created_at__lte=now - grace,
            created_at__gt=now - EMAIL_RETRY_WINDOW,
        )
        .order_by("created_at", "id")
        .values_list("id", flat=True)[:limit]
    )
