"""Telling people about money and gate events (§13): whom a project concerns and where
its page is. Sending goes through the kernel's ``fundapp.kernel.notices``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Model
from django.urls import NoReverseMatch, reverse

from fundapp.accounts.models import User
from fundapp.kernel.notices import PeopleNotice as PeopleNotice
from fundapp.kernel.notices import RecipientsNotice as RecipientsNotice
from fundapp.kernel.notices import finance_officers as finance_officers
from fundapp.kernel.notices import notify_people as notify_people
from fundapp.kernel.notices import notify_people_many as notify_people_many
from fundapp.kernel.notices import notify_people_many_parts as notify_people_many_parts
from fundapp.kernel.notices import officers as officers
from fundapp.kernel.notices import recipients_of as recipients_of
from fundapp.prepared import fetch_prepared
from projects.models import Project, ProjectOrganisation, ProjectPerson


def project_url(project: Project) -> str:
    """The project's page, or "" while the browser UI does not name one."""
    return project_url_of(project.pk)


def project_url_of(project_id: int) -> str:
    """``project_url`` by the project's id."""
    for name in ("projects:project_detail", "projects:project"):
        try:
            return reverse(name, args=[project_id])
        except NoReverseMatch:
            continue
    return ""


# Stands for a project's id in a URL reversed once (``project_urls_by_id``); a number no
# other part of a project's path can spell.
_ID_SENTINEL = 987_654_321_987_654_321


def project_urls_by_id(project_ids: Iterable[int]) -> dict[int, str]:
    """``project_url_of`` of many projects, by id: reversed once, then the id put in."""
    ids = sorted(set(project_ids))
    template = project_url_of(_ID_SENTINEL) if ids else ""
    return {pk: template.replace(str(_ID_SENTINEL), str(pk)) for pk in ids}


def project_urls(projects: Iterable[Project]) -> dict[int, str]:
    """``project_url`` of many projects, by id (``project_urls_by_id``)."""
    return project_urls_by_id(project.pk for project in projects)


def project_pis(project: Project) -> list[User]:
    user_ids = ProjectPerson.objects.filter(project=project, role="pi").values("user_id")
    return list(User.objects.filter(pk__in=user_ids, is_active=True))


def project_pis_many(project_ids: Iterable[int]) -> dict[int, list[User]]:
    """``project_pis`` of many projects, by project id, in one query."""
    ids = sorted(set(project_ids))
    found: dict[int, list[User]] = {pk: [] for pk in ids}
    if not ids:
        return found
    people = (
        ProjectPerson.objects.filter(project_id__in=ids, role="pi", user__is_active=True)
        .select_related("user")
        .order_by("project_id", "user_id")
    )
    for person in people:
        if all(user.pk != person.user_id for user in found[person.project_id]):
            found[person.project_id].append(person.user)
    return found


def project_pi_recipients_many(
    project_ids: Iterable[int],
) -> dict[int, list[tuple[int, str, bool, str]]]:
    """``project_pis_many`` as the recipients a ``RecipientsNotice`` takes (``(user id,
    preferred language, active, e-mail)``), by project id, in the same order: read as
    values in one query, without loading a ``User``."""
    ids = sorted(set(project_ids))
    found: dict[int, list[tuple[int, str, bool, str]]] = {pk: [] for pk in ids}
    if not ids:
        return found
    seen: set[tuple[int, int]] = set()
    for project_id, user_id, language, active, email in (
        ProjectPerson.objects.filter(project_id__in=ids, role="pi", user__is_active=True)
        .order_by("project_id", "user_id")
        .values_list(
            "project_id", "user_id", "user__preferred_language", "user__is_active", "user__email"
        )
    ):
        if (project_id, user_id) not in seen:
            seen.add((project_id, user_id))
            found[project_id].append((user_id, language, active, email))
    return found


def project_organisation_ids(project_ids: Iterable[int]) -> dict[int, list[int]]:
    """The organisations of each project (whom its webhook events concern), in one query."""
    ids = sorted(set(project_ids))
    found: dict[int, list[int]] = {pk: [] for pk in ids}
    if ids:
        for project_id, organisation_id in (
            ProjectOrganisation.objects.filter(project_id__in=ids)
            .order_by("project_id", "order", "id")
            .values_list("project_id", "organisation_id")
        ):
            found[project_id].append(organisation_id)
    return found


def _column(model: type[Model], name: str) -> str:
    """The table column of the model's field ``name``, quoted."""
    return connection.ops.quote_name(
        next(f.column for f in model._meta.concrete_fields if f.name == name)
    )


# Per project: its organisations in listed order (``project_organisation_ids``), then its
# active PIs by user id (``project_pi_recipients_many``), each a row marked by ``is_pi``;
# two set-based halves (a lateral read per project cost four times as much).
_PIS_AND_ORGANISATIONS_SQL = f"""
SELECT false AS is_pi, o.{_column(ProjectOrganisation, "project")} AS project_id,
       o.{_column(ProjectOrganisation, "organisation")}, NULL::text, NULL::text,
       o.{_column(ProjectOrganisation, "order")} AS first_key, o.id AS second_key
  FROM {ProjectOrganisation._meta.db_table} o
 WHERE o.{_column(ProjectOrganisation, "project")} = ANY(%s::bigint[])
UNION ALL
SELECT DISTINCT true, pp.{_column(ProjectPerson, "project")}, u.id,
       u.{_column(User, "preferred_language")}, u.{_column(User, "email")}, 0, u.id
  FROM {ProjectPerson._meta.db_table} pp
  JOIN {User._meta.db_table} u ON u.id = pp.{_column(ProjectPerson, "user")}
 WHERE pp.{_column(ProjectPerson, "project")} = ANY(%s::bigint[])
   AND pp.{_column(ProjectPerson, "role")} = %s::text
   AND u.{_column(User, "is_active")}
 ORDER BY project_id, is_pi, first_key, second_key
"""  # noqa: S608 (names from the models, values as parameters)


def project_pi_recipients_and_organisations_many(
    project_ids: Iterable[int],
) -> tuple[dict[int, list[tuple[int, str, bool, str]]], dict[int, list[int]]]:
    """``project_pi_recipients_many`` and ``project_organisation_ids`` of the same
    projects, in one statement (prepared once per connection): the same values in the same
    order."""
    ids = sorted(set(project_ids))
    pis: dict[int, list[tuple[int, str, bool, str]]] = {pk: [] for pk in ids}
    organisations: dict[int, list[int]] = {pk: [] for pk in ids}
    if not ids:
        return pis, organisations
    for is_pi, project_id, the_id, language, email, _first, _second in fetch_prepared(
        _PIS_AND_ORGANISATIONS_SQL, [ids, ids, "pi"], binary=True
    ):
        if is_pi:
            pis[project_id].append((the_id, language, True, email))
        else:
            organisations[project_id].append(the_id)
    return pis, organisations
