"""The one review component (``fundapp.kernel.reviews``): its pure rules, and its service
steps run the same way for both subjects, a proposal and a visit application.

The domain suites (tests/projects/services/test_reviews_*.py, tests/mobility/test_reviews.py)
keep their own messages and events; here one parametrised suite checks what the component
promises to every subject: the exclusion recorded with its reasons, idempotent
assignment, the declaration's field errors after the reviewer check, scores stored with
the weighted mean, and a query count that does not grow with the number of criteria.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundapp.accounts.models import Role, User
from fundapp.audit.models import AuditEvent
from fundapp.errors import PermissionDenied, ValidationFailed
from fundapp.kernel.notices import page_url
from fundapp.kernel.problems import Problems
from fundapp.kernel.reviews import (
    SCORE_MAX,
    SCORE_MIN,
    clean_scores,
    rank_by_mean,
    round_half_up_4,
    weighted_score,
)
from projects.models import AssignmentState, ReviewCriterion
from tests.factories import member_of
from tests.factories.review import add_criteria, reviewer

# --------------------------------------------------------------------------- pure rules


def test_scores_round_half_up_to_four_places():
    assert round_half_up_4(Decimal("1.00005")) == Decimal("1.0001")
    assert round_half_up_4(Decimal("1.00004999")) == Decimal("1.0000")
    assert round_half_up_4(Decimal("2")) == Decimal("2.0000")


def test_the_weighted_mean_weighs_each_mark():
    # (2·5 + 1·4 + 1·4) / 4 = 4.5; (1·1 + 1·2 + 1·2) / 3 = 1.6666… → 1.6667 (half up)
    assert weighted_score([(Decimal(2), 5), (Decimal(1), 4), (Decimal(1), 4)]) == Decimal("4.5")
    assert weighted_score([(Decimal(1), 1), (Decimal(1), 2), (Decimal(1), 2)]) == Decimal("1.6667")


def test_the_weighted_mean_needs_a_positive_weight():
    with pytest.raises(ValueError):
        weighted_score([])
    with pytest.raises(ValueError):
        weighted_score([(Decimal(0), 3)])


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0.001"), max_value=Decimal("999.999"), places=3),
            st.integers(min_value=SCORE_MIN, max_value=SCORE_MAX),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_weighted_mean_lies_between_the_lowest_and_the_highest_mark(pairs):
    score = weighted_score(pairs)
    marks = [s for _w, s in pairs]
    assert min(marks) <= score <= max(marks)
    assert score == score.quantize(Decimal("0.0001"))


def test_clean_scores_keeps_a_mark_for_every_criterion_in_order():
    problems = Problems()
    cleaned = clean_scores(problems, {"7": 5, 3: "2"}, [3, 7])
    assert not problems
    assert list(cleaned.items()) == [(3, 2), (7, 5)]


def test_clean_scores_names_every_problem_at_its_field():
    problems = Problems()
    cleaned = clean_scores(problems, {"x": 1, "9": 3, "3": 6}, [3, 7])
    errors = problems.as_dict()
    assert cleaned == {}
    assert set(errors) == {"scores.x", "scores.9", "scores.3", "scores.7"}
    assert errors["scores.x"] == ["Unknown criterion."]
    assert errors["scores.9"] == ["This criterion is not part of the call."]


def test_clean_scores_wants_a_mapping():
    problems = Problems()
    assert clean_scores(problems, [5, 4], [1, 2]) == {}
    assert problems.as_dict() == {"scores": ["Give a score for every criterion."]}


def test_the_ranking_puts_the_best_mean_first_and_the_unreviewed_last():
    rows = [(4, None, 0), (2, 3.25, 2), (1, Decimal("4.12345"), 1), (3, Decimal("3.25"), 1)]
    assert rank_by_mean(rows) == [
        (1, Decimal("4.1235"), 1),
        (2, Decimal("3.2500"), 2),
        (3, Decimal("3.2500"), 1),
        (4, None, 0),
    ]


def test_a_page_url_is_empty_where_the_page_is_not_routed():
    assert page_url("proposals:detail", 5) == "/proposals/5/"
    assert page_url("no-such:page", 5) == ""


# --------------------------------------------------------------------------- both subjects


@dataclass
class Subject:
    """A subject under review, with its call and the domain's services."""

    subject: Any
    call: Any
    officer: User
    tied: User  # a reviewer of an organisation the conflict rules exclude
    prefix: str  # the assignments' audit prefix
    assign: Callable[[User], Any]
    declare: Callable[..., Any]
    submit: Callable[..., Any]


