from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from fundapp.outage import api_not_found

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (§17);
    # its icons are data: images.
    path(
        "api/docs/",
        csp_update({"img-src": ["data:"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    # ReDoc's styled-components insert <style> elements, its icons are data: images and its
    # search runs in a blob: worker: this page alone allows those (never an inline script,
    # never another origin: the Redocly logo it links from a CDN stays blocked).
    path(
        "api/redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "img-src": ["data:"], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="api-schema")
        ),
        name="api-redoc",
    ),
    path("api/v1/", include("fundapp.api.urls")),
    # Any other /api/ URL: a problem+json 404 whatever DEBUG is (§14).
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (admin, ReDoc).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/", include("fundapp.accounts.urls")),
    path("notifications/", include("fundapp.notifications.urls")),
    path("webhooks/", include("fundapp.notifications.webhooks.urls")),
    path("screening/", include("fundapp.screening.urls")),
    path("", include("ip_licensing.urls")),
    path("", include("projects.urls")),
    path("", include("mobility.urls")),
]

handler500 = "fundapp.outage.server_error"
handler404 = "fundapp.outage.page_not_found"
