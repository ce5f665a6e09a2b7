"""A URLconf with only the accounts pages: the other pages of the navigation do not exist."""

from django.urls import include, path

urlpatterns = [path("accounts/", include("fundapp.accounts.urls"))]
