"""A database or Redis outage answers 503 with a clear message and changes nothing (§17).

Redis holds the cache, the API's rate-limit counters and the Celery broker; when it does not
answer, a request that needs it answers 503 problem+json (API) or the 503 page, with
``Retry-After``, never a 500. Pages that need neither keep working (sessions live in the
database), and work enqueued after a commit is picked up by the periodic jobs once the
broker is back (every enqueue after commit is ``robust``).
"""

from __future__ import annotations

import logging
import sys

import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from kombu.exceptions import OperationalError as BrokerOperationalError

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    BrokerOperationalError,
)
RETRY_AFTER_SECONDS = "30"


def outage_body() -> dict:
    return {
        "type": "https://jk-fund.example/problems/service_unavailable",
        "title": _("Service unavailable"),
        "status": 503,
        "detail": _(
            "The service is briefly unavailable. Nothing was changed; please try again shortly."
        ),
        "code": "service_unavailable",
    }


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGE_ERRORS):
            return None
        logger.error("Database or Redis unavailable: %s", exception)
        return outage_response(request)


def outage_response(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            outage_body(), status=503, content_type="application/problem+json"
        )
    else:
        try:
            html: str = render_to_string(
                "503.html", {"detail": outage_body()["detail"]}, request=None
            )
        except Exception:  # noqa: BLE001 - rendering must not fail the error page
            html = str(outage_body()["detail"])
        response = HttpResponse(html, status=503)
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage raised anywhere (middleware included) still answers 503."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OUTAGE_ERRORS):
        return outage_response(request)
    try:
        html: str = render_to_string("500.html", request=None)
    except Exception:  # noqa: BLE001
        html = "<h1>Server error</h1>"
    return HttpResponse(html, status=500)


@csrf_exempt  # a 404 whatever the method: no CSRF 403 page for an unknown API URL
def api_not_found(request: HttpRequest) -> HttpResponse:
    """The last URL pattern under /api/: what no endpoint matched is a problem+json 404,
    also with DEBUG on (Django's technical 404 page is HTML). A path that exists with a
    trailing slash is redirected there, as Django's APPEND_SLASH does."""
    from django.conf import settings
    from django.http import HttpResponsePermanentRedirect

    path = request.path_info
    if settings.APPEND_SLASH and not path.endswith("/") and _resolves_to_an_endpoint(f"{path}/"):
        return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return page_not_found(request)


def _resolves_to_an_endpoint(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: problem+json under /api/, the site's page elsewhere."""
    from django.views.defaults import page_not_found as html_not_found

    if request.path.startswith("/api/"):
        body = {
            "type": "https://jk-fund.example/problems/not_found",
            "title": _("Not found"),
            "status": 404,
            "detail": _("Not found."),
            "code": "not_found",
        }
        return JsonResponse(body, status=404, content_type="application/problem+json")
    return html_not_found(request, exception or Exception())
