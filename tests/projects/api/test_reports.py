"""/api/v1/projects/{id}/reports/ (§24): the statement's sums, the workflow, field errors,
and the permission matrix (role × own/other organisation × view/edit/submit/accept);
projects one may not see answer 404."""

from __future__ import annotations

import pytest

from projects.models import ReportState, StatementLine
from tests.factories import member_of
from tests.factories.projects_api import assert_problem, key_client, ok, user_client
from tests.factories.reports import ReportWorld, filled_report, full_lines, report_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_off")]


@pytest.fixture
def w():
    return report_world()


def base(w: ReportWorld) -> str:
    return f"/api/v1/projects/{w.project.pk}/reports/"


def test_the_pi_starts_fills_and_submits_a_report_and_an_officer_accepts_it(w):
    pi = user_client(w.c.pi_jp)
    report = ok(
        pi.post(base(w), {"stage": w.stage1.pk, "narrative_ja": "順調"}, format="json"), 201
    )
    assert report["state"] == "draft"
    assert report["narrative_ja"] == "順調"
    assert report["due_on"] < report["gate_day"]
    url = f"{base(w)}{report['id']}/"

    report = ok(pi.put(f"{url}lines/", {"lines": full_lines(w)}, format="json"))
    jp = report["statement"]["organisations"][0]
    assert (jp["code"], jp["budget"], jp["released"], jp["spent"]) == (
        w.c.jp.code,
        70_000_000,
        28_000_000,
        24_000_000,
    )
    assert jp["lines"][1] == {
        "category": "equipment",
        "budget": 20_000_000,
        "released": 8_000_000,
        "spent": 9_000_000,
    }
    assert report["statement"]["sides"] == [
        {
            "side": "JP",
            "currency": "JPY",
            "budget": 100_000_000,
            "released": 40_000_000,
            "spent": 30_000_000,
        },
        {
            "side": "KR",
            "currency": "KRW",
            "budget": 1_000_000_000,
            "released": 400_000_000,
            "spent": 210_000_000,
        },
    ]
    assert ok(pi.post(f"{url}submit/"))["state"] == "submitted"
    assert ok(user_client(w.staff.kr).post(f"{url}accept/"))["state"] == "accepted"
    listed = ok(pi.get(base(w)))
    assert [(r["id"], r["state"]) for r in listed] == [(report["id"], "accepted")]


def test_bad_input_answers_translated_field_errors(w):
    pi = user_client(w.c.pi_jp)
    pi.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    report = filled_report(w)
    url = f"{base(w)}{report.pk}/"

    body = assert_problem(
        pi.put(
            f"{url}lines/",
            {"lines": [{"organisation": 999_999, "category": "travel", "spent": 1}]},
            format="json",
        ),
        422,
    )
    assert "lines.0.organisation" in body["errors"]
    body = assert_problem(pi.post(base(w), {"stage": w.stage2.pk + 1000}, format="json"), 422)
    assert "stage" in body["errors"]
    assert_problem(pi.put(f"{url}lines/", {"lines": [{"spent": "x"}]}, format="json"), 400)
    officer = user_client(w.staff.jp)
    pi.post(f"{url}submit/")
    body = assert_problem(officer.post(f"{url}return/", {"reason": ""}, format="json"), 422)
    assert "reason" in body["errors"]


def test_submit_lists_what_is_missing(w):
    pi = user_client(w.c.pi_jp)
    report = ok(pi.post(base(w), {"stage": w.stage1.pk}, format="json"), 201)
    body = assert_problem(pi.post(f"{base(w)}{report['id']}/submit/"), 422)
    assert set(body["errors"]) == {"narrative_en", "lines"}


def test_a_stale_narrative_answers_409(w):
    pi = user_client(w.c.pi_jp)
    report = ok(pi.post(base(w), {"stage": w.stage1.pk}, format="json"), 201)
    url = f"{base(w)}{report['id']}/"
    ok(pi.patch(url, {"narrative_en": "One", "version": 1}, format="json"))
    assert_problem(pi.patch(url, {"narrative_en": "Two", "version": 1}, format="json"), 409)


# --------------------------------------------------------------------------- the matrix

# who → (view, enter own organisation's lines, enter another organisation's lines, submit,
# accept): an HTTP status each. "own" is the actor's organisation; for officers and
# outsiders there is none, and "own" is the JP lead.
MATRIX = {
    "pi": (200, 200, 200, 200, 403),
    "co_investigator": (200, 200, 403, 403, 403),
    "research_office": (200, 403, 403, 403, 403),
    "fund_officer": (200, 403, 403, 403, 200),
    "finance_officer": (200, 403, 403, 403, 403),
    "outsider": (404, 404, 404, 404, 404),
    "key_with_kpi_write": (200, 200, 403, 403, 403),
    "key_read_only": (200, 403, 403, 403, 403),
    "key_of_outsider": (404, 404, 404, 404, 404),
}


