"""Reads of the IP registry and licences (§2, §10), filtered in SQL.

- Assets: the registry is the point — every signed-in person and every API key sees every
  asset (kind, titles, owner, status). Anonymous visitors see none.
- Licences: fund staff see all; a person sees the licences of the organisations they
  belong to (licensor or licensee) and those shared with them by a guardian
  ``view_licence`` grant; an API key sees its organisation's licences. Anything else is a
  404, the same as a missing row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import ApiKey, Membership, User
from fundapp.actors import Actor, is_fund_staff
from fundapp.errors import NotFound
from fundapp.kernel.registry import ProjectRow
from ip_licensing import rules
from ip_licensing.models import IPAsset, Licence, LicenceAsset, LicenceUserObjectPermission


def _signed_in(actor: Actor | None) -> bool:
    if isinstance(actor, ApiKey):
        return True
    return isinstance(actor, User) and actor.is_authenticated and actor.is_active


def _pk(value: object) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise NotFound()
    return int(text)


# -- assets --------------------------------------------------------------------------------


def assets_visible_to(actor: Actor | None) -> QuerySet[IPAsset]:
    """Every asset for signed-in people and API keys; none for anyone else. One query."""
    assets = IPAsset.objects.select_related("owner", "project", "research_area")
    return assets if _signed_in(actor) else assets.none()


def get_asset_for_actor(actor: Actor | None, pk: object) -> IPAsset:
    """Fetch and authorise in one step: missing and not visible give the same 404."""
    asset = assets_visible_to(actor).filter(pk=_pk(pk)).first()
    if asset is None:
        raise NotFound()
    return asset


def project_results(project_id: int) -> QuerySet[IPAsset]:
    """The assets registered as results of a project."""
    return IPAsset.objects.filter(project_id=project_id)


RESULTS_NOT_REGISTERED = gettext_lazy(
    "Register the project's results (IP assets with their owner) before the final gate."
)


def final_gate_requirements_met(project: ProjectRow) -> tuple[bool, str]:
    """The IP registry's part of the final gate (§7, §10.1): the project's results are
    registered, i.e. at least one IP asset names the project (each asset has its one owner
    by construction). ``(False, reason)`` otherwise, the reason in the active language."""
    return final_gate_requirements_met_many([project.pk])[project.pk]


def final_gate_requirements_met_many(project_ids: Iterable[int]) -> dict[int, tuple[bool, str]]:
    """``final_gate_requirements_met`` for many projects at once, by project id. One query
    whatever the number of projects (none for an empty set)."""
    ids = sorted({int(pk) for pk in project_ids})
    if not ids:
        return {}
    registered = set(
        IPAsset.objects.filter(project_id__in=ids).values_list("project_id", flat=True).distinct()
    )
    reason = str(RESULTS_NOT_REGISTERED)
    return {pk: (True, "") if pk in registered else (False, reason) for pk in ids}


# -- licences ------------------------------------------------------------------------------


def licences_visible_to(actor: Actor | None) -> QuerySet[Licence]:
    """One SQL query, no per-row checks (see the module docstring)."""
    licences = Licence.objects.select_related("licensor", "licensee")
    ids = licence_ids_visible_to(actor)
    return licences if ids is None else licences.filter(pk__in=ids)


def licence_ids_visible_to(actor: Actor | None) -> QuerySet[Any, Any] | None:
    """The ids of the licences the actor sees, as a subquery; ``None`` for all of them.

    A restricted actor's ids are ``… UNION …`` of index lookups (licences by licensor, by
    licensee, per-object grants by person), so a filter ``pk IN (ids)`` is a semi-join
    PostgreSQL starts from the few visible rows, never an ``OR`` of subqueries tested
    against every licence.
    """
    if isinstance(actor, ApiKey):
        return _licence_ids_of([actor.organisation_id])
    if not isinstance(actor, User) or not actor.is_authenticated or not actor.is_active:
        return Licence.objects.none().values("pk")
    if is_fund_staff(actor):
        return None
    memberships = Membership.objects.filter(user=actor).values("organisation_id")
    granted = (
        LicenceUserObjectPermission.objects.filter(user=actor, permission__codename="view_licence")
        .order_by()
        .values("content_object_id")
    )
    return _licence_ids_of(memberships).union(granted)


def _licence_ids_of(organisations: QuerySet[Any] | list[int]) -> QuerySet[Licence, Any]:
    """The ids of the licences the organisations are a party to (licensor or licensee),
    and the sublicences granted under the licences they license out (§23: the licensor
    consents to them)."""
    as_licensor = Licence.objects.filter(licensor_id__in=organisations).order_by().values("pk")
    as_licensee = Licence.objects.filter(licensee_id__in=organisations).order_by().values("pk")
    under_own = (
        Licence.objects.filter(
            parent_id__in=Licence.objects.filter(licensor_id__in=organisations).values("pk")
        )
        .order_by()
        .values("pk")
    )
    return as_licensor.union(as_licensee, under_own)


def get_licence_for_actor(actor: Actor | None, pk: object) -> Licence:
    """Fetch and authorise in one step: missing and not visible give the same 404."""
    licence = licences_visible_to(actor).filter(pk=_pk(pk)).first()
    if licence is None:
        raise NotFound()
    return licence


def licence_assets(licence: Licence) -> QuerySet[IPAsset]:
    return IPAsset.objects.filter(licence_links__licence=licence).order_by("pk")


def licence_asset_ids(licence: Licence) -> list[int]:
    return sorted(LicenceAsset.objects.filter(licence=licence).values_list("asset_id", flat=True))


def _terms(licence: Licence, asset_id: int) -> rules.LicenceTerms:
    return rules.LicenceTerms(
        licence_id=licence.pk,
        asset_id=asset_id,
        licensee_id=licence.licensee_id,
        fields=tuple(licence.fields_of_use),
        purposes=tuple(licence.purposes),
        territories=tuple(licence.territories),
        start=licence.start_on,
        end=licence.end_on,
        exclusivity=licence.exclusivity,
        state=licence.state,
    )


def sublicences_of(licence: Licence) -> QuerySet[Licence]:
    """The sublicences granted under the licence (§23), oldest first, with their parties
    and consent (one query)."""
    return (
        Licence.objects.filter(parent_id=licence.pk)
        .select_related("licensor", "licensee", "consent")
        .order_by("created_at", "id")
    )


def licence_conflicts(licence: Licence) -> list[Licence]:
    """The other licences the licence may not coexist with (§10.2), by id.

    Judged by :func:`ip_licensing.rules.exclusive_conflicts` against the other licences of
    the same assets that are pending, approved, active or suspended. The services call it
    after locking the asset rows, so the answer holds until they commit.
    """
    asset_ids = licence_asset_ids(licence)
    links = (
        LicenceAsset.objects.filter(
            asset_id__in=asset_ids, licence__state__in=rules.CONFLICTING_STATES
        )
        .exclude(licence_id=licence.pk)
        .select_related("licence")
    )
    others = [_terms(link.licence, link.asset_id) for link in links]
    ids: set[int] = set()
    for asset_id in asset_ids:
        ids.update(rules.exclusive_conflicts(_terms(licence, asset_id), others))
    return list(Licence.objects.filter(pk__in=ids).order_by("pk"))
