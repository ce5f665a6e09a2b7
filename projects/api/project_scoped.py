"""What the resources under a project share over the REST API (§24):
``/api/v1/projects/{id}/<resource>/`` (amendments, deliverables).

A project the caller may not see answers 404 (``get_project_for_actor``) whatever the
request asks, before any scope is checked, so a key without the scope learns nothing of
another organisation's project either. The list is paginated; a row is fetched and
authorised in one step; after a write the row is read back for its representation.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import mixins
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from fundapp.api.permissions import HasScope, actor_of
from projects.models import Project
from projects.selectors.projects import get_project_for_actor

PROJECT_ID = OpenApiParameter(
    "project_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The project's id."
)


# List and read the rows of one project; a subclass says which rows (``project_rows``), how
# one is fetched for the caller (``project_row``) and how it is read back after a write
# (``read_back``). No docstring: the schema would take it as every operation's description.
class ProjectScopedViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet, metaclass=ABCMeta
):
    permission_classes = [IsAuthenticated, HasScope]

    def check_permissions(self, request: Request) -> None:
        # A project the caller may not see answers 404 before any scope is asked for.
        if getattr(request.user, "is_authenticated", False) and not getattr(
            self, "swagger_fake_view", False
        ):
            self.project()
        super().check_permissions(request)

    def project(self) -> Project:
        return get_project_for_actor(actor_of(self.request), self.kwargs.get("project_pk"))

    @abstractmethod
    def project_rows(self, project: Project) -> QuerySet[Any]:
        """The rows of ``project`` the caller sees, in the list's order."""

    @abstractmethod
    def project_row(self, project: Project, pk: object) -> Any:
        """One row of ``project`` for the caller; missing and not visible give one 404."""

    @abstractmethod
    def read_back(self, row: Any) -> Any:
        """The row as the representation reads it, after a write."""

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return super().get_queryset()
        return self.project_rows(self.project())

    def get_object(self) -> Any:
        return self.project_row(self.project(), self.kwargs.get("pk"))

    def row_response(self, row: Model, status_code: int = 200) -> Response:
        """The row read back after a write, under the view's serializer."""
        return Response(
            self.get_serializer_class()(
                self.read_back(row), context=self.get_serializer_context()
            ).data,
            status=status_code,
        )
