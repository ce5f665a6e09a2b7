"""Append-only audit events, the chain that seals them and signed checkpoints (§12).

An event is written with the SHA-256 of its own canonical JSON only, so appending takes
no lock shared with other transactions. One sealing job (``audit_chain_seal``) links
committed events into the chain afterwards: each ``AuditLink`` gives an event a position
and chains its hash to the link before it. ``AuditCheckpoint`` rows are the head of the
chain signed with an Ed25519 key the application processes never read. PostgreSQL refuses
UPDATE and DELETE on all three tables (pgtrigger), so a row once written can only be read.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from fundapp.fields import index_where_set
from fundapp.triggers import refuse_truncate


def _append_only(name: str) -> pgtrigger.Protect:
    return pgtrigger.Protect(name=name, operation=pgtrigger.Update | pgtrigger.Delete)


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    # The actors are indexed where there is one (``Meta.indexes``): the scheduler's and
    # the system's events, most of a busy day's, have none and add no index entry.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    actor_api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # Events written before sealing existed carry their predecessor's hash here (it is part
    # of their hashed content); since then the link lives in AuditLink and this is blank.
    prev_hash = models.CharField(max_length=64, blank=True)
    # SHA-256 of the event's canonical JSON (id included), computed by the database as it
    # assigns the id. Unique because the id is; no index of its own (each write would pay
    # for one random-order index entry, and nothing looks events up by hash).
    hash = models.CharField(max_length=64)
    # The writing transaction's id, set by the database. Not evidence, not hashed: it lets
    # the sealer find events committed since its last pass without scanning the table.
    txid = models.BigIntegerField(
        db_default=RawSQL("(pg_current_xact_id()::text)::bigint", ()), editable=False
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="audit_object_idx"),
            # Rows are appended in roughly txid order: a BRIN index finds recent ones at
            # almost no cost to writers.
            BrinIndex(fields=["txid"], name="audit_txid_brin"),
            # Events are appended in time order too: a range of times is found by BRIN as
            # well (the app itself looks events up by object, never by time).
            BrinIndex(fields=["occurred_at"], name="audit_occurred_brin"),
            # An actor's events (and the check that keeps a user or key with events from
            # being deleted): a user's or key's, never the many without one.
            index_where_set("actor_user", "audit_actor_user_idx"),
            index_where_set("actor_api_key", "audit_actor_api_key_idx"),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        triggers = [_append_only("audit_append_only"), refuse_truncate("audit_no_truncate")]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.object_type}:{self.object_id}"


class AuditLink(models.Model):
    """One sealed event: its place in the chain, written only by the sealer.

    Positions are contiguous from 1 in sealing order (ids in order within a pass; an event
    that commits after a higher id was sealed simply gets a later position), so the chain
    only ever grows at its head. ``hash`` = SHA-256 over position, event id, the event's
    content hash and ``prev_hash`` (the previous link's ``hash``, zeros for the first).
    """

    position = models.BigIntegerField(primary_key=True)
    # No database foreign key: evidence of a deleted event is the verifier's to report.
    event = models.OneToOneField(
        AuditEvent, on_delete=models.PROTECT, related_name="link", db_constraint=False
    )
    event_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Every committed event whose txid is below this was sealed when this link was written:
    # the next pass looks only at events from here on.
    txid_floor = models.BigIntegerField()
    sealed_at = models.DateTimeField()

    class Meta:
        ordering = ["position"]
        verbose_name = _("audit chain link")
        verbose_name_plural = _("audit chain links")
        triggers = [
            _append_only("audit_link_append_only"),
            refuse_truncate("audit_link_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"{self.position}: event #{self.event_id}"


class AuditCheckpoint(models.Model):
    """The sealed head, signed with the checkpoint key (Ed25519) and also logged to a file."""

    id = models.BigAutoField(primary_key=True)
    position = models.BigIntegerField()
    event_id = models.BigIntegerField()
    chain_hash = models.CharField(max_length=64)
    sealed_count = models.BigIntegerField()
    signed_at = models.DateTimeField()
    # SHA-256 of the raw public key, so a rotated key's checkpoints stay attributable.
    key_id = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["id"]
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")
        triggers = [
            _append_only("audit_checkpoint_append_only"),
            refuse_truncate("audit_checkpoint_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"checkpoint #{self.id} at position {self.position}"
