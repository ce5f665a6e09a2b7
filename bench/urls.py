"""The product's URLs plus one trivial JSON view, the baseline of the load test (§19)."""

from django.http import JsonResponse
from django.urls import include, path


def ping(request):
    return JsonResponse({"decision": "allow", "licence": None, "reasons": []})


urlpatterns = [
    path("bench/ping/", ping),
    path("", include("fundapp.urls")),
]
