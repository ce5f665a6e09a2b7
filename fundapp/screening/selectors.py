"""Reads for screening (§11): matching, clearance, the queue and one case for an actor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from fundapp.actors import Actor
from fundapp.errors import NotFound

from .models import LIVE_STATES, RestrictedParty, ScreeningCase, ScreeningState
from .normalize import normalize_name
from .permissions import can_read_screening_cases

NOT_REQUIRED = "not_required"


def restricted_party_matches(parties: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every (organisation, active restricted party) pair whose normalized names meet.

    ``parties`` are ``{"organisation_id", "name", "aliases", "country"}``. One query:
    ``normalized_names && ARRAY[…]`` over the GIN index, whatever the list's length. The
    party's country is not a condition: a listed entity is listed wherever it operates.
    Results are ordered by organisation, then party, so reruns compare equal.
    """
    names_by_org: list[tuple[Mapping[str, Any], dict[str, str]]] = []
    wanted: set[str] = set()
    for party in parties:
        keyed: dict[str, str] = {}
        for raw in [party["name"], *party.get("aliases", [])]:
            key = normalize_name(raw)
            if key:
                keyed.setdefault(key, raw)
        names_by_org.append((party, keyed))
        wanted.update(keyed)
    if not wanted:
        return []
    listed = list(
        RestrictedParty.objects.filter(active=True, normalized_names__overlap=sorted(wanted))
        .order_by("pk")
        .values("pk", "name", "country", "source", "normalized_names")
    )
    matches: list[dict[str, Any]] = []
    for party, keyed in names_by_org:
        for row in listed:
            common = [key for key in keyed if key in set(row["normalized_names"])]
            if not common:
                continue
            matches.append(
                {
                    "party_id": row["pk"],
                    "party_name": row["name"],
                    "party_country": row["country"],
                    "party_source": row["source"],
                    "matched_name": keyed[common[0]],
                    "normalized": common[0],
                    "organisation": party["organisation_id"],
                    "organisation_name": party["name"],
                }
            )
    matches.sort(key=lambda m: (m["organisation"], m["party_id"]))
    return matches


def live_case(*, subject_type: str, subject_id: int) -> ScreeningCase | None:
    return (
        ScreeningCase.objects.filter(
            subject_type=subject_type, subject_id=subject_id, state__in=LIVE_STATES
        )
        .order_by("-pk")
        .first()
    )


def screening_clearance(*, subject_type: str, subject_id: int) -> str:
    """``"not_required"`` | ``"open"`` | ``"cleared"`` | ``"blocked"`` for one subject.

    ``not_required`` means no case exists: the subject had no reason to be screened and no
    organisation matched the list when ``screening_case_open`` last ran for it. Award and
    licence approval may go ahead on ``not_required`` and ``cleared`` only.
    """
    state = (
        ScreeningCase.objects.filter(
            subject_type=subject_type, subject_id=subject_id, state__in=LIVE_STATES
        )
        .values_list("state", flat=True)
        .first()
    )
    return state or NOT_REQUIRED


def screening_cases_visible_to(actor: Actor | None) -> QuerySet[ScreeningCase]:
    """Every case for screening and fund officers; nothing for anyone else."""
    cases = ScreeningCase.objects.select_related("decided_by").order_by("-opened_at", "-pk")
    if not can_read_screening_cases(actor):
        return cases.none()
    return cases


def screening_queue(
    actor: Actor | None, *, state: str = "", subject_type: str = ""
) -> QuerySet[ScreeningCase]:
    """The queue: open cases oldest first by default; filter by state and subject type."""
    cases = screening_cases_visible_to(actor)
    if state in ScreeningState.values:
        cases = cases.filter(state=state)
    if subject_type:
        cases = cases.filter(subject_type=subject_type)
    if state == ScreeningState.OPEN:
        # Work the oldest first.
        cases = cases.order_by("opened_at", "pk")
    return cases


def subject_types_in_use() -> list[str]:
    return list(
        ScreeningCase.objects.order_by("subject_type")
        .values_list("subject_type", flat=True)
        .distinct()
    )


def get_case_for_actor(actor: Actor | None, pk: Any) -> ScreeningCase:
    """The case, or the same 404 for "missing" and "not yours" (§2)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(_("No screening case has this id.")) from None
    case = screening_cases_visible_to(actor).select_related("previous").filter(pk=pk).first()
    if case is None:
        raise NotFound(_("No screening case has this id."))
    return case
