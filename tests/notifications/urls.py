"""The accounts and notification pages only: these tests do not depend on other rooms' routes."""

from django.urls import include, path

urlpatterns = [
    path("accounts/", include("fundapp.accounts.urls")),
    path("notifications/", include("fundapp.notifications.urls")),
]
