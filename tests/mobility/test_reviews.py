"""Review of visit applications (§25 as §6): conflict rules, scores and the ranking."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from mobility.models import VisitReview
from mobility.services.reviews import (
    application_assignment_declare,
    application_review_submit,
    application_reviewer_assign,
    application_start_review,
    ranking_for_call,
)
from projects.models import AssignmentState, ProjectPerson, ReviewCriterion
from tests.factories import ProjectFactory, member_of
from tests.factories.mobility import application_under_review, endorsed_application, exchange
from tests.factories.review import reviewer

pytestmark = pytest.mark.django_db


def _scores(call, *values):
    criteria = list(ReviewCriterion.objects.filter(call=call).order_by("order"))
    return {str(c.pk): v for c, v in zip(criteria, values, strict=True)}


def _review(x, application, *values):
    person = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=person, actor=x.officers.jp
    )
    application_assignment_declare(assignment=assignment, actor=person, conflict=False)
    return application_review_submit(
        assignment=assignment,
        actor=person,
        scores=_scores(x.call, *values),
        comment="Well planned.",
        recommendation="fund",
    )


def test_reviews_score_the_calls_criteria_and_rank_the_applications():
    x = exchange()
    strong = application_under_review(x, effort_percent=10)
    weak = application_under_review(x, effort_percent=10)
    review = _review(x, strong, 5, 4, 4)  # weights 2, 1, 1
    _review(x, weak, 2, 3, 3)

    assert review.weighted_score == Decimal("4.5000")
    ranking = ranking_for_call(x.call.pk)
    assert [r[0] for r in ranking] == [strong.pk, weak.pk]
    assert ranking[0][1:] == (Decimal("4.5000"), 1)


@pytest.mark.parametrize("tie", ["home", "host", "project"])
def test_a_reviewer_tied_to_the_visit_is_excluded_with_the_reason(tie):
    x = exchange()
    application = endorsed_application(x)
    person = reviewer()
    if tie in ("home", "host"):
        person.memberships.create(organisation=x.home if tie == "home" else x.host)
    else:
        project = ProjectFactory.create()
        for who in (person, x.visitor):
            ProjectPerson.objects.create(
                project=project, user=who, organisation=x.home, role="pi", effort_percent=10
            )

    assignment = application_reviewer_assign(
        application=application, reviewer=person, actor=x.officers.kr
    )

    assert assignment.state == AssignmentState.EXCLUDED
    assert assignment.exclusion_reason


def test_a_declared_conflict_blocks_scoring():
    x = exchange()
    application = application_under_review(x)
    person = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=person, actor=x.officers.jp
    )
    with pytest.raises(ValidationFailed):
        application_assignment_declare(assignment=assignment, actor=person, conflict=True)
    application_assignment_declare(
        assignment=assignment, actor=person, conflict=True, note="Former student"
    )
    with pytest.raises(PermissionDenied):
        application_review_submit(
            assignment=assignment,
            actor=person,
            scores=_scores(x.call, 3, 3, 3),
            comment="x",
            recommendation="fund",
        )
    assert not VisitReview.objects.exists()


def test_only_officers_open_the_review_and_assign():
    x = exchange()
    application = endorsed_application(x)
    for who in (x.visitor, x.host_office, member_of(x.host)):
        with pytest.raises(PermissionDenied):
            application_start_review(application=application, actor=who)
        with pytest.raises(PermissionDenied):
            application_reviewer_assign(application=application, reviewer=reviewer(), actor=who)
    application_start_review(application=application, actor=x.officers.jp)
    with pytest.raises(Conflict):
        application_start_review(application=application, actor=x.officers.kr)


def test_scores_out_of_range_answer_field_errors():
    x = exchange()
    application = application_under_review(x)
    person = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=person, actor=x.officers.jp
    )
    application_assignment_declare(assignment=assignment, actor=person, conflict=False)
    with pytest.raises(ValidationFailed) as refused:
        application_review_submit(
            assignment=assignment,
            actor=person,
            scores=_scores(x.call, 6, 0, "x"),
            comment="",
            recommendation="maybe",
        )
    assert len(refused.value.errors or {}) == 5
