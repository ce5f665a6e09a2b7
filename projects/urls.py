"""Browser pages of the projects app; each view module lists its own routes."""

from projects.views import calls, dashboard, fund, measurements, proposals, reviews

urlpatterns = [
    *calls.urlpatterns,
    *dashboard.urlpatterns,
    *fund.urlpatterns,
    *proposals.urlpatterns,
    *measurements.urlpatterns,
    *reviews.urlpatterns,
]
