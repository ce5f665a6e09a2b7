"""A test-only write endpoint for the idempotency tests: it creates an organisation."""

from __future__ import annotations

import threading

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fundapp.accounts.models import Organisation
from fundapp.api.idempotency import idempotent
from fundapp.api.permissions import HasScope
from fundapp.errors import ValidationFailed


class Gates:
    """Lets a concurrency test hold a request inside its write (after the insert)."""

    entered = threading.Event()
    release = threading.Event()
    hold = False

    @classmethod
    def reset(cls, *, hold: bool) -> None:
        cls.entered = threading.Event()
        cls.release = threading.Event()
        cls.hold = hold


class OrganisationWrite(APIView):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"POST": "payments:write"}

    @idempotent
    def post(self, request: Request) -> Response:
        data = request.data
        org = Organisation.objects.create(
            code=data["code"], name_en=data.get("name", "Org"), country="JP", kind="university"
        )
        if Gates.hold:
            Gates.entered.set()
            assert Gates.release.wait(timeout=20)
        if data.get("fail") == "raise":
            raise ValidationFailed("refused", errors={"code": ["refused"]})
        if data.get("fail") == "answer":
            return Response({"detail": "refused"}, status=409)
        return Response(
            {"id": org.pk, "code": org.code, "name": org.name_en, "nested": {"b": 1, "a": [1, 2]}},
            status=201,
            headers={"Location": f"/organisations/{org.pk}/"},
        )


urlpatterns = [
    path("write/", OrganisationWrite.as_view()),
    path("write-again/", OrganisationWrite.as_view()),
]
