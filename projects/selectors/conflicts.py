"""The conflict rules of §6, for whoever judges a consortium's work: a reviewer of a
proposal, a verifier of a project's results (§22). A person may not judge it who belongs
to one of the consortium's organisations, or who shares an active project with one of
its named people. Each caller words the reasons for its own role."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from fundapp.accounts.models import Membership, User
from projects.models import Project, ProjectPerson, ProjectState


def conflict_reasons(
    *,
    person: User,
    consortium: QuerySet[Any],
    named_people: QuerySet[Any],
    member_message: str,
    shares_message: str,
) -> list[str]:
    """Why ``person`` may not judge the consortium's work, each in the current language;
    empty when nothing excludes them.

    ``consortium`` is a query of rows with an ``organisation`` (the consortium's members),
    ``named_people`` one of rows with a ``user`` (the people the subject names).
    ``member_message`` takes ``%(org)s``; ``shares_message`` takes ``%(project)s`` and
    ``%(people)s``. One query for the memberships, one for the shared projects and one per
    shared project for its partners (a person rarely shares more than one)."""
    reasons: list[str] = []
    memberships = Membership.objects.filter(
        user=person, organisation__in=consortium.values("organisation")
    ).select_related("organisation")
    for membership in memberships.order_by("organisation__code"):
        reasons.append(member_message % {"org": membership.organisation.name})
    people = named_people.exclude(user=person).values("user")
    shared = (
        Project.objects.filter(state=ProjectState.ACTIVE, people__user=person)
        .filter(pk__in=ProjectPerson.objects.filter(user__in=people).values("project"))
        .distinct()
        .order_by("pk")
    )
    for project in shared:
        partners = ", ".join(
            str(row.user)
            for row in ProjectPerson.objects.filter(project=project, user__in=people)
            .select_related("user")
            .order_by("user__username")
        )
        reasons.append(shares_message % {"project": project.title, "people": partners})
    return reasons
