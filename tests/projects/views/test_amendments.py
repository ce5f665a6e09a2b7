"""Amendment pages (§24): the project page's section, the propose forms, the amendment's
page with its diff in the reader's language and the two-person panel, and 404 for a
project one may not see."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from projects.models import Amendment, AmendmentState
from tests.factories import jp_org, member_of
from tests.factories.amendments import amend_world, approve_by_two, propose

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_off")]


def logged_in(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def test_a_pi_proposes_a_budget_move_in_the_browser_and_reads_its_diff():
    w = amend_world()
    client = logged_in(w.c.pi_jp)
    page = client.get(reverse("amendments:project", args=[w.project.pk]))
    assertContains(page, 'data-propose="budget_move"')

    response = client.post(
        reverse("amendments:propose", args=[w.project.pk]),
        {
            "kind": "budget_move",
            "budget_move-from_organisation": w.c.jp.pk,
            "budget_move-from_category": "personnel",
            "budget_move-to_organisation": w.partner_jp,
            "budget_move-to_category": "equipment",
            "budget_move-amount": 5_000_000,
            "budget_move-reason": "A second probe station at the partner.",
        },
    )

    amendment = Amendment.objects.get(project=w.project)
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assertContains(detail, 'data-diff="budget"', count=2)
    assertContains(detail, "¥5,000,000")
    assertContains(detail, 'data-amendment-state="proposed"')
    assert amendment.state == AmendmentState.PROPOSED


def test_a_bad_change_renders_the_form_again_with_the_rules_message():
    w = amend_world()
    response = logged_in(w.c.pi_jp).post(
        reverse("amendments:propose", args=[w.project.pk]),
        {
            "kind": "tranche",
            "tranche-stage": 3,
            "tranche-side": "JP",
            "tranche-planned": 1,
            "tranche-organisation": w.c.jp.pk,
            "tranche-category": "personnel",
            "tranche-reason": "Less.",
        },
    )
    assert response.status_code == 422
    assertContains(response, "smaller", status_code=422)
    assert not Amendment.objects.exists()


def test_two_officers_approve_on_the_page_and_the_project_shows_the_new_version():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    url = reverse("amendments:approve", args=[w.project.pk, amendment.pk])

    assert logged_in(w.staff.jp).post(url).status_code == 302
    pending = logged_in(w.staff.kr).get(
        reverse("amendments:detail", args=[w.project.pk, amendment.pk])
    )
    assertContains(pending, 'data-state="pending"')
    assertContains(pending, "data-decline-form")
    assert logged_in(w.staff.kr).post(url).status_code == 302

    amendment.refresh_from_db()
    assert amendment.plan_version == 2
    project_page = logged_in(w.c.pi_jp).get(reverse("projects:project", args=[w.project.pk]))
    assertContains(project_page, 'data-amendment-state="approved"')


@pytest.mark.parametrize("language", ["ja", "ko"])
def test_the_diff_reads_in_the_readers_language(language):
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    approve_by_two(w, amendment)
    page = logged_in(w.c.pi_jp, language).get(
        reverse("amendments:detail", args=[w.project.pk, amendment.pk])
    )
    assertContains(page, f'lang="{language}"')
    assertNotContains(page, "target")
    assertContains(page, "25.000000")


def test_a_project_one_may_not_see_answers_404():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    stranger = logged_in(member_of(jp_org()))
    for url in (
        reverse("amendments:project", args=[w.project.pk]),
        reverse("amendments:detail", args=[w.project.pk, amendment.pk]),
    ):
        assert stranger.get(url).status_code == 404
    assert (
        stranger.post(reverse("amendments:approve", args=[w.project.pk, amendment.pk])).status_code
        == 404
    )