def proposal_subject() -> Subject:
    from projects.services import reviews as svc
    from tests.factories.review import make_officers, proposal_under_review

    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    return Subject(
        subject=proposal,
        call=c.call,
        officer=officers.jp,
        tied=member_of(c.jp, role=Role.REVIEWER),
        prefix="review",
        assign=lambda who: svc.reviewer_assign(proposal=proposal, reviewer=who, actor=officers.jp),
        declare=svc.assignment_declare,
        submit=svc.review_submit,
    )


def application_subject() -> Subject:
    from mobility.services import reviews as svc
    from tests.factories.mobility import application_under_review, exchange

    x = exchange()
    application = application_under_review(x)
    return Subject(
        subject=application,
        call=x.call,
        officer=x.officers.jp,
        tied=member_of(x.host, role=Role.REVIEWER),
        prefix="visit_review",
        assign=lambda who: svc.application_reviewer_assign(
            application=application, reviewer=who, actor=x.officers.jp
        ),
        declare=svc.application_assignment_declare,
        submit=svc.application_review_submit,
    )


SCORING_QUERIES = 8

SUBJECTS = [
    pytest.param(proposal_subject, id="proposal"),
    pytest.param(application_subject, id="visit_application"),
]


def _scores(call: Any, *marks: int) -> dict[str, int]:
    criteria = list(ReviewCriterion.objects.filter(call=call))
    return {str(c.pk): m for c, m in zip(criteria, marks, strict=True)}


@pytest.mark.django_db
@pytest.mark.parametrize("make", SUBJECTS)
def test_a_tied_reviewer_is_excluded_with_the_reason_and_assigned_once(make):
    s = make()

    first = s.assign(s.tied)
    again = s.assign(s.tied)

    assert again.pk == first.pk
    assert first.state == AssignmentState.EXCLUDED
    assert "is a member of" in first.exclusion_reason
    events = AuditEvent.objects.filter(action=f"{s.prefix}.assigned", object_id=str(first.pk))
    assert events.count() == 1
    after = events.get().after
    assert after is not None
    assert after["state"] == AssignmentState.EXCLUDED


@pytest.mark.django_db
@pytest.mark.parametrize("make", SUBJECTS)
def test_a_declaration_is_the_reviewers_own_and_a_conflict_needs_a_note(make):
    s = make()
    person = reviewer()
    assignment = s.assign(person)

    # Someone else is refused before the input is judged.
    with pytest.raises(PermissionDenied):
        s.declare(assignment=assignment, actor=s.officer, conflict="maybe")
    with pytest.raises(ValidationFailed) as refused:
        s.declare(assignment=assignment, actor=person, conflict=True, note="  ")
    assert set(refused.value.errors) == {"note"}

    declared = s.declare(assignment=assignment, actor=person, conflict=True, note="Co-author.")

    assert declared.state == AssignmentState.CONFLICTED
    assert declared.conflict_note == "Co-author."
    event = AuditEvent.objects.get(action=f"{s.prefix}.declared", object_id=str(assignment.pk))
    assert event.after == {"state": "conflicted", "conflict": True, "note": "Co-author."}


@pytest.mark.django_db
@pytest.mark.parametrize("make", SUBJECTS)
def test_a_review_stores_its_marks_and_the_weighted_mean(make):
    s = make()
    person = reviewer()
    assignment = s.assign(person)
    s.declare(assignment=assignment, actor=person, conflict=False)

    review = s.submit(
        assignment=assignment,
        actor=person,
        scores=_scores(s.call, 5, 4, 4),  # weights 2, 1, 1
        comment="Sound.",
        recommendation="fund",
    )

    assert review.weighted_score == Decimal("4.5000")
    assert sorted(review.scores.values_list("score", flat=True)) == [4, 4, 5]
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SUBMITTED
    assert AuditEvent.objects.filter(
        action=f"{s.prefix}.submitted", object_id=str(assignment.pk)
    ).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("make", SUBJECTS)
@pytest.mark.parametrize("extra_criteria", [0, 6])
def test_scoring_takes_the_same_queries_for_three_and_for_nine_criteria(
    make, extra_criteria, django_assert_num_queries
):
    s = make()
    if extra_criteria:
        add_criteria(s.call, ["1"] * extra_criteria)
    marks = [3] * ReviewCriterion.objects.filter(call=s.call).count()
    person = reviewer()
    assignment = s.assign(person)
    s.declare(assignment=assignment, actor=person, conflict=False)
    scores = _scores(s.call, *marks)

    # savepoint, lock the assignment with its subject and call, the criteria, the review,
    # its marks (one insert), the assignment's state, the audit event, release
    with django_assert_num_queries(SCORING_QUERIES):
        s.submit(
            assignment=assignment,
            actor=person,
            scores=scores,
            comment="Sound.",
            recommendation="fund",
        )
