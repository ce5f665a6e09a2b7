"""Ranking per call (§6): mean of weighted scores in SQL, number of reviews, best first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from projects.selectors.reviews import ranking
from tests.factories import CallFactory, ResearchAreaFactory
from tests.factories.proposals import make_consortium
from tests.factories.review import (
    add_criteria,
    eligible_proposal,
    make_officers,
    proposal_under_review,
    reviewer,
    submit_review,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]


def test_ranking_orders_by_mean_weighted_score_with_review_counts(django_assert_num_queries):
    officers = make_officers()
    call = CallFactory.create(research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")])
    add_criteria(call, ("2", "1", "1"))
    middle, _ = proposal_under_review(officers.jp, make_consortium(call))
    best, _ = proposal_under_review(officers.jp, make_consortium(call))
    unreviewed, _ = proposal_under_review(officers.jp, make_consortium(call))
    worst, _ = proposal_under_review(officers.jp, make_consortium(call))
    still_eligible, _ = eligible_proposal(make_consortium(call))
    elsewhere, _ = proposal_under_review(officers.jp)  # another call

    submit_review(middle, reviewer(), officers.jp, 4, 3, 3)  # 3.5000
    submit_review(middle, reviewer(), officers.jp, 1, 2, 2)  # (2·1 + 2 + 2) / 4 = 1.5000
    submit_review(best, reviewer(), officers.jp, 5, 5, 4)  # 4.7500
    submit_review(worst, reviewer(), officers.jp, 1, 1, 1)  # 1.0000
    submit_review(elsewhere, reviewer(), officers.jp, 5, 5, 5)

    with django_assert_num_queries(1):
        rows = list(ranking(call))

    assert [r.pk for r in rows] == [best.pk, middle.pk, worst.pk, unreviewed.pk]
    by_id = {r.pk: r for r in rows}
    assert by_id[best.pk].mean_score == Decimal("4.7500") and by_id[best.pk].review_count == 1
    # (3.5000 + 1.5000) / 2
    assert by_id[middle.pk].mean_score == Decimal("2.5000") and by_id[middle.pk].review_count == 2
    assert by_id[unreviewed.pk].mean_score is None and by_id[unreviewed.pk].review_count == 0
    assert still_eligible.pk not in by_id and elsewhere.pk not in by_id


def test_the_mean_is_rounded_to_four_places_half_up():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp, weights=("1", "1", "1"))
    submit_review(proposal, reviewer(), officers.jp, 4, 3, 4)  # 3.6667
    submit_review(proposal, reviewer(), officers.jp, 5, 5, 5)  # 5.0000
    # (3.6667 + 5.0000) / 2 = 4.33335 → 4.3334 (half up)
    (row,) = ranking(proposal.call)
    assert row.mean_score == Decimal("4.3334")
