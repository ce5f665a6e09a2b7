"""The review pages of the talent exchange (§25 as §6, §15): the reviewer's queue, the
conflict declaration and scoring form of one assignment, and the officers' reviewers page
that assigns reviewers with the conflict rules' exclusions shown."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from mobility.models import VisitReview, VisitReviewerAssignment
from mobility.services.reviews import (
    application_assignment_declare,
    application_review_submit,
    application_reviewer_assign,
)
from projects.models import AssignmentState, ReviewCriterion
from tests.factories import UserFactory, member_of
from tests.factories.mobility import (
    application_under_review,
    endorsed_application,
    exchange,
    submitted_application,
)
from tests.factories.review import reviewer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_off")]

PLAN = "Joint measurements on the host"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _assigned(x, application, person=None):
    person = person or reviewer()
    return application_reviewer_assign(
        application=application, reviewer=person, actor=x.officers.jp
    )


def _active(x, application, person=None):
    assignment = _assigned(x, application, person)
    return application_assignment_declare(
        assignment=assignment, actor=assignment.reviewer, conflict=False
    )


def _score_post(call, values, comment="Well planned.", recommendation="fund"):
    criteria = list(ReviewCriterion.objects.filter(call=call).order_by("order"))
    data = {f"criterion_{c.pk}": str(v) for c, v in zip(criteria, values, strict=False)}
    data.update({"comment": comment, "recommendation": recommendation})
    return data


# --------------------------------------------------------------------------- reviewer


def test_the_queue_lists_the_assignments_with_title_call_and_state_only():
    x = exchange()
    application = application_under_review(x)
    assignment = _assigned(x, application)
    client = client_for(assignment.reviewer)

    page = client.get(reverse("visit_reviews:queue"))

    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-assignment="{assignment.pk}"' in html
    assert 'data-state="awaiting_declaration"' in html
    assert application.title in html and x.call.title in html
    detail = client.get(reverse("visit_reviews:assignment", args=[assignment.pk])).content.decode()
    assert PLAN not in detail and "Kim Host" not in detail  # hidden until declared
    assert 'data-action="declare"' in detail and 'data-action="score"' not in detail


def test_a_conflict_needs_a_translated_note_then_blocks_the_application():
    x = exchange()
    assignment = _assigned(x, application_under_review(x))
    client = client_for(assignment.reviewer)
    url = reverse("visit_reviews:declare", args=[assignment.pk])

    refused = client.post(url, {"conflict": "yes", "note": ""}, HTTP_ACCEPT_LANGUAGE="ja")

    assert refused.status_code == 422
    assert "利益相反の内容を記入してください。" in refused.content.decode()
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.AWAITING_DECLARATION

    done = client.post(url, {"conflict": "yes", "note": "Former student"})
    assert done.status_code == 302
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.CONFLICTED
    page = client.get(done["Location"]).content.decode()
    assert "Former student" in page
    assert PLAN not in page and 'data-action="score"' not in page
    again = client.post(url, {"conflict": "no", "note": ""})
    assert again.status_code == 409


def test_declaring_no_conflict_shows_the_application_and_the_scoring_form():
    x = exchange()
    application = application_under_review(x)
    assignment = _assigned(x, application)
    client = client_for(assignment.reviewer)

    done = client.post(
        reverse("visit_reviews:declare", args=[assignment.pk]), {"conflict": "no", "note": ""}
    )

    assert done.status_code == 302
    page = client.get(done["Location"]).content.decode()
    assert PLAN in page
    assert "Kim Host" in page and "kim@example.org" in page
    assert x.home.name in page and x.host.name in page
    assert "(JP)" in page and "(KR)" in page
    assert str(x.visitor) in page
    assert 'data-action="score"' in page
    for criterion in ReviewCriterion.objects.filter(call=x.call):
        assert f'data-criterion="{criterion.pk}"' in page


def test_the_scoring_form_shows_translated_field_errors_and_keeps_nothing_half_done():
    x = exchange()
    assignment = _active(x, application_under_review(x))
    client = client_for(assignment.reviewer)
    first, second, _third = ReviewCriterion.objects.filter(call=x.call).order_by("order")
    data = _score_post(x.call, [4, 3], comment="")
    data[f"criterion_{second.pk}"] = "9"

    refused = client.post(
        reverse("visit_reviews:score", args=[assignment.pk]), data, HTTP_ACCEPT_LANGUAGE="ja"
    )

    assert refused.status_code == 422
    form = refused.context["score_form"]
    assert set(form.errors) == {f"criterion_{second.pk}", f"criterion_{_third.pk}", "comment"}
    html = refused.content.decode()
    assert "1〜5の点数を付けてください。" in html
    assert "プログラムオフィサー向けのコメントを書いてください。" in html
    assert form[f"criterion_{first.pk}"].value() == "4"
    assert not VisitReview.objects.exists()


def test_a_submitted_review_is_read_only():
    x = exchange()
    assignment = _active(x, application_under_review(x))
    client = client_for(assignment.reviewer)
    url = reverse("visit_reviews:score", args=[assignment.pk])

    done = client.post(url, _score_post(x.call, [5, 4, 4]))

    assert done.status_code == 302
    review = VisitReview.objects.get(assignment=assignment)
    assert str(review.weighted_score) == "4.5000"
    page = client.get(done["Location"]).content.decode()
    assert f'data-review="{review.pk}"' in page and 'data-action="score"' not in page
    again = client.post(url, _score_post(x.call, [1, 1, 1]))
    assert again.status_code == 409
    assert VisitReview.objects.count() == 1
    review.refresh_from_db()
    assert str(review.weighted_score) == "4.5000"


def test_scores_wait_until_the_review_is_opened():
    x = exchange()
    assignment = _active(x, endorsed_application(x))
    client = client_for(assignment.reviewer)

    page = client.get(reverse("visit_reviews:assignment", args=[assignment.pk])).content.decode()
    refused = client.post(
        reverse("visit_reviews:score", args=[assignment.pk]), _score_post(x.call, [3, 3, 3])
    )

    assert PLAN in page and 'id="not-open"' in page and 'data-action="score"' not in page
    assert refused.status_code == 409
    assert not VisitReview.objects.exists()


@pytest.mark.parametrize(
    "who", ["other_reviewer", "officer", "visitor", "host_office", "home_office", "stranger"]
)
def test_an_assignment_answers_404_to_anyone_but_its_reviewer(who):
    x = exchange()
    assignment = _active(x, application_under_review(x))
    person = {
        "other_reviewer": reviewer(),
        "officer": x.officers.jp,
        "visitor": x.visitor,
        "host_office": x.host_office,
        "home_office": x.home_office,
        "stranger": UserFactory.create(),
    }[who]
    client = client_for(person)

    assert client.get(reverse("visit_reviews:assignment", args=[assignment.pk])).status_code == 404
    declare = client.post(
        reverse("visit_reviews:declare", args=[assignment.pk]), {"conflict": "no"}
    )
    score = client.post(
        reverse("visit_reviews:score", args=[assignment.pk]), _score_post(x.call, [3, 3, 3])
    )
    assert declare.status_code == 404 and score.status_code == 404
    assert not VisitReview.objects.exists()
    page = client.get(reverse("visit_reviews:queue")).content.decode()
    assert f'data-assignment="{assignment.pk}"' not in page


def test_an_unknown_assignment_answers_404():
    client = client_for(reviewer())
    assert client.get(reverse("visit_reviews:assignment", args=[999999])).status_code == 404


@pytest.mark.parametrize("count", [1, 4])
def test_the_queue_costs_a_fixed_number_of_queries(django_assert_num_queries, count):
    x = exchange()
    person = reviewer()
    for _ in range(count):
        _assigned(x, endorsed_application(x, effort_percent=10), person)
    client = client_for(person)
    client.get(reverse("visit_reviews:queue"))  # the session and the user warm up alike

    with django_assert_num_queries(4):
        response = client.get(reverse("visit_reviews:queue"))

    assert response.content.decode().count("data-assignment=") == count


# --------------------------------------------------------------------------- officer


def test_the_officer_assigns_an_eligible_reviewer_and_sees_the_excluded_with_reasons():
    x = exchange()
    application = application_under_review(x)
    eligible = reviewer()
    tied = reviewer()
    tied.memberships.create(organisation=x.host)
    client = client_for(x.officers.kr)
    url = reverse("visit_reviews:application", args=[application.pk])

    page = client.get(url, HTTP_ACCEPT_LANGUAGE="ko")

    assert page.status_code == 200
    html = page.content.decode()
    choices = [value for value, _label in page.context["form"].fields["reviewers"].choices]
    assert eligible.pk in [getattr(v, "value", v) for v in choices]
    assert tied.pk not in [getattr(v, "value", v) for v in choices]
    assert f'data-excluded="{tied.username}"' in html
    assert "소속입니다" in html  # the reason, in Korean

    done = client.post(url, {"reviewers": [eligible.pk]})
    assert done.status_code == 302
    assignment = VisitReviewerAssignment.objects.get(application=application)
    assert assignment.reviewer == eligible
    assert assignment.state == AssignmentState.AWAITING_DECLARATION
    listed = client.get(url).content.decode()
    assert f'data-reviewer="{eligible.username}"' in listed


def test_an_excluded_reviewer_is_refused_on_the_field_in_the_officers_language():
    x = exchange()
    application = application_under_review(x)
    eligible = reviewer()
    tied = reviewer()
    tied.memberships.create(organisation=x.home)
    client = client_for(x.officers.kr)

    refused = client.post(
        reverse("visit_reviews:application", args=[application.pk]),
        {"reviewers": [eligible.pk, tied.pk]},
        HTTP_ACCEPT_LANGUAGE="ko",
    )

    assert refused.status_code == 422
    assert "reviewers" in refused.context["form"].errors
    assert "소속입니다" in " ".join(refused.context["form"].errors["reviewers"])
    assert not VisitReviewerAssignment.objects.exists()  # all or none


def test_a_person_without_the_reviewer_role_is_not_a_choice():
    x = exchange()
    application = application_under_review(x)
    client = client_for(x.officers.jp)

    refused = client.post(
        reverse("visit_reviews:application", args=[application.pk]),
        {"reviewers": [UserFactory.create().pk]},
    )

    assert refused.status_code == 422
    assert "reviewers" in refused.context["form"].errors
    assert not VisitReviewerAssignment.objects.exists()


def test_reviewers_are_not_assigned_before_the_host_endorses():
    x = exchange()
    application = submitted_application(x)
    person = reviewer()
    client = client_for(x.officers.jp)
    url = reverse("visit_reviews:application", args=[application.pk])

    page = client.get(url)
    refused = client.post(url, {"reviewers": [person.pk]})

    assert page.status_code == 200 and 'data-action="assign"' not in page.content.decode()
    assert refused.status_code == 409
    assert not VisitReviewerAssignment.objects.exists()


def test_the_officer_sees_every_submitted_review():
    x = exchange()
    application = application_under_review(x)
    assignment = _active(x, application)
    criteria = ReviewCriterion.objects.filter(call=x.call)
    review = application_review_submit(
        assignment=assignment,
        actor=assignment.reviewer,
        scores={str(c.pk): 4 for c in criteria},
        comment="Solid plan.",
        recommendation="fund",
    )
    client = client_for(x.officers.jp)

    page = client.get(reverse("visit_reviews:application", args=[application.pk]))

    html = page.content.decode()
    assert f'data-review="{review.pk}"' in html and "Solid plan." in html


@pytest.mark.parametrize("count", [2, 6])
def test_the_reviewers_page_costs_a_fixed_number_of_queries(django_assert_num_queries, count):
    x = exchange()
    application = application_under_review(x)
    for index in range(count):
        person = reviewer()
        if index % 2:
            person.memberships.create(organisation=x.host)
    _active(x, application)
    client = client_for(x.officers.jp)
    url = reverse("visit_reviews:application", args=[application.pk])
    client.get(url)  # the session warmed up

    with django_assert_num_queries(11):
        page = client.get(url)

    assert page.content.decode().count("data-excluded=") == count // 2


@pytest.mark.parametrize("who", ["visitor", "host_office", "reviewer", "assigned", "stranger"])
def test_the_reviewers_page_answers_404_to_anyone_but_an_officer(who):
    x = exchange()
    application = application_under_review(x)
    assigned = _active(x, application).reviewer
    person = {
        "visitor": x.visitor,
        "host_office": x.host_office,
        "reviewer": reviewer(),
        "assigned": assigned,
        "stranger": member_of(x.host),
    }[who]
    client = client_for(person)
    url = reverse("visit_reviews:application", args=[application.pk])

    assert client.get(url).status_code == 404
    assert client.post(url, {"reviewers": [reviewer().pk]}).status_code == 404
    assert VisitReviewerAssignment.objects.count() == 1


def test_the_reviewers_page_of_a_draft_answers_404():
    from tests.factories.mobility import draft_application

    x = exchange()
    application = draft_application(x)
    client = client_for(x.officers.jp)
    assert (
        client.get(reverse("visit_reviews:application", args=[application.pk])).status_code == 404
    )
