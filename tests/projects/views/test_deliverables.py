"""Deliverable pages (§24): the project's list with the submit and officer forms, the gate
page naming what holds it, the officers' queue, and who may do what in the browser."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pytest_django.asserts import assertContains, assertNotContains

from projects.models import Deliverable, DeliverableState, GateDecision, GateState
from projects.services.deliverables import deliverable_accept, deliverable_submit
from tests.factories import UserFactory, jp_org, kr_org, member_of
from tests.factories.engine import (
    award,
    deliverable,
    engine_proposal,
    fund_pools,
    gate_of,
    make_staff,
    record_evaluation,
)
from tests.factories.proposals import MINIMAL_PDF

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "eager_celery"),
]

START = date(2026, 4, 1)


def report(name: str = "report.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, MINIMAL_PDF, content_type="application/pdf")


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def world(staff):
    fund_pools(staff)
    proposal, c = engine_proposal(
        deliverables={1: [deliverable("Test-chip report", title_ja="テストチップ評価報告書")]}
    )
    return award(proposal, staff, started_on=START), c


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def target(project) -> Deliverable:
    return Deliverable.objects.get(project=project)


def test_the_project_page_shows_each_stages_deliverables_with_state_and_due_date(world):
    project, c = world
    page = logged_in(c.pi_jp).get(reverse("projects:project", args=[project.pk]))
    assertContains(page, 'data-deliverable-state="pending"')
    assertContains(page, "Test-chip report")
    assertContains(page, reverse("deliverables:project", args=[project.pk]))


def test_the_pi_submits_in_the_browser_and_an_officer_accepts(world, staff):
    project, c = world
    d = target(project)
    listing = logged_in(c.pi_jp).get(reverse("deliverables:project", args=[project.pk]))
    assertContains(listing, "data-submit-form")
    assertNotContains(listing, "data-decide-forms")

    submitted = logged_in(c.pi_jp).post(
        reverse("deliverables:submit", args=[project.pk, d.pk]),
        {"files": [report()], "note": "Run 1"},
    )
    assert submitted.status_code == 302
    assert target(project).state == DeliverableState.SUBMITTED

    officer_page = logged_in(staff.jp).get(reverse("deliverables:project", args=[project.pk]))
    assertContains(officer_page, "data-decide-forms")
    # Officers read its history as a sentence.
    assertContains(officer_page, 'data-action="deliverable.submitted"')
    assertContains(
        officer_page, "submitted the deliverable “<span data-user-text>Test-chip report</span>”"
    )
    queue = logged_in(staff.jp).get(reverse("deliverables:queue"))
    assertContains(queue, f'data-deliverable="{d.pk}"')
    # Fund officers find the queue from their dashboard.
    dashboard = logged_in(staff.jp).get(reverse("dashboard"))
    assertContains(dashboard, 'data-deliverables-waiting="1"')
    assertContains(dashboard, reverse("deliverables:queue"))

    refused = logged_in(staff.kr).post(
        reverse("deliverables:request_changes", args=[project.pk, d.pk]), {"reason": ""}
    )
    assert refused.status_code == 422
    accepted = logged_in(staff.kr).post(reverse("deliverables:accept", args=[project.pk, d.pk]))
    assert accepted.status_code == 302
    assert target(project).state == DeliverableState.ACCEPTED


def test_a_refused_file_is_said_on_the_page(world):
    project, c = world
    d = target(project)
    page = logged_in(c.pi_jp).post(
        reverse("deliverables:submit", args=[project.pk, d.pk]),
        {"files": [SimpleUploadedFile("x.bin", b"\x00\x01\x02")]},
    )
    assert page.status_code == 415
    assertContains(page, "not a PDF", status_code=415)


def test_the_gate_page_lists_what_holds_it_and_refuses_the_release(world, staff):
    project, c = world
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="pass", score="1.0000")
    page = logged_in(staff.jp).get(reverse("projects:gate", args=[gate.pk]))
    assertContains(page, "data-gate-held-by-deliverables")
    assertContains(page, f'data-deliverable="{target(project).pk}"')

    refused = logged_in(staff.jp).post(
        reverse("projects:gate_decide", args=[gate.pk]), {"kind": "release"}
    )
    assert refused.status_code == 409
    assertContains(refused, "Test-chip report", status_code=409)
    assert not GateDecision.objects.filter(gate=gate).exists()

    deliverable_submit(deliverable=target(project), actor=c.pi_jp, files=[report()])
    deliverable_accept(deliverable=target(project), actor=staff.kr)
    page = logged_in(staff.jp).get(reverse("projects:gate", args=[gate.pk]))
    assertNotContains(page, "data-gate-held-by-deliverables")
    for officer in (staff.jp, staff.kr):
        done = logged_in(officer).post(
            reverse("projects:gate_decide", args=[gate.pk]), {"kind": "release"}
        )
        assert done.status_code == 302
    gate.refresh_from_db()
    assert gate.state == GateState.DECIDED


def test_the_pages_read_in_japanese_and_korean(world, staff):
    project, c = world
    client = logged_in(c.pi_jp)
    with translation.override("ja"):
        page = client.get(
            reverse("deliverables:project", args=[project.pk]), HTTP_ACCEPT_LANGUAGE="ja"
        )
    assertContains(page, "テストチップ評価報告書")
    assertContains(page, "未提出")
    client.cookies["django_language"] = "ko"
    page = client.get(reverse("deliverables:project", args=[project.pk]), HTTP_ACCEPT_LANGUAGE="ko")
    assertContains(page, "미제출")


# --------------------------------------------------------------------------- permissions


def _roles(project, c, staff):
    """role × own / other organisation: who they are and what they may do."""
    other_jp, other_kr = jp_org(), kr_org()
    return {
        "pi (own)": (c.pi_jp, {"view": True, "submit": True, "decide": False}),
        "researcher (other org)": (member_of(other_jp), {"view": False}),
        "research office (own)": (
            c.office_kr,
            {"view": True, "submit": False, "decide": False},
        ),
        "research office (other org)": (member_of(other_kr, research_office=True), {"view": False}),
        "fund officer": (staff.jp, {"view": True, "submit": False, "decide": True}),
        "finance officer": (staff.finance_kr, {"view": True, "submit": False, "decide": False}),
        "reviewer": (UserFactory.create(role="reviewer"), {"view": False}),
    }


@pytest.mark.parametrize(
    "who",
    [
        "pi (own)",
        "researcher (other org)",
        "research office (own)",
        "research office (other org)",
        "fund officer",
        "finance officer",
        "reviewer",
    ],
)
def test_permission_matrix_in_the_browser(world, staff, who):
    project, c = world
    d = target(project)
    deliverable_submit(deliverable=d, actor=c.pi_kr, files=[report()])
    file = d.files.get()
    user, may = _roles(project, c, staff)[who]
    client = logged_in(user)

    listing = client.get(reverse("deliverables:project", args=[project.pk]))
    download = client.get(reverse("deliverables:file", args=[project.pk, d.pk, file.pk]))
    if not may["view"]:
        assert listing.status_code == download.status_code == 404
        # Nor may they act on what they cannot see.
        submit = client.post(
            reverse("deliverables:submit", args=[project.pk, d.pk]), {"files": [report()]}
        )
        accept = client.post(reverse("deliverables:accept", args=[project.pk, d.pk]))
        assert submit.status_code == accept.status_code == 404
        assert target(project).state == DeliverableState.SUBMITTED
        return
    assert listing.status_code == download.status_code == 200
    accept = client.post(reverse("deliverables:accept", args=[project.pk, d.pk]))
    if may["decide"]:
        assert accept.status_code == 302
        assert target(project).state == DeliverableState.ACCEPTED
        return
    assert accept.status_code == 403
    # Sent back so that submitting is possible again for whoever may.
    from projects.services.deliverables import deliverable_request_changes

    deliverable_request_changes(deliverable=d, actor=staff.kr, reason="Add logs.")
    submit = client.post(
        reverse("deliverables:submit", args=[project.pk, d.pk]), {"files": [report()]}
    )
    if may["submit"]:
        assert submit.status_code == 302
        assert target(project).state == DeliverableState.SUBMITTED
    else:
        assert submit.status_code == 403
        assert target(project).state == DeliverableState.CHANGES_REQUESTED


def test_the_queue_is_for_officers_and_its_queries_do_not_grow(
    world, staff, django_assert_max_num_queries
):
    project, c = world
    for user in (c.pi_jp, staff.finance_jp):
        assert logged_in(user).get(reverse("deliverables:queue")).status_code == 404
    client = logged_in(staff.jp)
    first = target(project)
    deliverable_submit(deliverable=first, actor=c.pi_jp, files=[report()])
    client.get(reverse("deliverables:queue"))
    with django_assert_max_num_queries(12):
        small = client.get(reverse("deliverables:queue"))
    for number in range(15):
        Deliverable.objects.create(
            project=project,
            stage=first.stage,
            title_en=f"Extra {number}",
            kind="other",
            due_month=1,
            due_on=START,
            state="pending",
        )
    for extra in Deliverable.objects.filter(title_en__startswith="Extra"):
        deliverable_submit(deliverable=extra, actor=c.pi_jp, files=[report()])
    with django_assert_max_num_queries(12):
        large = client.get(reverse("deliverables:queue"))
    assert (
        large.content.count(b"data-deliverable=") == 16 > small.content.count(b"data-deliverable=")
    )
