"""Server-rendered SVG charts (§15): no JavaScript, no chart library, no CDN.

Two charts, each a pure function of plain values that returns escaped SVG markup, and a
template tag around it:

- ``kpi_line_chart``: a KPI's measurements over time as points joined by a line, with the
  baseline and the target as horizontal lines and, on the gate review page, the stage's
  window (start of the stage to the gate's cutoff) shaded. Rejected measurements are drawn
  hollow and are left out of the line (they do not count, §7).
- ``money_bar_chart``: committed / released / paid per row (a side, a research area, a
  call) as grouped horizontal bars, in one currency: amounts of two currencies are never
  drawn on one scale.

Colours and strokes live in ``static/css/charts.css`` (classes only, no inline styles).
Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that say in
words what it shows; the pages put an accessible table beside each chart.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from fundapp.accounts.templatetags.fund_format import (
    display_zone,
    format_local_date,
    format_local_datetime,
)
from fundapp.money import format_amount

register = template.Library()


def _language() -> str:
    return (get_language() or "en")[:2]


def format_number(value: Decimal | int | float | None) -> str:
    """A KPI value without trailing zeros: ``20.000000`` → ``20``, ``2.500000`` → ``2.5``."""
    if value is None:
        return ""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return f"{number.quantize(Decimal(1)):f}"
    return f"{number.normalize():f}"


def _day(moment: datetime, language: str) -> str:
    """The reader's calendar day of a moment (Asia/Tokyo or Asia/Seoul)."""
    return format_local_date(moment.astimezone(display_zone(language)).date(), language)


