"""What the talent exchange tells other domains about its calls (§25), read only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mobility.models import MobilityTerms


def mobility_terms_many(call_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The terms of each mobility call among ``call_ids`` as the call API shows them
    (amounts per side as integers); one query."""
    return {
        terms.call_id: {
            "stipend_month": {"JPY": terms.stipend_month_jpy, "KRW": terms.stipend_month_krw},
            "travel": {"JPY": terms.travel_jpy, "KRW": terms.travel_krw},
            "min_months": terms.min_months,
            "max_months": terms.max_months,
            "eligible_countries": sorted(terms.eligible_countries),
        }
        for terms in MobilityTerms.objects.filter(call_id__in=call_ids)
    }
