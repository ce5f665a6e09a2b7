"""Browser pages of the projects app; each view module lists its own routes."""

from projects.views import calls, dashboard, fund, proposals

urlpatterns = [
    *calls.urlpatterns,
    *dashboard.urlpatterns,
    *fund.urlpatterns,
    *proposals.urlpatterns,
]
