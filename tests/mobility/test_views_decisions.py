"""Officers' pages of a mobility call's applications (§25, §6): the ranked list, opening
the review, and the award under the two-person rule, refused before screening clearance."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from fundapp.accounts.models import Role
from fundapp.screening.selectors import live_case
from fundapp.screening.services import screening_case_decide
from mobility.models import ApplicationState, Visit, VisitAwardDecision
from mobility.services.reviews import (
    application_assignment_declare,
    application_review_submit,
    application_reviewer_assign,
)
from mobility.services.screening import SCREENING_SUBJECT
from projects.models import ReviewCriterion
from tests.factories import UserFactory
from tests.factories.mobility import (
    application_under_review,
    endorsed_application,
    exchange,
    fund_exchange_pools,
)
from tests.factories.review import reviewer

pytestmark = pytest.mark.django_db


def test_two_officers_award_through_the_page(client):
    x = exchange(home_country="KR", host_country="JP")
    fund_exchange_pools(x)
    application = endorsed_application(x)
    client.force_login(x.officers.jp)
    client.post(reverse("mobility_decisions:start_review", args=[application.pk]))
    application.refresh_from_db()
    assert application.state == ApplicationState.UNDER_REVIEW

    url = reverse("mobility_decisions:approve", args=[application.pk])
    client.post(url, {"outcome": "award", "reason": "Strong plan"})
    client.force_login(x.officers.kr)
    page = client.get(reverse("mobility_decisions:award", args=[application.pk])).content.decode()
    assert "data-two-person=" in page
    client.post(url, {"outcome": "award", "reason": "Agreed"})

    application.refresh_from_db()
    assert application.state == ApplicationState.AWARDED
    assert Visit.objects.filter(application=application).exists()


def test_after_the_first_approval_only_the_other_side_is_offered_the_form(client):
    x = exchange(home_country="KR", host_country="JP")
    fund_exchange_pools(x)
    application = application_under_review(x)
    page_url = reverse("mobility_decisions:award", args=[application.pk])
    client.force_login(x.officers.jp)
    assert "data-award-form" in client.get(page_url).content.decode()
    client.post(
        reverse("mobility_decisions:approve", args=[application.pk]),
        {"outcome": "reject", "reason": "Outside the call's scope"},
    )

    # The first officer and a colleague of the same side may not complete it.
    for same_side in (x.officers.jp, x.officers.jp2):
        client.force_login(same_side)
        page = client.get(page_url).content.decode()
        assert 'data-state="pending"' in page
        assert "data-award-form" not in page
    # An officer of the other side gets the form, with the pending outcome chosen.
    client.force_login(x.officers.kr)
    page = client.get(page_url).content.decode()
    assert "data-award-form" in page
    assert re.search(r'value="reject"[^>]*checked', page)
    assert not re.search(r'value="award"[^>]*checked', page)


def test_the_award_before_screening_clearance_shows_the_services_refusal(client):
    x = exchange(home_country="JP", host_country="US")
    fund_exchange_pools(x)
    application = application_under_review(x)
    client.force_login(x.officers.jp)
    url = reverse("mobility_decisions:approve", args=[application.pk])
    client.post(url, {"outcome": "award", "reason": "Go"})
    client.force_login(x.officers.kr)

    response = client.post(url, {"outcome": "award", "reason": "Go"})

    assert response.status_code == 409
    assert "data-refusal" in response.content.decode()
    assert not Visit.objects.exists()
    assert VisitAwardDecision.objects.get().state == "pending"


def test_a_missing_reason_is_a_field_error(client):
    x = exchange()
    application = application_under_review(x)
    client.force_login(x.officers.jp)
    response = client.post(
        reverse("mobility_decisions:approve", args=[application.pk]), {"outcome": "award"}
    )
    assert response.status_code == 422
    assert "reason" in response.context["form"].errors


@pytest.mark.parametrize("who", ["visitor", "host_office", "stranger"])
def test_the_pages_answer_404_to_anyone_but_an_officer(client, who):
    x = exchange()
    application = application_under_review(x)
    client.force_login(
        {"visitor": x.visitor, "host_office": x.host_office, "stranger": UserFactory.create()}[who]
    )
    assert client.get(reverse("mobility_decisions:call", args=[x.call.pk])).status_code == 404
    assert client.get(reverse("mobility_decisions:award", args=[application.pk])).status_code == 404
    response = client.post(
        reverse("mobility_decisions:approve", args=[application.pk]),
        {"outcome": "award", "reason": "x"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize("count", [1, 3])
def test_the_call_list_costs_a_fixed_number_of_queries(
    client, django_assert_max_num_queries, django_assert_num_queries, count
):
    x = exchange(home_country="JP", host_country="US")  # every application is screened
    for _ in range(count):
        application = application_under_review(x, effort_percent=10)
        _reviewed(x, application, 4, 4, 4)
        _reviewed(x, application, 2, 2, 2)
    endorsed_application(x, effort_percent=10)
    client.force_login(x.officers.jp)
    client.get(reverse("mobility_decisions:call", args=[x.call.pk]))  # session warmed up
    with django_assert_max_num_queries(10):
        response = client.get(reverse("mobility_decisions:call", args=[x.call.pk]))
    with django_assert_num_queries(9):
        client.get(reverse("mobility_decisions:call", args=[x.call.pk]))
    assert response.content.decode().count("data-application=") == count + 1
    assert response.content.decode().count('data-screening="open"') == count


def _reviewed(x, application, *values):
    person = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=person, actor=x.officers.jp
    )
    application_assignment_declare(assignment=assignment, actor=person, conflict=False)
    criteria = ReviewCriterion.objects.filter(call=x.call).order_by("order")
    application_review_submit(
        assignment=assignment,
        actor=person,
        scores={str(c.pk): v for c, v in zip(criteria, values, strict=True)},
        comment="Fine.",
        recommendation="fund",
    )


def test_the_call_list_shows_screening_mean_score_and_number_of_reviews(client):
    x = exchange(home_country="JP", host_country="US")
    plain = exchange()
    screened = application_under_review(x, effort_percent=10)
    refused = application_under_review(x, effort_percent=10)
    waiting = endorsed_application(x, effort_percent=10)
    _reviewed(x, screened, 5, 4, 4)  # 4.5
    _reviewed(x, screened, 3, 3, 3)  # 3.0
    screener = UserFactory.create(role=Role.SCREENING_OFFICER)
    case = live_case(subject_type=SCREENING_SUBJECT, subject_id=refused.pk)
    assert case is not None
    screening_case_decide(
        case=case,
        actor=screener,
        decision="block",
        reason="Entity list match confirmed",
    )
    client.force_login(x.officers.kr)

    response = client.get(reverse("mobility_decisions:call", args=[x.call.pk]))

    rows = {row["application"].pk: row for row in response.context["rows"]}
    assert rows[screened.pk]["mean_score"] == Decimal("3.7500")
    assert rows[screened.pk]["reviews"] == 2
    assert rows[refused.pk]["reviews"] == 0 and rows[refused.pk]["mean_score"] is None
    assert rows[screened.pk]["screening"].state == "open"
    assert rows[refused.pk]["screening"].state == "blocked"
    assert rows[waiting.pk]["screening"] is None  # nothing screened before the review opens
    html = response.content.decode()
    assert "Entity list match confirmed" in html
    assert "3.7500" in html
    assert reverse("visit_reviews:application", args=[screened.pk]) in html

    in_korean = client.get(
        reverse("mobility_decisions:call", args=[x.call.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()
    assert "진행 중: 심사 담당자의 판단 대기" in in_korean

    unscreened = application_under_review(plain)
    client.force_login(plain.officers.jp)
    page = client.get(reverse("mobility_decisions:call", args=[plain.call.pk]))
    (row,) = page.context["rows"]
    assert row["application"] == unscreened
    assert row["screening"].state == "not_required"
