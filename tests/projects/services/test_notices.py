"""Links in notifications (§13): each project's page, built once per batch."""

from __future__ import annotations

import pytest

from projects.services.notices import project_url, project_urls
from tests.factories.gates import build_project

pytestmark = pytest.mark.django_db


def test_the_batch_links_each_project_to_its_own_page():
    projects = [build_project().project for _ in range(3)]

    urls = project_urls(projects)

    assert urls == {project.pk: project_url(project) for project in projects}
    assert len(set(urls.values())) == 3
    assert all(str(project.pk) in urls[project.pk] for project in projects)


def test_no_projects_no_links():
    assert project_urls([]) == {}
