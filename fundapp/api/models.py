"""What the API plumbing stores: the first answer to each ``Idempotency-Key`` (§14)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    USER = "user", _("person")
    API_KEY = "api_key", _("API key")


class IdempotencyRecord(models.Model):
    """One idempotent write of one actor: the request's fingerprint and its first response.

    The row is inserted *before* the write, in the same database transaction, and completed
    with the response before that transaction commits. So a committed row always carries a
    response; a concurrent duplicate blocks on the unique constraint until the first commits
    (then replays it) or rolls back (then performs the write itself); a refused request
    leaves no row, and the client may retry with the same key.
    """

    actor_kind = models.CharField(_("actor kind"), max_length=8, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(_("actor id"))
    key = models.CharField(_("idempotency key"), max_length=200)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    request_hash = models.CharField(
        _("request hash"), max_length=64, help_text=_("SHA-256 of the canonical JSON body.")
    )
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True)
    # The rendered JSON text, so a replay answers byte for byte what the first one did
    # (jsonb would reorder the keys).
    response_body = models.TextField(_("response body"), blank=True)
    response_headers = models.JSONField(_("response headers"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(
                fields=["actor_kind", "actor_id", "key"], name="idempotency_key_per_actor"
            )
        ]

    def __str__(self) -> str:
        return f"{self.actor_kind}:{self.actor_id} {self.key}"
