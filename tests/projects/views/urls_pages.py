"""The whole site plus the project, gate, finance, portfolio and measurement pages.

Used only while the lead has not yet wired these views into ``projects/urls.py`` (see
conftest.py); once wired, the tests run against the real URL configuration.
"""

from django.urls import include, path

from projects.views import finance, measurements, portfolio
from projects.views import projects as project_pages

urlpatterns = [
    *project_pages.urlpatterns,
    *finance.urlpatterns,
    *portfolio.urlpatterns,
    *measurements.urlpatterns,
    path("", include("fundapp.urls")),
]
