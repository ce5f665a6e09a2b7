"""Browser pages of the projects app; each view module lists its own routes."""

from projects.views import (
    amendments,
    calls,
    dashboard,
    deliverables,
    duplicates,
    finance,
    fund,
    measurements,
    portfolio,
    proposals,
    reports,
    reviews,
    verification,
)
from projects.views import projects as project_pages

urlpatterns = [
    *calls.urlpatterns,
    *dashboard.urlpatterns,
    *fund.urlpatterns,
    *proposals.urlpatterns,
    *measurements.urlpatterns,
    *reviews.urlpatterns,
    *duplicates.urlpatterns,
    *project_pages.urlpatterns,
    *finance.urlpatterns,
    *portfolio.urlpatterns,
    *verification.urlpatterns,
    *deliverables.urlpatterns,
    *reports.urlpatterns,
    *amendments.urlpatterns,
]
