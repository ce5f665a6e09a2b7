"""Browser pages of the talent exchange (§25); each view module lists its own routes."""

from django.urls import URLPattern, URLResolver

from mobility.views import applications, calls, decisions, endorsements, flows, reviews, visits

urlpatterns: list[URLPattern | URLResolver] = [
    *applications.urlpatterns,
    *calls.urlpatterns,
    *decisions.urlpatterns,
    *endorsements.urlpatterns,
    *flows.urlpatterns,
    *reviews.urlpatterns,
    *visits.urlpatterns,
]
