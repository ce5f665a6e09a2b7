"""Changing a project's return-allocation table: two officers, one of each side, the same
table; audited with the table before and after (§2, §10.5)."""

from __future__ import annotations

import pytest

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.ledger.selectors import account_balance
from ip_licensing.models import AllocationChange
from ip_licensing.services.allocation import (
    allocation_change_approve,
    allocation_change_cancel,
    current_table,
)
from ip_licensing.services.royalties import royalty_report_submit
from tests.factories import officer
from tests.factories.licensing import days, make_project_world, project_licence, user_client
from tests.ip_licensing.services.test_royalties import current_quarter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]
URL = "/api/v1/allocation-changes/"


@pytest.fixture
def pw(db):
    return make_project_world()


def approve(pw, actor, table, reason="The KR partner runs the production line."):
    return allocation_change_approve(project=pw.project, actor=actor, table=table, reason=reason)


def test_two_officers_of_both_sides_replace_the_table(pw):
    jp, kr = pw.jp, pw.kr
    new = [[pw.partner_kr.pk, 7000], [pw.partner_jp.pk, 3000]]
    first = approve(pw, jp, new)
    assert first.state == "pending"
    assert current_table(pw.project) == [(pw.partner_jp.pk, 6000), (pw.partner_kr.pk, 4000)]
    # The same table in another order is the same table.
    done = approve(pw, kr, list(reversed(new)), reason="Agreed.")
    assert done.pk == first.pk
    assert done.state == "completed"
    assert (done.first_side, done.second_side) == ("JP", "KR")
    assert sorted(current_table(pw.project)) == sorted(
        [(pw.partner_jp.pk, 3000), (pw.partner_kr.pk, 7000)]
    )
    event = AuditEvent.objects.get(action="project.return_allocation_changed")
    assert event.object_id == str(pw.project.pk)
    assert event.before == {"table": [[pw.partner_jp.pk, 6000], [pw.partner_kr.pk, 4000]]}
    assert event.after is not None
    assert event.after["table"] == [[pw.partner_jp.pk, 3000], [pw.partner_kr.pk, 7000]]
    assert AuditEvent.objects.filter(action="allocation_change.approved").count() == 1
    assert AuditEvent.objects.filter(action="allocation_change.completed").count() == 1


def test_royalties_follow_the_new_table(pw):
    approve(pw, pw.jp, [[pw.partner_jp.pk, 10000], [pw.partner_kr.pk, 0]])
    approve(pw, pw.kr, [[pw.partner_jp.pk, 10000]])  # an absent organisation has 0
    licence = project_licence(pw, start_on=days(-200).isoformat())
    royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=current_quarter(), net_sales=10**7
    )
    assert account_balance(f"org:{pw.partner_jp.pk}:JPY:payable") == 315_000
    assert account_balance(f"org:{pw.partner_kr.pk}:JPY:payable") == 0


def test_one_person_never_approves_twice_nor_two_of_one_side(pw):
    table = [[pw.partner_jp.pk, 5000], [pw.partner_kr.pk, 5000]]
    approve(pw, pw.jp, table)
    with pytest.raises(PermissionDenied) as same_person:
        approve(pw, pw.jp, table)
    assert same_person.value.code == "same_person"
    with pytest.raises(PermissionDenied) as same_side:
        approve(pw, officer("JP"), table)
    assert same_side.value.code == "same_side"
    assert AllocationChange.objects.get().state == "pending"
    assert current_table(pw.project) == [(pw.partner_jp.pk, 6000), (pw.partner_kr.pk, 4000)]


def test_the_second_approval_must_carry_the_same_table(pw):
    approve(pw, pw.jp, [[pw.partner_jp.pk, 5000], [pw.partner_kr.pk, 5000]])
    with pytest.raises(Conflict) as refused:
        approve(pw, pw.kr, [[pw.partner_jp.pk, 5001], [pw.partner_kr.pk, 4999]])
    assert refused.value.code == "table_differs"
    assert AllocationChange.objects.get().state == "pending"


def test_only_fund_officers_with_a_side(pw):
    table = [[pw.partner_jp.pk, 5000], [pw.partner_kr.pk, 5000]]
    with pytest.raises(PermissionDenied):
        approve(pw, pw.office_jp, table)
    with pytest.raises(PermissionDenied):
        approve(pw, officer(""), table)
    assert not AllocationChange.objects.exists()


@pytest.mark.parametrize(
    ("table", "keys"),
    [
        ("jp:5000,kr:4999", {"table"}),  # sums to 9,999
        ("jp:5000,kr:5000,x:0", {"table.2"}),  # not in the consortium
        ("jp:5000,jp:5000", {"table.1"}),  # twice
        ("jp:10001,kr:-1", {"table.0", "table.1"}),
        ("", {"table"}),
    ],
)
def test_bad_tables(pw, table, keys):
    ids = {"jp": pw.partner_jp.pk, "kr": pw.partner_kr.pk, "x": pw.licensee.pk}
    rows = [[ids[part.split(":")[0]], int(part.split(":")[1])] for part in table.split(",") if part]
    with pytest.raises(ValidationFailed) as refused:
        approve(pw, pw.jp, rows)
    assert set(refused.value.errors) == keys


def test_a_reason_is_required(pw):
    with pytest.raises(ValidationFailed) as refused:
        approve(pw, pw.jp, [[pw.partner_jp.pk, 10000]], reason="  ")
    assert set(refused.value.errors) == {"reason"}


def test_the_first_officer_may_cancel(pw):
    change = approve(pw, pw.jp, [[pw.partner_jp.pk, 10000]])
    with pytest.raises(PermissionDenied):
        allocation_change_cancel(change=change, actor=pw.kr)
    cancelled = allocation_change_cancel(change=change, actor=pw.jp)
    assert cancelled.state == "withdrawn"
    # A new change may start; the KR officer may now be first.
    assert approve(pw, pw.kr, [[pw.partner_kr.pk, 10000]]).state == "pending"


# --------------------------------------------------------------------------- API


def test_the_api_records_then_completes(pw):
    body = {"project": pw.project.pk, "table": [[pw.partner_jp.pk, 10000]], "reason": "Moved."}
    first = user_client(pw.jp).post(URL, body, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["state"] == "pending"
    second = user_client(pw.kr).post(URL, body, format="json")
    assert second.status_code == 200, second.content
    assert second.json()["state"] == "completed"
    listed = user_client(pw.jp).get(URL, {"project": pw.project.pk})
    assert [row["id"] for row in listed.json()["results"]] == [first.json()["id"]]


def test_the_api_is_for_fund_officers(pw):
    from tests.factories.licensing import key_client

    body = {"project": pw.project.pk, "table": [[pw.partner_jp.pk, 10000]], "reason": "Moved."}
    assert user_client(pw.office_jp).post(URL, body, format="json").status_code == 403
    assert user_client(pw.office_jp).get(URL).status_code == 403
    key = key_client(pw.partner_jp, ["licences:read", "licences:check", "royalties:write"])
    assert key.get(URL).status_code == 403
    assert key.post(URL, body, format="json").status_code == 403
    assert not AllocationChange.objects.exists()


def test_the_api_names_an_unknown_project(pw):
    body = {"project": 10**9, "table": [[pw.partner_jp.pk, 10000]], "reason": "Moved."}
    response = user_client(pw.jp).post(URL, body, format="json")
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"project"}
