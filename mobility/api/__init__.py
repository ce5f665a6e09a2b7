"""API of the talent exchange (§14, §25): mobility calls, visit applications, visits."""

from rest_framework.routers import DefaultRouter

from . import applications, visits


def register(router: DefaultRouter) -> None:
    """Register this app's viewsets on the /api/v1/ router."""
    applications.register(router)
    visits.register(router)
