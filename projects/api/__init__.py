"""API for research areas, calls, proposals, reviews and the funding engine (§14, §21)."""

from rest_framework.routers import DefaultRouter

from . import calls, deliverables, duplicates, engine, proposals, reports, reviews


def register(router: DefaultRouter) -> None:
    calls.register(router)
    proposals.register(router)
    reviews.register(router)
    engine.register(router)
    deliverables.register(router)
    duplicates.register(router)
    reports.register(router)
