"""The projects domain's answers about its projects for other domains (``ip_licensing``),
registered with the kernel's ``project_directory`` in ``ProjectsConfig.ready``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from projects.models import Project, ProjectOrganisation, ProjectPerson
from projects.selectors.projects import projects_visible_to


class ProjectDirectory:
    model = Project

    def get(self, pk: int) -> Project | None:
        return Project.objects.filter(pk=pk).first()

    def lock(self, pk: int) -> Project:
        return Project.objects.select_for_update(of=("self",)).get(pk=pk)

    def visible_to(self, user: Any) -> QuerySet[Project]:
        return projects_visible_to(user)

    def organisation_ids(self, project_id: int) -> list[int]:
        return list(
            ProjectOrganisation.objects.filter(project_id=project_id)
            .order_by("order", "id")
            .values_list("organisation_id", flat=True)
        )

    def has_organisation(self, project_id: int, organisation_id: int) -> bool:
        return ProjectOrganisation.objects.filter(
            project_id=project_id, organisation_id=organisation_id
        ).exists()

    def pi_user_ids(self, organisation_ids: Iterable[int] | QuerySet[Any]) -> QuerySet[Any]:
        return ProjectPerson.objects.filter(organisation_id__in=organisation_ids, role="pi").values(
            "user_id"
        )

    def is_pi_for(self, user_id: int, organisation_id: int) -> bool:
        return ProjectPerson.objects.filter(
            user_id=user_id, organisation_id=organisation_id, role="pi"
        ).exists()
