"""A URLconf where every page the navigation names exists, for the navigation tests."""

from django.http import HttpResponse
from django.urls import include, path


def page(request):
    return HttpResponse("page")


calls = ([path("", page, name="public_list"), path("manage/", page, name="manage")], "calls")
proposals = ([path("", page, name="list")], "proposals")

urlpatterns = [
    path("accounts/", include("fundapp.accounts.urls")),
    path("calls/", include(calls)),
    path("proposals/", include(proposals)),
    path("dashboard/", page, name="dashboard"),
    path("", page, name="home"),
]
