"""The site's URLs plus the measurement pages, until projects/urls.py includes them."""

from django.urls import NoReverseMatch, reverse

from fundapp.urls import handler404, handler500
from fundapp.urls import urlpatterns as site
from projects.views.measurements import urlpatterns as measurement_pages


def _already_included() -> bool:
    try:
        reverse("measurements:list", kwargs={"pk": 1}, urlconf="fundapp.urls")
    except NoReverseMatch:
        return False
    return True


urlpatterns = site if _already_included() else [*measurement_pages, *site]

__all__ = ["handler404", "handler500", "urlpatterns"]
