"""Reading the portfolio (§15): money per side, research area and call; KPIs behind target.

Money is summed in SQL over tranches and disbursements, grouped by currency first, so JPY
and KRW are never added together. Each function answers in a fixed number of queries,
whatever the number of projects.

- committed: what the fund has promised projects and not taken back — a released tranche
  counts with its released amount (bonus included, reduction left out), a planned or
  decided tranche with its planned amount, a cancelled one (termination) not at all;
- released: the released amount of released tranches;
- paid: disbursements whose payment finance has confirmed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Case, Count, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from fundapp.accounts.models import User
from fundapp.ledger.rules import SIDE_CURRENCY
from projects.models import (
    KPI,
    Disbursement,
    DisbursementState,
    Measurement,
    Project,
    ProjectState,
    StageState,
    Tranche,
    TrancheState,
)
from projects.rules import gates as rules
from projects.selectors.gates import has_evidence_files
from projects.selectors.projects import projects_visible_to

CURRENCIES = ("JPY", "KRW")


@dataclass(frozen=True)
class MoneyRow:
    """One bar group of the portfolio: a side, a research area or a call, in one currency."""

    key: str
    label: str
    currency: str
    committed: int
    released: int
    paid: int


@dataclass(frozen=True)
class Portfolio:
    by_side: list[MoneyRow]
    by_area: dict[str, list[MoneyRow]]  # currency → rows
    by_call: dict[str, list[MoneyRow]]  # currency → rows
    project_states: list[tuple[str, str, int]]  # (state, label, count)


_COMMITTED = Coalesce(
    Sum(
        Case(
            When(state=TrancheState.RELEASED, then=F("released")),
            When(state__in=(TrancheState.PLANNED, TrancheState.DECIDED), then=F("planned")),
            default=Value(0),
            output_field=BigIntegerField(),
        )
    ),
    Value(0),
    output_field=BigIntegerField(),
)
_RELEASED = Coalesce(
    Sum("released", filter=Q(state=TrancheState.RELEASED)),
    Value(0),
    output_field=BigIntegerField(),
)


def _lang() -> str:
    return (get_language() or "en")[:2]


def _localized(row: dict[str, Any], prefix: str) -> str:
    return str(row.get(f"{prefix}_{_lang()}") or row.get(f"{prefix}_en") or "")


def _grouped(
    group: list[str], tranche_prefix: str, label: Any, *, order: str = "label"
) -> dict[str, list[MoneyRow]]:
    """Two queries: tranche sums and paid disbursements, both grouped by currency and
    ``group`` (field paths from ``Tranche``; disbursements reach them through ``tranche__``)."""
    money: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
    tranche_rows = (
        Tranche.objects.values("currency", *group)
        .annotate(committed=_COMMITTED, released_sum=_RELEASED)
        .order_by()
    )
    for row in tranche_rows:
        key = (row["currency"], tuple(row[g] for g in group))
        money[key] = {"row": row, "committed": row["committed"], "released": row["released_sum"]}
    paid_rows = (
        Disbursement.objects.filter(state=DisbursementState.PAID)
        .values("currency", *[f"{tranche_prefix}{g}" for g in group])
        .annotate(paid=Sum("amount"))
        .order_by()
    )
    paid: dict[tuple[str, tuple[Any, ...]], int] = {}
    for row in paid_rows:
        key = (row["currency"], tuple(row[f"{tranche_prefix}{g}"] for g in group))
        paid[key] = int(row["paid"] or 0)
    result: dict[str, list[MoneyRow]] = {currency: [] for currency in CURRENCIES}
    for (currency, values), data in money.items():
        row = data["row"]
        result.setdefault(currency, []).append(
            MoneyRow(
                key=str(values[0]) if values[0] is not None else "",
                label=label(row),
                currency=currency,
                committed=int(data["committed"]),
                released=int(data["released"]),
                paid=paid.get((currency, values), 0),
            )
        )
    for rows in result.values():
        rows.sort(key=lambda r: r.label if order == "label" else r.key)
    return result


def portfolio_summary() -> Portfolio:
    """Committed / released / paid per side, per research area and per call (7 queries)."""
    side_names = {"JP": _("Japanese side"), "KR": _("Korean side")}
    by_side_map = _grouped(
        ["side"],
        "tranche__",
        lambda row: str(side_names.get(row["side"], row["side"])),
        order="key",
    )
    by_side = [row for currency in CURRENCIES for row in by_side_map.get(currency, [])]

    def area_label(row: dict[str, Any]) -> str:
        if row["project__research_area__code"] is None:
            return _("No research area")
        # The code is the row's key, shown beside the name as code: a label stays short
        # enough for the chart and free of untranslated words.
        return _localized(row, "project__research_area__name")

    by_area = _grouped(
        [
            "project__research_area__code",
            "project__research_area__name_en",
            "project__research_area__name_ja",
            "project__research_area__name_ko",
        ],
        "tranche__",
        area_label,
    )

    def call_label(row: dict[str, Any]) -> str:
        return _localized(row, "project__call__title")

    by_call = _grouped(
        [
            "project__call_id",
            "project__call__title_en",
            "project__call__title_ja",
            "project__call__title_ko",
        ],
        "tranche__",
        call_label,
    )
    counts = dict(
        Project.objects.values_list("state").annotate(n=Count("id")).order_by()  # type: ignore[arg-type]
    )
    states = [
        (value, str(label), int(counts.get(value, 0))) for value, label in ProjectState.choices
    ]
    return Portfolio(by_side=by_side, by_area=by_area, by_call=by_call, project_states=states)


# --------------------------------------------------------------------------- KPIs behind target


@dataclass(frozen=True)
class KpiBehind:
    """A KPI of a running stage whose aggregated value has not reached its target yet."""

    kpi: KPI
    project: Project
    value: Decimal | None  # None: no counted measurement in the stage's window yet
    achievement: Decimal
    gate_due_on: Any


BEHIND_LIMIT = 50


def kpis_behind_target(
    user: User, *, now: datetime | None = None, limit: int = BEHIND_LIMIT
) -> list[KpiBehind]:
    """KPIs of the running stage of the person's active projects with achievement < 1 (§8).

    "Their projects" are those they are named on (guardian's grant at award) or see as the
    organisation's research office, through ``projects_visible_to``. The value is the KPI's
    aggregation over its counted measurements from the stage's start up to now (or the
    gate's cutoff, if earlier), exactly as the gate will compute it, and the achievement is
    ``projects.rules.gates.achievement``. A KPI without a measurement is behind (0).
    Two queries.
    """
    now = now or timezone.now()
    projects = projects_visible_to(user).filter(state=ProjectState.ACTIVE)
    kpis = list(
        KPI.objects.filter(
            project__in=projects,
            stage__state__in=(StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING),
            stage__started_on__isnull=False,
        )
        .select_related("project", "stage__gate")
        .order_by("project_id", "stage__number", "id")
    )
    if not kpis:
        return []
    points: dict[int, list[rules.MeasurementPoint]] = defaultdict(list)
    rows = (
        Measurement.objects.filter(kpi_id__in=[k.pk for k in kpis], rejected_at__isnull=True)
        .annotate(documented=has_evidence_files())
        .order_by("measured_at", "id")
        .values_list("id", "kpi_id", "value", "measured_at", "documented")
    )
    for m_id, kpi_id, raw, at, documented in rows:
        points[kpi_id].append(
            rules.MeasurementPoint(
                measurement_id=m_id,
                kpi_id=kpi_id,
                value=raw,
                measured_at=at,
                has_evidence=documented,
            )
        )
    behind: list[KpiBehind] = []
    for kpi in kpis:
        stage = kpi.stage
        assert stage.started_on is not None
        gate = getattr(stage, "gate", None)
        start = rules.stage_window_start(stage.started_on)
        end = min(now, rules.gate_cutoff(gate.due_on)) if gate is not None else now
        # Only what the gate will count (§22): its window and the KPI's evidence level.
        counted = [
            p
            for p in points.get(kpi.pk, [])
            if rules.exclusion_reason(kpi.evidence, p, start, end) is None
        ]
        value = rules.aggregate(kpi.aggregation, counted)
        achieved = (
            Decimal(0)
            if value is None
            else rules.achievement(kpi.direction, value, kpi.baseline, kpi.target)
        )
        if achieved < rules.MET_AT:
            behind.append(
                KpiBehind(
                    kpi=kpi,
                    project=kpi.project,
                    value=value,
                    achievement=achieved,
                    gate_due_on=gate.due_on if gate is not None else None,
                )
            )
    behind.sort(key=lambda b: (b.gate_due_on is None, b.gate_due_on, b.achievement))
    return behind[:limit]


def side_currencies(side: str | None) -> tuple[str, ...]:
    """The currencies a person of ``side`` works in: their side's, or both for no side."""
    if side in SIDE_CURRENCY:
        return (SIDE_CURRENCY[side],)
    return CURRENCIES