def _f(value: float) -> str:
    """An SVG coordinate: two decimals are plenty at this size."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


# --------------------------------------------------------------------------- line chart


@dataclass(frozen=True)
class ChartPoint:
    measured_at: datetime
    value: Decimal
    rejected: bool = False


LINE_WIDTH = 560
LINE_HEIGHT = 220
PAD_LEFT = 16
PAD_RIGHT = 16
PAD_TOP = 16
PAD_BOTTOM = 36


def kpi_line_chart(
    *,
    chart_id: str,
    title: str,
    points: Sequence[ChartPoint],
    baseline: Decimal,
    target: Decimal,
    unit: str = "",
    window_start: datetime | None = None,
    cutoff: datetime | None = None,
) -> SafeString:
    """The SVG of one KPI's measurements against its baseline and target.

    The time axis spans the measurements and, when given, the window; the value axis spans
    the measurements, the baseline and the target, with a margin. With no measurement the
    chart still shows the baseline and target and says so.
    """
    language = _language()
    times = [p.measured_at for p in points]
    if window_start is not None:
        times.append(window_start)
    if cutoff is not None:
        times.append(cutoff)
    values = [Decimal(p.value) for p in points] + [Decimal(baseline), Decimal(target)]
    low, high = float(min(values)), float(max(values))
    span = high - low or abs(high) or 1.0
    low, high = low - span * 0.1, high + span * 0.1

    plot_w = LINE_WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = LINE_HEIGHT - PAD_TOP - PAD_BOTTOM
    if times:
        t0, t1 = min(times).timestamp(), max(times).timestamp()
    else:
        t0 = t1 = 0.0
    if t1 == t0:
        t0, t1 = t0 - 86400, t1 + 86400
    # A margin on both sides, so the window's edges and the outermost points stay visible.
    margin = (t1 - t0) * 0.04
    t0, t1 = t0 - margin, t1 + margin

    def x(moment: datetime) -> float:
        return PAD_LEFT + (moment.timestamp() - t0) / (t1 - t0) * plot_w

    def y(value: Decimal) -> float:
        return PAD_TOP + (high - float(value)) / (high - low) * plot_h

    suffix = f" {unit}" if unit else ""
    counted = [p for p in points if not p.rejected]
    latest = max(counted, key=lambda p: p.measured_at) if counted else None
    if latest is None:
        summary = _(
            "No counted measurement yet. Baseline %(baseline)s, target %(target)s%(unit)s."
        ) % {"baseline": format_number(baseline), "target": format_number(target), "unit": suffix}
    else:
        summary = ngettext(
            "%(count)d measurement; the latest counted is %(value)s%(unit)s on %(day)s. "
            "Baseline %(baseline)s, target %(target)s.",
            "%(count)d measurements; the latest counted is %(value)s%(unit)s on %(day)s. "
            "Baseline %(baseline)s, target %(target)s.",
            len(points),
        ) % {
            "count": len(points),
            "value": format_number(latest.value),
            "unit": suffix,
            "day": _day(latest.measured_at, language),
            "baseline": format_number(baseline),
            "target": format_number(target),
        }

    parts: list[str] = [
        format_html(
            '<svg class="chart chart--line" id="{}" data-chart="kpi" viewBox="0 0 {} {}" '
            'role="img" aria-labelledby="{}-title {}-desc" data-baseline="{}" data-target="{}" '
            'xmlns="http://www.w3.org/2000/svg">'
            '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
            chart_id,
            LINE_WIDTH,
            LINE_HEIGHT,
            chart_id,
            chart_id,
            format_number(baseline),
            format_number(target),
            chart_id,
            title,
            chart_id,
            summary,
        ),
        format_html(
            '<rect class="chart-frame" x="{}" y="{}" width="{}" height="{}"/>',
            PAD_LEFT,
            PAD_TOP,
            plot_w,
            plot_h,
        ),
    ]
    if window_start is not None and cutoff is not None:
        left, right = x(window_start), x(cutoff)
        parts.append(
            format_html(
                '<rect class="chart-window" data-role="window" x="{}" y="{}" width="{}" '
                'height="{}"><title>{}</title></rect>',
                _f(left),
                PAD_TOP,
                _f(max(right - left, 1.0)),
                plot_h,
                _("Stage window: %(start)s – %(end)s")
                % {
                    "start": format_local_datetime(window_start, language),
                    "end": format_local_datetime(cutoff, language),
                },
            )
        )
    for role, level, label in (
        ("baseline", baseline, _("Baseline")),
        ("target", target, _("Target")),
    ):
        level_y = y(Decimal(level))
        # The label sits above its line at the right end, or below it near the top edge.
        text_y = level_y - 5 if level_y - 5 > PAD_TOP + 12 else level_y + 15
        parts.append(
            format_html(
                '<line class="chart-{}" data-role="{}" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="chart-label chart-label--{}" x="{}" y="{}" text-anchor="end">'
                "{} {}</text>",
                role,
                role,
                PAD_LEFT,
                _f(level_y),
                PAD_LEFT + plot_w,
                _f(level_y),
                role,
                PAD_LEFT + plot_w - 4,
                _f(text_y),
                label,
                format_number(level),
            )
        )
    if len(counted) > 1:
        ordered = sorted(counted, key=lambda p: p.measured_at)
        coordinates = " ".join(f"{_f(x(p.measured_at))},{_f(y(p.value))}" for p in ordered)
        parts.append(
            format_html(
                '<polyline class="chart-series" data-role="series" points="{}"/>', coordinates
            )
        )
    for point in points:
        css = "chart-point chart-point--rejected" if point.rejected else "chart-point"
        note = _(" (rejected)") if point.rejected else ""
        parts.append(
            format_html(
                '<circle class="{}" data-role="point" cx="{}" cy="{}" r="4">'
                "<title>{}{}: {}{}</title></circle>",
                css,
                _f(x(point.measured_at)),
                _f(y(point.value)),
                format_local_datetime(point.measured_at, language),
                note,
                format_number(point.value),
                suffix,
            )
        )
    if times:
        # The window's edges when there is one, else the first and last measurement.
        first = window_start if window_start is not None else min(times)
        last = cutoff if cutoff is not None else max(times)
        axis_y = PAD_TOP + plot_h + 18
        parts.append(
            format_html(
                '<text class="chart-axis" x="{}" y="{}" text-anchor="start">{}</text>'
                '<text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
                _f(x(first)),
                axis_y,
                _day(first, language),
                _f(x(last)),
                axis_y,
                _day(last, language),
            )
        )
    if not points:
        parts.append(
            format_html(
                '<text class="chart-empty" x="{}" y="{}" text-anchor="middle">{}</text>',
                _f(PAD_LEFT + plot_w / 2),
                _f(PAD_TOP + plot_h / 2),
                _("No measurements yet"),
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is built by format_html


# --------------------------------------------------------------------------- bar chart


@dataclass(frozen=True)
class BarRow:
    label: str
    committed: int
    released: int
    paid: int


BAR_WIDTH = 640
BAR_LABEL_W = 200
BAR_VALUE_W = 130
BAR_H = 12
BAR_GAP = 3
GROUP_GAP = 14
LEGEND_H = 28


CATEGORY_FONT_PX = 13  # .chart-category in charts.css


def _printed_width(char: str) -> float:
    """About how wide a character prints at the category font: a Chinese character, kana or
    hangul takes a full em, Latin letters and digits about six tenths of one."""
    wide = unicodedata.east_asian_width(char) in ("W", "F")
    return CATEGORY_FONT_PX * (1.0 if wide else 0.62)


def _truncate(text: str, width: float = BAR_LABEL_W - 12) -> str:
    """``text`` cut to print within ``width`` pixels, with "…" where it was cut: a label's
    start is never clipped off the chart's left edge."""
    if sum(_printed_width(c) for c in text) <= width:
        return text
    room = width - _printed_width("…")
    kept = []
    for char in text:
        room -= _printed_width(char)
        if room < 0:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "…"


