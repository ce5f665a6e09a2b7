"""Exchange flows (§25): how many visits go from which country to which, and the money
committed to them, per research area and year — for the officers' chart."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import ExtractYear

from mobility.models import Visit, VisitState
from mobility.rules import MOBILITY_COUNTRIES


@dataclass(frozen=True)
class Flow:
    """Visits from ``home`` to ``host``: their number and the sums committed, by currency."""

    home: str
    host: str
    visits: int
    jpy: int
    krw: int


def exchange_flows(*, area_id: int | None = None, year: int | None = None) -> list[Flow]:
    """Every country-to-country route with at least one visit (cancelled visits left
    out), in JP/KR/US order; the year is the planned start's. One query."""
    rows = Visit.objects.exclude(state=VisitState.CANCELLED)
    if area_id is not None:
        rows = rows.filter(application__research_area_id=area_id)
    if year is not None:
        rows = rows.filter(planned_start__year=year)
    committed = F("months") * F("stipend_month_amount") + F("travel_amount")
    grouped = (
        rows.values(
            home=F("application__home_organisation__country"),
            host=F("application__host_organisation__country"),
        )
        .annotate(
            visits=Count("id"),
            jpy=Sum(committed, filter=Q(currency="JPY"), default=0),
            krw=Sum(committed, filter=Q(currency="KRW"), default=0),
        )
        .order_by()
    )
    order = {country: i for i, country in enumerate(MOBILITY_COUNTRIES)}
    flows = [Flow(r["home"], r["host"], r["visits"], int(r["jpy"]), int(r["krw"])) for r in grouped]
    return sorted(flows, key=lambda f: (order.get(f.home, 9), order.get(f.host, 9)))


def flow_years() -> list[int]:
    """The years with visits, newest first (one query)."""
    return list(
        Visit.objects.annotate(year=ExtractYear("planned_start"))
        .values_list("year", flat=True)
        .distinct()
        .order_by("-year")
    )
