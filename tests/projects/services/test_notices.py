"""Whom notifications about a project go to and where they link (§13), built once per batch."""

from __future__ import annotations

import pytest

from projects.models import ProjectOrganisation, ProjectPerson
from projects.services.notices import (
    project_organisation_ids,
    project_pi_recipients_and_organisations_many,
    project_pi_recipients_many,
    project_pis_many,
    project_url,
    project_urls,
)
from tests.factories import jp_org, kr_org, member_of
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


def test_the_pis_as_recipients_are_the_pis_in_the_same_order():
    # given a PI of two projects, an inactive PI, someone who is not a PI, and a project
    # whose PIs are all inactive
    built = [build_project() for _ in range(3)]
    first, second, third = (b.project for b in built)
    org = jp_org()
    shared = member_of(org, preferred_language="ko", email="")
    ProjectPerson.objects.create(
        project=second, organisation=org, user=shared, role="pi", effort_percent=10
    )
    ProjectPerson.objects.create(
        project=first, organisation=org, user=shared, role="pi", effort_percent=10
    )
    gone = member_of(org, is_active=False)
    ProjectPerson.objects.create(
        project=first, organisation=org, user=gone, role="pi", effort_percent=5
    )
    helper = member_of(org)
    ProjectPerson.objects.create(
        project=first, organisation=org, user=helper, role="member", effort_percent=5
    )
    for person in ProjectPerson.objects.filter(project=third, role="pi"):
        person.user.is_active = False
        person.user.save(update_fields=["is_active"])
    ids = [third.pk, first.pk, second.pk, first.pk, 0]

    # when they are read as recipients
    recipients = project_pi_recipients_many(ids)

    # then they are the users ``project_pis_many`` loads, as the notices take them
    assert recipients == {
        pk: [(u.pk, u.preferred_language, u.is_active, u.email) for u in users]
        for pk, users in project_pis_many(ids).items()
    }
    assert len(recipients[first.pk]) == 3
    assert recipients[third.pk] == []
    assert recipients[0] == []
    assert project_pi_recipients_many([]) == {}


def test_the_pis_and_organisations_read_together_are_those_read_apart():
    # given a PI of two projects, an inactive PI, someone who is not a PI, a project whose
    # PIs are all inactive, and organisations listed out of id order
    built = [build_project() for _ in range(3)]
    first, second, third = (b.project for b in built)
    org = jp_org()
    shared = member_of(org, preferred_language="ko", email="")
    for project in (second, first):
        ProjectPerson.objects.create(
            project=project, organisation=org, user=shared, role="pi", effort_percent=10
        )
    gone = member_of(org, is_active=False)
    ProjectPerson.objects.create(
        project=first, organisation=org, user=gone, role="pi", effort_percent=5
    )
    ProjectPerson.objects.create(
        project=first, organisation=org, user=member_of(org), role="member", effort_percent=5
    )
    for person in ProjectPerson.objects.filter(project=third, role="pi"):
        person.user.is_active = False
        person.user.save(update_fields=["is_active"])
    for order, organisation in ((0, kr_org()), (0, org)):
        ProjectOrganisation.objects.create(
            project=second,
            organisation=organisation,
            role="partner",
            side=organisation.country,
            budget=1,
            order=order,
        )
    ProjectOrganisation.objects.filter(project=first).update(order=5)
    ProjectOrganisation.objects.create(
        project=first, organisation=org, role="partner", side="JP", budget=1, order=1
    )
    ids = [third.pk, first.pk, second.pk, first.pk, 0]

    # when they are read in one statement
    pis, organisations = project_pi_recipients_and_organisations_many(ids)

    # then they are what the two reads give, in the same order
    assert pis == project_pi_recipients_many(ids)
    assert organisations == project_organisation_ids(ids)
    assert len(pis[first.pk]) == 3
    assert organisations[first.pk][0] == org.pk
    assert len(organisations[second.pk]) == 4
    assert (pis[0], organisations[0]) == ([], [])
    assert project_pi_recipients_and_organisations_many([]) == ({}, {})
