"""Amendments over the API (§14, §24): propose, read with the diff and the two-person
block, approve by two officers, decline, withdraw; problem+json for every refusal; 404 for
a project one may not see; the list's queries do not grow with its length."""

from __future__ import annotations

import pytest

from projects.models import Amendment
from tests.factories import jp_org, member_of
from tests.factories.amendments import amend_world, propose
from tests.factories.projects_api import assert_problem, key_client, ok, user_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def url(w, *rest) -> str:
    tail = "".join(f"{part}/" for part in rest)
    return f"/api/v1/projects/{w.project.pk}/amendments/{tail}"


def test_a_pi_proposes_and_two_officers_approve():
    w = amend_world()
    body = ok(
        user_client(w.c.pi_jp).post(
            url(w),
            {
                "changes": [{"kind": "tranche", "stage": 3, "side": "KR", "planned": 900_000_000}],
                "reason": "A larger pilot line.",
            },
            format="json",
        ),
        201,
    )
    assert body["state"] == "proposed" and body["base_version"] == 1
    assert body["approval"] is None
    assert {(d["kind"], d["before"], d["after"]) for d in body["diff"]} >= {
        ("tranche", 800_000_000, 900_000_000)
    }

    first = ok(user_client(w.staff.kr).post(url(w, body["id"], "approve")))
    assert first["approval"]["state"] == "pending"
    assert first["approval"]["needed_side"] == "JP"
    done = ok(user_client(w.staff.jp).post(url(w, body["id"], "approve")))

    assert done["state"] == "approved" and done["plan_version"] == 2
    assert done["recommitted"] == {"KR": 100_000_000}
    assert done["approval"]["state"] == "completed"
    listed = ok(user_client(w.c.pi_kr).get(url(w)))
    assert [row["id"] for row in listed["results"]] == [body["id"]]


def test_bad_input_is_a_problem_with_field_errors():
    w = amend_world()
    client = user_client(w.c.pi_jp)
    problem = assert_problem(
        client.post(
            url(w), {"changes": [{"kind": "stage", "stage": 2, "months": 0}]}, format="json"
        ),
        422,
    )
    assert "reason" in problem["errors"]
    problem = assert_problem(
        client.post(
            url(w),
            {"changes": [{"kind": "stage", "stage": 2, "months": "x"}], "reason": "Longer."},
            format="json",
        ),
        422,
    )
    assert "changes.0.months" in problem["errors"]
    assert_problem(client.post(url(w), {"changes": "all", "reason": "x"}, format="json"), 422)
    assert not Amendment.objects.exists()


def test_refusals_are_problems():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    assert_problem(user_client(w.c.pi_jp).post(url(w, amendment.pk, "approve")), 403)
    ok(user_client(w.staff.jp).post(url(w, amendment.pk, "approve")))
    assert_problem(user_client(w.staff.jp2).post(url(w, amendment.pk, "approve")), 403)
    assert_problem(
        user_client(w.staff.kr).post(url(w, amendment.pk, "decline"), {}, format="json"), 422
    )
    declined = ok(
        user_client(w.staff.kr).post(
            url(w, amendment.pk, "decline"), {"reason": "Not now."}, format="json"
        )
    )
    assert declined["state"] == "declined"
    assert declined["approval"]["decline_reason"] == "Not now."
    assert_problem(user_client(w.staff.kr).post(url(w, amendment.pk, "approve")), 409)


def test_a_stale_amendment_answers_409():
    w = amend_world()
    first = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    second = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2B"), "weight": "3"})
    ok(user_client(w.staff.jp).post(url(w, first.pk, "approve")))
    ok(user_client(w.staff.kr).post(url(w, first.pk, "approve")))

    problem = assert_problem(user_client(w.staff.jp).post(url(w, second.pk, "approve")), 409)
    assert problem["code"] == "amendment_stale"


def test_projects_one_may_not_see_answer_404_and_keys_only_read():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    stranger = user_client(member_of(jp_org()))
    assert_problem(stranger.get(url(w)), 404)
    assert_problem(stranger.get(url(w, amendment.pk)), 404)
    assert_problem(stranger.post(url(w, amendment.pk, "withdraw")), 404)
    assert_problem(
        user_client(w.staff.jp).get(f"/api/v1/projects/{w.project.pk}/amendments/999999/"), 404
    )

    key = key_client(w.c.kr)
    assert ok(key.get(url(w, amendment.pk)))["id"] == amendment.pk
    assert_problem(key.post(url(w), {"changes": [], "reason": "x"}, format="json"), 403)
    assert_problem(key_client(jp_org()).get(url(w)), 404)


def test_the_list_reads_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    w = amend_world()
    client = user_client(w.staff.jp)
    propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    with django_assert_max_num_queries(12) as few:
        ok(client.get(url(w)))
    # Counted now: the connection keeps a bounded log, which the writes below would roll.
    one = len(few)
    for weight in range(3, 13):
        amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2B"), "weight": str(weight)})
        ok(user_client(w.staff.kr).post(url(w, amendment.pk, "approve")))
    with django_assert_max_num_queries(one):
        assert ok(client.get(url(w)))["count"] == 11
