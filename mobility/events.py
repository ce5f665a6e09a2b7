"""The event types the talent exchange writes (§12 audit actions, §13.2 outbox events),
registered by ``MobilityConfig.ready``, and the ``data`` of its outbox events, built from
rows the service already holds. See ``fundapp.kernel.events`` and ``projects/events.py``."""

from __future__ import annotations


def register() -> None:
    """Register every event type of the talent exchange (called once, at start-up)."""
    # ----------------------------------------------------------------- calls → award
    # ----------------------------------------------------------------- visits
