"""The officers' exchange-flow chart (§25, §15): country → country, per research area and
year, as an inline SVG drawn here (no script, no CDN) with the same numbers in a table."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, path
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from fundapp.actors import is_fund_staff
from fundapp.kernel.models import ResearchArea
from fundapp.money import format_amount
from mobility.models import MobilityCountry
from mobility.rules import MOBILITY_COUNTRIES
from mobility.selectors.flows import Flow, exchange_flows, flow_years

WIDTH, HEIGHT = 360, 260
NODE_W, NODE_H = 70, 44
ROW_Y = {country: 30 + i * 80 for i, country in enumerate(MOBILITY_COUNTRIES)}
LEFT_X, RIGHT_X = 10, WIDTH - 10 - NODE_W


def _country(code: str) -> str:
    return str(MobilityCountry(code).label) if code in MobilityCountry.values else code


def flow_chart(flows: list[Flow]) -> SafeString:
    """Home countries on the left, host countries on the right, one band per route whose
    width grows with its number of visits; the description says the same in words."""
    summary = "; ".join(
        ngettext(
            "%(home)s to %(host)s: %(count)d visit",
            "%(home)s to %(host)s: %(count)d visits",
            f.visits,
        )
        % {"home": _country(f.home), "host": _country(f.host), "count": f.visits}
        for f in flows
    ) or _("No visits yet.")
    largest = max([f.visits for f in flows] + [1])
    parts = [
        format_html(
            '<svg class="chart chart--flows" viewBox="0 0 {} {}" role="img" '
            'aria-labelledby="flows-title flows-desc" xmlns="http://www.w3.org/2000/svg">'
            '<title id="flows-title">{}</title><desc id="flows-desc">{}</desc>',
            WIDTH,
            HEIGHT,
            _("Visits from home country to host country"),
            summary,
        )
    ]
    for f in flows:
        y1 = ROW_Y[f.home] + NODE_H / 2
        y2 = ROW_Y[f.host] + NODE_H / 2
        x1, x2 = LEFT_X + NODE_W, RIGHT_X
        stroke = 2 + 14 * f.visits / largest
        parts.append(
            format_html(
                '<path d="M {} {} C {} {} {} {} {} {}" class="chart__flow" fill="none" '
                'stroke-width="{}" stroke-opacity="0.55" stroke="currentColor" '
                'data-flow="{}-{}" data-visits="{}"/>',
                x1,
                y1,
                (x1 + x2) / 2,
                y1,
                (x1 + x2) / 2,
                y2,
                x2,
                y2,
                f"{stroke:.1f}",
                f.home,
                f.host,
                f.visits,
            )
        )
    for country, y in ROW_Y.items():
        for x in (LEFT_X, RIGHT_X):
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" rx="6" class="chart__node" '
                    'fill="#eef2f7" stroke="#5b6b7f"/>'
                    '<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>',
                    x,
                    y,
                    NODE_W,
                    NODE_H,
                    x + NODE_W / 2,
                    y + NODE_H / 2 + 4,
                    country,
                )
            )
    parts.append(mark_safe("</svg>"))  # noqa: S308 (a constant)
    return mark_safe("".join(str(p) for p in parts))  # noqa: S308 (each part escaped above)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@login_required
@require_GET
def exchange_flows_page(request: HttpRequest) -> HttpResponse:
    """Officers only; filters by research area and year (a bad value is ignored). Three
    queries whatever the number of visits: the flows, the years, the areas."""
    if not is_fund_staff(request.user):  # type: ignore[arg-type]
        raise PermissionDenied
    area_id, year = _int(request.GET.get("area")), _int(request.GET.get("year"))
    flows = exchange_flows(area_id=area_id, year=year)
    rows = [
        {
            "flow": f,
            "home": _country(f.home),
            "host": _country(f.host),
            "jpy": format_amount(f.jpy, "JPY") if f.jpy else "",
            "krw": format_amount(f.krw, "KRW") if f.krw else "",
        }
        for f in flows
    ]
    return render(
        request,
        "mobility/visits/flows.html",
        {
            "chart": flow_chart(flows),
            "rows": rows,
            "areas": list(ResearchArea.objects.order_by("code")),
            "years": flow_years(),
            "area_id": area_id,
            "year": year,
        },
    )


urlpatterns: list[URLPattern | URLResolver] = [
    path("visits/flows/", exchange_flows_page, name="exchange_flows"),
]
