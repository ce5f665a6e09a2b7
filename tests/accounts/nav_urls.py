"""A URLconf where every page the navigation names exists, for the navigation tests."""

from django.http import HttpResponse
from django.urls import include, path


def page(request):
    return HttpResponse("page")


proposals = ([path("", page, name="list")], "proposals")

urlpatterns = [
    path("accounts/", include("fundapp.accounts.urls")),
    path("manage/calls/", page, name="calls_manage_list"),
    path("proposals/", include(proposals)),
    path("dashboard/", page, name="dashboard"),
    path("", page, name="home"),
]