def money_bar_chart(
    *, chart_id: str, title: str, rows: Sequence[BarRow], currency: str
) -> SafeString:
    """Grouped horizontal bars of committed / released / paid per row, in one currency.

    All bars share one scale: the largest amount in the chart fills the bar area.
    """
    measures = (
        ("committed", _("Committed")),
        ("released", _("Released")),
        ("paid", _("Paid")),
    )
    summary = "; ".join(
        _("%(label)s: committed %(committed)s, released %(released)s, paid %(paid)s")
        % {
            "label": row.label,
            "committed": format_amount(row.committed, currency),
            "released": format_amount(row.released, currency),
            "paid": format_amount(row.paid, currency),
        }
        for row in rows
    ) or _("Nothing committed yet.")
    return _grouped_bars(
        chart_id=chart_id,
        title=title,
        rows=rows,
        currency=currency,
        measures=measures,
        summary=summary,
        empty=_("Nothing committed yet."),
        kind="money",
    )


@dataclass(frozen=True)
class SpendingBar:
    label: str
    budget: int
    released: int
    spent: int


def spending_bar_chart(
    *, chart_id: str, title: str, rows: Sequence[SpendingBar], currency: str
) -> SafeString:
    """Grouped horizontal bars of budget / released / spent per organisation (§24: spending
    against release), in one currency, on one scale like ``money_bar_chart``."""
    measures = (
        ("budget", _("Budget")),
        ("released", _("Released")),
        ("spent", _("Spent")),
    )
    summary = "; ".join(
        _("%(label)s: budget %(budget)s, released %(released)s, spent %(spent)s")
        % {
            "label": row.label,
            "budget": format_amount(row.budget, currency),
            "released": format_amount(row.released, currency),
            "spent": format_amount(row.spent, currency),
        }
        for row in rows
    ) or _("Nothing released yet.")
    return _grouped_bars(
        chart_id=chart_id,
        title=title,
        rows=rows,
        currency=currency,
        measures=measures,
        summary=summary,
        empty=_("Nothing released yet."),
        kind="spending",
    )


