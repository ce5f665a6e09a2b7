"""Who sees and does what with a visit application (§2, §25): role × own or other
organisation × action. What one may not see answers 404, as a missing application does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fundapp.accounts.models import Role
from fundapp.errors import NotFound, PermissionDenied
from mobility.models import ApplicationState, VisitReviewerAssignment
from mobility.permissions import (
    applications_visible_to,
    can_decide_visit_award,
    can_edit_application,
    can_endorse_application,
    can_manage_application_reviews,
    can_submit_application,
    can_withdraw_application,
    get_application_for_actor,
)
from mobility.services.reviews import application_assignment_declare, application_reviewer_assign
from projects.models import AssignmentState
from tests.factories import UserFactory, member_of, officer
from tests.factories.licences import api_key
from tests.factories.mobility import application_under_review, draft_application, exchange
from tests.factories.review import reviewer

pytestmark = pytest.mark.django_db

ACTIONS: dict[str, Callable[[Any, Any], tuple[bool, str]]] = {
    "edit": can_edit_application,
    "submit": can_submit_application,
    "withdraw": can_withdraw_application,
    "endorse": can_endorse_application,
    "assign": lambda actor, _a: can_manage_application_reviews(actor),
    "award": lambda actor, _a: can_decide_visit_award(actor),
}

# role → (sees the application under review, the actions allowed on it)
MATRIX: dict[str, tuple[bool, set[str]]] = {
    "visitor": (True, {"submit", "withdraw"}),
    "other_researcher": (False, set()),
    "host_office": (True, {"endorse"}),
    "host_key": (True, {"endorse"}),
    "home_key": (True, {"submit", "withdraw"}),
    "other_office": (False, set()),
    "other_key": (False, set()),
    "officer_jp": (True, {"assign", "award"}),
    "officer_kr": (True, {"assign", "award"}),
    "screening_officer": (True, set()),
    "reviewer_assigned": (True, set()),
    "reviewer_other": (False, set()),
}


def _actor(role: str, x: Any, application: Any) -> Any:
    if role == "reviewer_assigned":
        who = reviewer()
        assignment = application_reviewer_assign(
            application=application, reviewer=who, actor=x.officers.jp
        )
        application_assignment_declare(assignment=assignment, actor=who, conflict=False)
        return who
    other = exchange()
    return {
        "visitor": lambda: x.visitor,
        "other_researcher": lambda: member_of(x.home),
        "host_office": lambda: x.host_office,
        "host_key": lambda: api_key(x.host, "proposals:read"),
        "home_key": lambda: api_key(x.home, "proposals:read"),
        "other_office": lambda: other.host_office,
        "other_key": lambda: api_key(other.host, "proposals:read"),
        "officer_jp": lambda: officer("JP"),
        "officer_kr": lambda: officer("KR"),
        "screening_officer": lambda: UserFactory.create(role=Role.SCREENING_OFFICER),
        "reviewer_other": lambda: reviewer(),
    }[role]()


@pytest.mark.parametrize("role", sorted(MATRIX))
def test_the_matrix_on_an_application_under_review(role):
    x = exchange()
    application = application_under_review(x)
    actor = _actor(role, x, application)
    sees, allowed = MATRIX[role]

    if sees:
        assert get_application_for_actor(actor, application.pk) == application
    else:
        with pytest.raises(NotFound):
            get_application_for_actor(actor, application.pk)
    # Submit and edit answer by who may act; the state is the services' second check.
    answered = {name for name, ask in ACTIONS.items() if ask(actor, application)[0]}
    assert answered - {"edit"} == allowed


def test_a_draft_is_the_visitors_alone():
    x = exchange()
    application = draft_application(x)
    assert get_application_for_actor(x.visitor, application.pk) == application
    assert can_edit_application(x.visitor, application)[0]
    for outsider in (x.host_office, x.home_office, member_of(x.host)):
        with pytest.raises(NotFound):
            get_application_for_actor(outsider, application.pk)
    assert get_application_for_actor(officer("KR"), application.pk) == application


def test_missing_and_not_yours_answer_the_same():
    x = exchange()
    with pytest.raises(NotFound) as missing:
        get_application_for_actor(x.visitor, 999999)
    application = application_under_review(x)
    with pytest.raises(NotFound) as hidden:
        get_application_for_actor(member_of(x.home), application.pk)
    assert str(missing.value) == str(hidden.value)


def test_a_reviewer_with_a_declared_conflict_does_not_see_it():
    x = exchange()
    application = application_under_review(x)
    who = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=who, actor=x.officers.jp
    )
    application_assignment_declare(
        assignment=assignment, actor=who, conflict=True, note="Co-author"
    )
    assert VisitReviewerAssignment.objects.get(pk=assignment.pk).state == AssignmentState.CONFLICTED
    with pytest.raises(NotFound):
        get_application_for_actor(who, application.pk)


def test_the_state_refuses_what_the_role_allows():
    from mobility.services.applications import application_update

    x = exchange()
    application = application_under_review(x)
    assert application.state == ApplicationState.UNDER_REVIEW
    with pytest.raises(PermissionDenied):
        application_update(application=application, actor=x.visitor, data={"months": 3})


@pytest.mark.parametrize("count", [1, 4])
def test_the_list_an_office_sees_costs_the_same_at_two_sizes(count, django_assert_num_queries):
    x = exchange()
    for _ in range(count):
        application_under_review(x, effort_percent=10)
    with django_assert_num_queries(1):
        rows = list(
            applications_visible_to(x.host_office).select_related(
                "call", "home_organisation", "host_organisation", "visitor"
            )
        )
    assert len(rows) == count
