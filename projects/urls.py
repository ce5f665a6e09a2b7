"""Browser pages of the projects app; each view module lists its own routes."""

from projects.views import calls, dashboard, proposals

urlpatterns = [*calls.urlpatterns, *dashboard.urlpatterns, *proposals.urlpatterns]