def _grouped_bars(
    *,
    chart_id: str,
    title: str,
    rows: Sequence[Any],
    currency: str,
    measures: Sequence[tuple[str, str]],
    summary: str,
    empty: str,
    kind: str,
) -> SafeString:
    """The SVG of grouped horizontal bars: for each row (with ``label`` and an integer
    attribute per measure), one bar per measure, all on one scale."""
    group_h = len(measures) * (BAR_H + BAR_GAP) + GROUP_GAP
    height = LEGEND_H + max(len(rows), 1) * group_h + 8
    bar_area = BAR_WIDTH - BAR_LABEL_W - BAR_VALUE_W
    largest = max([int(getattr(r, key)) for r in rows for key, _label in measures] + [0])
    parts: list[str] = [
        format_html(
            '<svg class="chart chart--bars" id="{}" data-chart="{}" data-currency="{}" '
            'viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title {}-desc" '
            'xmlns="http://www.w3.org/2000/svg">'
            '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
            chart_id,
            kind,
            currency,
            BAR_WIDTH,
            height,
            chart_id,
            chart_id,
            chart_id,
            title,
            chart_id,
            summary,
        )
    ]
    legend_x = BAR_LABEL_W
    for key, label in measures:
        parts.append(
            format_html(
                '<rect class="chart-bar chart-bar--{}" x="{}" y="6" width="12" height="12"/>'
                '<text class="chart-legend" x="{}" y="16">{}</text>',
                key,
                legend_x,
                legend_x + 16,
                label,
            )
        )
        legend_x += 120
    if not rows:
        parts.append(
            format_html(
                '<text class="chart-empty" x="{}" y="{}" text-anchor="middle">{}</text>',
                BAR_WIDTH // 2,
                LEGEND_H + 20,
                empty,
            )
        )
    for index, row in enumerate(rows):
        top = LEGEND_H + index * group_h
        parts.append(
            format_html(
                '<text class="chart-category" x="{}" y="{}" text-anchor="end">{}<title>{}</title>'
                "</text>",
                BAR_LABEL_W - 8,
                top + (len(measures) * (BAR_H + BAR_GAP)) // 2 + 4,
                _truncate(row.label),
                row.label,
            )
        )
        for offset, (key, label) in enumerate(measures):
            amount = int(getattr(row, key))
            width = bar_area * amount / largest if largest else 0.0
            bar_y = top + offset * (BAR_H + BAR_GAP)
            parts.append(
                format_html(
                    '<rect class="chart-bar chart-bar--{}" data-role="{}" data-amount="{}" '
                    'x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
                    '<text class="chart-value" x="{}" y="{}">{}</text>',
                    key,
                    key,
                    amount,
                    BAR_LABEL_W,
                    bar_y,
                    _f(max(width, 0.0)),
                    BAR_H,
                    label,
                    format_amount(amount, currency),
                    _f(BAR_LABEL_W + width + 4),
                    bar_y + BAR_H - 2,
                    format_amount(amount, currency),
                )
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is built by format_html


# --------------------------------------------------------------------------- template tags


def _points_of(series: Any) -> list[ChartPoint]:
    return [
        ChartPoint(measured_at=p.measured_at, value=Decimal(p.value), rejected=bool(p.rejected))
        for p in getattr(series, "points", [])
    ]


@register.simple_tag
def kpi_chart(
    series: Any,
    window_start: datetime | None = None,
    cutoff: datetime | None = None,
    chart_id: str = "",
) -> SafeString:
    """``{% kpi_chart series window_start=… cutoff=… %}`` for a ``KpiSeries``
    (``projects.selectors.gates.kpi_progress``): its KPI, baseline, target and points."""
    kpi = series.kpi
    unit = getattr(kpi, "unit", "") or ""
    return kpi_line_chart(
        chart_id=chart_id or f"kpi-chart-{kpi.pk}",
        title=_("%(code)s — %(name)s") % {"code": kpi.code, "name": kpi.name},
        points=_points_of(series),
        baseline=series.baseline,
        target=series.target,
        unit=unit,
        window_start=window_start,
        cutoff=cutoff,
    )


@register.simple_tag
def money_chart(rows: Sequence[Any], currency: str, title: str, chart_id: str) -> SafeString:
    """``{% money_chart rows "JPY" title "chart-id" %}`` for rows with ``label``,
    ``committed``, ``released`` and ``paid`` (``projects.selectors.portfolio``)."""
    return money_bar_chart(
        chart_id=chart_id,
        title=str(title),
        rows=[
            BarRow(
                label=str(r.label),
                committed=int(r.committed),
                released=int(r.released),
                paid=int(r.paid),
            )
            for r in rows
        ],
        currency=currency,
    )


@register.simple_tag
def spending_chart(rows: Sequence[Any], currency: str, title: str, chart_id: str) -> SafeString:
    """``{% spending_chart rows "JPY" title "chart-id" %}`` for rows with ``label``,
    ``budget``, ``released`` and ``spent`` (``projects.selectors.reports.Totals``)."""
    return spending_bar_chart(
        chart_id=chart_id,
        title=str(title),
        rows=[
            SpendingBar(
                label=str(r.label),
                budget=int(r.budget),
                released=int(r.released),
                spent=int(r.spent),
            )
            for r in rows
        ],
        currency=currency,
    )


@register.filter
def kpi_number(value: Any) -> str:
    """``{{ kpi.target|kpi_number }}``: a KPI value without trailing zeros."""
    if value is None or value == "":
        return ""
    try:
        return format_number(Decimal(str(value)))
    except ArithmeticError:
        return escape(str(value))


@register.filter
def percent(value: Any) -> str:
    """``{{ achievement|percent }}``: ``1.0500`` → ``105.0%``; empty for nothing."""
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(str(value)) * 100:.1f}%"
    except ArithmeticError:
        return ""
