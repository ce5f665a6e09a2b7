"""Browser pages of the talent exchange (§25); each view module lists its own routes."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
