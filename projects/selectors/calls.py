"""Reading calls and research areas (§4), filtered in SQL.

Draft calls are the fund's work in progress: only fund officers see them. Everyone else
(researchers, partner systems, anonymous visitors) sees published calls only, and a
request for a draft answers 404 like a missing id (§2, no existence leak).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from fundapp.actors import Actor, is_fund_officer
from fundapp.errors import NotFound
from projects.models import Call, CallState, ResearchArea, ReviewCriterion


def call_accepts_submissions(call: Call, now: datetime) -> bool:
    """True while the call takes proposals: state open AND opens_at ≤ now < closes_at.

    ``now`` is the server's clock, never the client's: a proposal sent after closes_at is
    refused whatever the state column says (the beat task may not have closed it yet).
    """
    return call.is_open_at(now)


def _areas() -> Prefetch:
    return Prefetch("research_areas", queryset=ResearchArea.objects.order_by("code"))


def _with_relations(qs: QuerySet[Call]) -> QuerySet[Call]:
    """One query per relation, whatever the number of calls (areas and criteria)."""
    return qs.prefetch_related(
        _areas(), Prefetch("criteria", queryset=ReviewCriterion.objects.order_by("order", "id"))
    )


def calls_visible_to(actor: Actor | None) -> QuerySet[Call]:
    """Fund officers see every call; everyone else sees published (non-draft) calls."""
    qs = Call.objects.all()
    if is_fund_officer(actor):
        return qs
    return qs.exclude(state=CallState.DRAFT)


def calls_list(
    *, actor: Actor | None, state: str | None = None, area_code: str | None = None
) -> QuerySet[Call]:
    """Calls the actor may see, optionally by state and research area (the area or below it)."""
    qs = calls_visible_to(actor)
    if state:
        qs = qs.filter(state=state)
    if area_code:
        qs = qs.filter(calls_in_area(area_code))
    return _with_relations(qs).order_by("-opens_at", "id")


def calls_in_area(area_code: str) -> Exists:
    """A filter for calls that name the area or one of its descendants (dotted codes)."""
    through = Call.research_areas.through
    return Exists(
        through.objects.filter(call_id=OuterRef("pk")).filter(
            Q(researcharea__code=area_code) | Q(researcharea__code__startswith=area_code + ".")
        )
    )


def open_calls(*, now: datetime) -> QuerySet[Call]:
    """The public list: open calls whose deadline has not passed, nearest deadline first.

    Two queries whatever the number of calls: the calls, then their areas.
    """
    return (
        Call.objects.filter(state=CallState.OPEN, closes_at__gt=now)
        .prefetch_related(_areas())
        .order_by("closes_at", "id")
    )


def get_call_for_actor(actor: Actor | None, pk: object) -> Call:
    """Fetch and authorise in one step: a missing call and a draft one give the same 404."""
    try:
        pk_int = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None
    call = _with_relations(calls_visible_to(actor)).select_related("fund").filter(pk=pk_int).first()
    if call is None:
        raise NotFound()
    return call


def research_areas_list() -> QuerySet[ResearchArea]:
    return ResearchArea.objects.order_by("code")
