"""API for research areas, calls and proposals (§14, §21)."""

from rest_framework.routers import DefaultRouter

from . import calls, proposals


def register(router: DefaultRouter) -> None:
    calls.register(router)
    proposals.register(router)
