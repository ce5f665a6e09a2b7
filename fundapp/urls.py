from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from fundapp.outage import api_not_found

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/v1/", include("fundapp.api.urls")),
    # Any other /api/ URL: a problem+json 404 whatever DEBUG is (§14).
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    path("accounts/", include("fundapp.accounts.urls")),
    path("notifications/", include("fundapp.notifications.urls")),
    path("webhooks/", include("fundapp.notifications.webhooks.urls")),
    path("screening/", include("fundapp.screening.urls")),
    path("", include("ip_licensing.urls")),
    path("", include("projects.urls")),
]

handler500 = "fundapp.outage.server_error"
handler404 = "fundapp.outage.page_not_found"
