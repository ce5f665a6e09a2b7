"""The portfolio dashboard (§15): committed / released / paid per side, per research area
and per call, as SVG bar charts with the same figures in tables beside them.

Fund officers only (anyone else: 404). JPY and KRW are shown separately, never summed.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, include, path
from django.views.decorators.http import require_GET

from fundapp.actors import is_fund_officer
from projects.selectors.portfolio import CURRENCIES, portfolio_summary


@login_required
@require_GET
def portfolio_dashboard(request: HttpRequest) -> HttpResponse:
    if not is_fund_officer(request.user):  # type: ignore[arg-type]
        raise Http404
    summary = portfolio_summary()
    sections = [
        {
            "currency": currency,
            "side_rows": [row for row in summary.by_side if row.currency == currency],
            "area_rows": summary.by_area.get(currency, []),
            "call_rows": summary.by_call.get(currency, []),
        }
        for currency in CURRENCIES
    ]
    return render(
        request,
        "projects/portfolio/dashboard.html",
        {"sections": sections, "project_states": summary.project_states},
    )


_routes: list[URLPattern | URLResolver] = [path("", portfolio_dashboard, name="dashboard")]

# Namespaced "portfolio:…".
urlpatterns: list[URLPattern | URLResolver] = [path("portfolio/", include((_routes, "portfolio")))]