def _client(w: ReportWorld, who: str):
    """The client, and the organisation it counts as its own."""
    if who == "pi":
        return user_client(w.c.pi_jp), w.c.jp
    if who == "co_investigator":
        return user_client(w.co_partner), w.partner
    if who == "research_office":
        return user_client(w.c.office_jp), w.c.jp
    if who == "fund_officer":
        return user_client(w.staff.jp), w.c.jp
    if who == "finance_officer":
        return user_client(w.staff.finance_jp), w.c.jp
    if who == "outsider":
        return user_client(w.outsider), w.c.jp
    if who == "key_with_kpi_write":
        return key_client(w.partner, ("projects:read", "kpi:write")), w.partner
    if who == "key_read_only":
        return key_client(w.partner, ("projects:read",)), w.partner
    assert who == "key_of_outsider"
    return key_client(
        w.outsider.memberships.get().organisation, ("projects:read", "kpi:write")
    ), w.c.jp


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_permission_matrix(w, who):
    view, own, other, submit, accept = MATRIX[who]
    report = filled_report(w)
    url = f"{base(w)}{report.pk}/"
    client, mine = _client(w, who)
    someone_else = w.c.kr if mine != w.c.kr else w.c.jp

    response = client.get(url)
    assert response.status_code == view, response.content
    if view == 200:
        assert response.json()["statement"]["organisations"]
    assert client.get(base(w)).status_code == view

    line = {"category": "personnel", "spent": 1234}
    response = client.put(
        f"{url}lines/", {"lines": [{"organisation": mine.pk, **line}]}, format="json"
    )
    assert response.status_code == own, response.content
    response = client.put(
        f"{url}lines/", {"lines": [{"organisation": someone_else.pk, **line}]}, format="json"
    )
    assert response.status_code == other, response.content
    written = set(StatementLine.objects.filter(spent=1234).values_list("organisation", flat=True))
    assert written == {o.pk for o, status in ((mine, own), (someone_else, other)) if status == 200}

    response = client.post(f"{url}submit/")
    assert response.status_code == submit, response.content
    if submit != 200:
        report.refresh_from_db()
        assert report.state == ReportState.DRAFT
        # Submitted by the PI, for the accept column.
        user_client(w.c.pi_kr).post(f"{url}submit/")
    response = client.post(f"{url}accept/")
    assert response.status_code == accept, response.content
    report.refresh_from_db()
    assert report.state == (ReportState.ACCEPTED if accept == 200 else ReportState.SUBMITTED)


def test_a_researcher_of_another_project_and_anonymous_callers_see_nothing(w):
    other = report_world(staff=w.staff)
    stranger = user_client(other.c.pi_jp)
    report = filled_report(w)
    assert_problem(stranger.get(base(w)), 404)
    assert_problem(stranger.get(f"{base(w)}{report.pk}/"), 404)
    assert_problem(stranger.post(base(w), {"stage": w.stage1.pk}, format="json"), 404)
    # Another project's report through this project's URL: the same 404.
    theirs = filled_report(other)
    assert_problem(user_client(w.c.pi_jp).get(f"{base(w)}{theirs.pk}/"), 404)
    anonymous = user_client(member_of(w.c.jp))
    anonymous.logout()
    assert anonymous.get(base(w)).status_code in (401, 403)


def test_a_report_reads_a_fixed_number_of_queries_at_two_sizes(w, django_assert_num_queries):
    from projects.services.reports import statement_lines_set

    pi = user_client(w.c.pi_jp)
    report = filled_report(w)
    ok(pi.get(base(w)))  # the session and caches warmed
    with django_assert_num_queries(8):
        ok(pi.get(f"{base(w)}{report.pk}/"))

    bigger = report_world(staff=w.staff)
    more = filled_report(bigger)
    statement_lines_set(
        report=more,
        actor=bigger.c.pi_jp,
        lines=[
            {"organisation": bigger.c.kr.pk, "category": c, "spent": 5}
            for c in ("other", "consumables")
        ],
    )
    client = user_client(bigger.c.pi_jp)
    ok(client.get(f"/api/v1/projects/{bigger.project.pk}/reports/"))
    with django_assert_num_queries(8):
        ok(client.get(f"/api/v1/projects/{bigger.project.pk}/reports/{more.pk}/"))
