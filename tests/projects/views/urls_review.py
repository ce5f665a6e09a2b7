"""The whole site plus the review pages and API, for the review tests.

Used only while the lead has not yet wired ``projects.views.reviews.urlpatterns`` into
``projects/urls.py`` and ``projects.api.reviews.register`` into the API router (see
conftest.py); once wired, the tests run against the real URL configuration.
"""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from projects.api.reviews import register
from projects.views import reviews

router = DefaultRouter()
register(router)

urlpatterns = [
    path("api/v1/", include(router.urls)),
    *reviews.urlpatterns,
    path("", include("fundapp.urls")),
]
