"""Browser pages of the talent exchange (§25); each view module lists its own routes."""

from django.urls import URLPattern, URLResolver

from mobility.views import flows, visits

urlpatterns: list[URLPattern | URLResolver] = [
    *flows.urlpatterns,
    *visits.urlpatterns,
]
