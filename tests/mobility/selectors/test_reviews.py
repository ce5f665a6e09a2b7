"""Reading the review of visit applications: the conflict rules for many reviewers at once
say what ``exclusion_reasons`` says for each, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.utils import translation

from fundapp.accounts.models import Role
from mobility.selectors.reviews import exclusions_for
from mobility.services.reviews import exclusion_reasons
from projects.models import ProjectPerson
from tests.factories import ProjectFactory, UserFactory
from tests.factories.mobility import endorsed_application, exchange
from tests.factories.review import reviewer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["en", "ja", "ko"])
def test_the_reasons_for_many_reviewers_are_those_of_each(language):
    x = exchange()
    application = endorsed_application(x)
    free, home, host, both, partner = (reviewer() for _ in range(5))
    home.memberships.create(organisation=x.home)
    host.memberships.create(organisation=x.host)
    both.memberships.create(organisation=x.host)
    both.memberships.create(organisation=x.home)
    project = ProjectFactory.create()
    for who in (partner, both, x.visitor):
        ProjectPerson.objects.create(
            project=project, user=who, organisation=x.home, role="pi", effort_percent=10
        )
    visitor = x.visitor
    visitor.role = Role.REVIEWER
    people = [free, home, host, both, partner, visitor]

    with translation.override(language):
        together = exclusions_for(application, people)
        one_by_one = {p.pk: exclusion_reasons(application, p) for p in people}

    assert together == {pk: reasons for pk, reasons in one_by_one.items() if reasons}
    assert free.pk not in together
    assert len(together[both.pk]) == 3


@pytest.mark.parametrize("count", [2, 8])
def test_the_reasons_cost_two_queries_whatever_the_number_of_reviewers(
    django_assert_num_queries, count
):
    x = exchange()
    application = endorsed_application(x)
    people = [UserFactory.create(role=Role.REVIEWER) for _ in range(count)]
    for person in people[::2]:
        person.memberships.create(organisation=x.host)

    with django_assert_num_queries(2):
        found = exclusions_for(application, people)

    assert len(found) == count // 2
