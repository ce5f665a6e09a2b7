"""``/api/v1/projects/{id}/deliverables/`` (§24): read, submit (multipart), accept, request
changes; 404 for a project one may not see; a gate held by a deliverable answers 409."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Deliverable, DeliverableState, GateState
from projects.services.deliverables import deliverable_submit
from tests.factories import UserFactory, jp_org, member_of
from tests.factories.engine import (
    award,
    deliverable,
    engine_proposal,
    fund_pools,
    gate_of,
    make_staff,
    record_evaluation,
)
from tests.factories.projects_api import assert_problem, key_client, ok, user_client
from tests.factories.proposals import MINIMAL_PDF

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "eager_celery"),
]

START = date(2026, 4, 1)


def report(name: str = "report.pdf", content: bytes = MINIMAL_PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def world(staff):
    fund_pools(staff)
    proposal, c = engine_proposal(
        deliverables={1: [deliverable("Test-chip report")], 2: [deliverable("Prototype")]}
    )
    return award(proposal, staff, started_on=START), c


def url(project, deliverable_id=None, tail=""):
    pk = project if isinstance(project, int) else project.pk
    base = f"/api/v1/projects/{pk}/deliverables/"
    return base if deliverable_id is None else f"{base}{deliverable_id}/{tail}"


def first(project) -> Deliverable:
    return Deliverable.objects.get(project=project, title_en="Test-chip report")


def test_the_consortium_reads_its_deliverables_and_others_get_404(world, staff):
    project, c = world
    rows = ok(user_client(c.pi_kr).get(url(project)))["results"]
    assert [(r["stage_number"], r["title_en"], r["state"]) for r in rows] == [
        (1, "Test-chip report", "pending"),
        (2, "Prototype", "pending"),
    ]
    assert rows[0]["due_on"] == gate_of(project, 1).due_on.isoformat()
    ok(key_client(c.jp, ["projects:read"]).get(url(project, first(project).pk)))
    ok(user_client(staff.finance_jp).get(url(project)))
    other = jp_org()
    assert_problem(user_client(member_of(other)).get(url(project)), 404)
    assert_problem(key_client(other, ["projects:read"]).get(url(project)), 404)
    assert_problem(key_client(other, ["projects:read"]).get(url(project, first(project).pk)), 404)
    assert_problem(user_client(UserFactory.create(role="reviewer")).get(url(project)), 404)
    # A key of the consortium without projects:read; another organisation's learns nothing.
    assert_problem(key_client(c.jp, ["kpi:write"]).get(url(project)), 403)
    assert_problem(key_client(other, ["kpi:write"]).get(url(project)), 404)
    assert_problem(user_client(c.pi_jp).get(url(project.pk + 10_000)), 404)


def test_submit_multipart_then_accept_and_download(world, staff):
    project, c = world
    target = first(project)
    submitted = ok(
        user_client(c.pi_jp).post(
            url(project, target.pk, "submit/"),
            {"files": [report()], "note": "Shuttle run"},
            format="multipart",
        )
    )
    assert submitted["state"] == "submitted" and submitted["note"] == "Shuttle run"
    (file,) = submitted["files"]
    assert len(file["sha256"]) == 64
    download = user_client(c.pi_kr).get(file["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == MINIMAL_PDF  # type: ignore[attr-defined]
    other = jp_org()
    assert_problem(user_client(member_of(other)).get(file["download_url"]), 404)

    # Officers only, in the session; the consortium is refused.
    assert_problem(user_client(c.pi_jp).post(url(project, target.pk, "accept/")), 403)
    accepted = ok(user_client(staff.kr).post(url(project, target.pk, "accept/")))
    assert accepted["state"] == "accepted"
    assert_problem(user_client(staff.kr).post(url(project, target.pk, "accept/")), 409)


def test_a_partner_key_submits_with_kpi_write(world):
    project, c = world
    target = first(project)
    assert_problem(
        key_client(c.kr, ["projects:read"]).post(
            url(project, target.pk, "submit/"), {"files": [report()]}, format="multipart"
        ),
        403,
    )
    done = ok(
        key_client(c.kr, ["projects:read", "kpi:write"]).post(
            url(project, target.pk, "submit/"), {"files": [report()]}, format="multipart"
        )
    )
    assert done["state"] == "submitted"
    other = jp_org()
    assert_problem(
        key_client(other, ["projects:read", "kpi:write"]).post(
            url(project, target.pk, "submit/"), {"files": [report()]}, format="multipart"
        ),
        404,
    )


def test_bad_input_answers_field_errors(world, staff):
    project, c = world
    target = first(project)
    client = user_client(c.pi_jp)
    problem = assert_problem(
        client.post(url(project, target.pk, "submit/"), {"note": "x"}, format="multipart"), 400
    )
    assert "files" in problem["errors"]
    assert_problem(
        client.post(
            url(project, target.pk, "submit/"),
            {"files": [report("x.bin", b"\x00\x01\x02binary")]},
            format="multipart",
        ),
        415,
    )
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    problem = assert_problem(
        user_client(staff.jp).post(
            url(project, target.pk, "request-changes/"), {"reason": ""}, format="json"
        ),
        422,
    )
    assert "reason" in problem["errors"]
    changed = ok(
        user_client(staff.jp).post(
            url(project, target.pk, "request-changes/"), {"reason": "Add logs."}, format="json"
        )
    )
    assert (
        changed["state"] == DeliverableState.CHANGES_REQUESTED and changed["reason"] == "Add logs."
    )


def test_a_gate_held_by_a_deliverable_answers_409_then_decides(world, staff):
    project, c = world
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="pass", score="1.0000")
    decide = f"/api/v1/gates/{gate.pk}/decisions/"

    problem = assert_problem(
        user_client(staff.jp).post(decide, {"kind": "release"}, format="json"), 409
    )
    assert "Test-chip report" in problem["detail"]

    target = first(project)
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    ok(user_client(staff.kr).post(url(project, target.pk, "accept/")))
    ok(user_client(staff.jp).post(decide, {"kind": "release"}, format="json"), 201)
    ok(user_client(staff.kr).post(decide, {"kind": "release"}, format="json"), 200)
    gate.refresh_from_db()
    assert gate.state == GateState.DECIDED


def test_the_list_answers_in_a_fixed_number_of_queries(world, staff, django_assert_max_num_queries):
    project, c = world
    client = user_client(c.pi_jp)
    ok(client.get(url(project)))
    with django_assert_max_num_queries(8):
        small = ok(client.get(url(project)))
    for number in range(10):
        Deliverable.objects.create(
            project=project,
            stage=first(project).stage,
            title_en=f"Extra {number}",
            kind="other",
            due_month=1,
            due_on=START,
        )
    target = first(project)
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report(), report("b.pdf")])
    with django_assert_max_num_queries(8):
        large = ok(client.get(url(project)))
    assert len(large["results"]) == len(small["results"]) + 10
