"""Writing proposals through the API: create, save sections, submit, withdraw, endorse."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from projects.models import Call, Proposal, ProposalState
from projects.services import proposals as svc
from tests.factories import CallFactory, jp_org
from tests.factories.proposals import (
    complete_changes,
    complete_proposal,
    make_consortium,
    stages,
    submitted_proposal,
)
from tests.factories.proposals_api import (
    READ,
    WRITE,
    assert_problem,
    bare_draft,
    detail_url,
    key_client,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

LIST_URL = "/api/v1/proposals/"


# --------------------------------------------------------------------------- create


def test_a_lead_partner_system_creates_a_complete_draft_in_one_request():
    c = make_consortium()
    client = key_client(c.jp)
    body = {"call": c.call.pk, **complete_changes(c)}

    response = client.post(LIST_URL, body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert response["Location"].endswith(detail_url(data["id"]))
    assert data["state"] == "draft"
    assert data["lead_organisations"] == [c.jp.code, c.kr.code]
    assert len(data["stages"]) == 2
    proposal = Proposal.objects.get(pk=data["id"])
    assert proposal.created_by_api_key is not None
    assert data["version"] == proposal.version
    # the system that made the draft can read it back
    assert client.get(detail_url(proposal)).status_code == 200


def test_a_researcher_starts_an_empty_draft_as_its_pi():
    c = make_consortium()
    response = user_client(c.pi_kr).post(LIST_URL, {"call": c.call.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["consortium"]["members"] == [
        {"organisation": c.kr.code, "role": "lead_kr"}
    ]


def test_create_with_an_invalid_section_leaves_nothing_behind():
    c = make_consortium()
    bad = stages()
    bad[0]["kpis"][1]["target"] = bad[0]["kpis"][1]["baseline"]
    before = Proposal.objects.count()

    response = key_client(c.jp).post(LIST_URL, {"call": c.call.pk, "stages": bad}, format="json")

    body = assert_problem(response, 422)
    assert "stages.0.kpis.1.target" in body["errors"]
    assert Proposal.objects.count() == before


def test_create_in_an_unknown_or_closed_call_is_422_on_call():
    c = make_consortium()
    closed = CallFactory.create(
        opens_at=timezone.now() - timedelta(days=30), closes_at=timezone.now() - timedelta(days=1)
    )
    client = user_client(c.pi_jp)
    assert (
        "call"
        in assert_problem(client.post(LIST_URL, {"call": 999999}, format="json"), 422)["errors"]
    )
    assert (
        "call"
        in assert_problem(client.post(LIST_URL, {"call": closed.pk}, format="json"), 422)["errors"]
    )


# --------------------------------------------------------------------------- save sections


def test_patch_saves_sections_and_bumps_the_version():
    proposal, c = complete_proposal()
    response = user_client(c.pi_jp).patch(
        detail_url(proposal),
        {"version": proposal.version, "basics": {"title_en": "Renamed", "research_area": ""}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["title_en"] == "Renamed"
    assert response.json()["version"] == proposal.version + 1
    assert response["ETag"] == f'"{proposal.version + 1}"'


def test_a_kpi_named_only_in_japanese_is_saved_and_read_back_in_japanese():
    proposal, c = complete_proposal()
    plan = stages()
    plan[0]["kpis"][0].update(name_en="", name_ja="エネルギー効率", name_ko="")
    client = user_client(c.pi_jp)
    response = client.patch(
        detail_url(proposal), {"version": proposal.version, "stages": plan}, format="json"
    )
    assert response.status_code == 200, response.content
    read = client.get(detail_url(proposal), HTTP_ACCEPT_LANGUAGE="en").json()
    first = read["stages"][0]["kpis"][0]
    assert (first["name"], first["name_en"], first["name_ja"]) == (
        "エネルギー効率",
        "",
        "エネルギー効率",
    )


def test_a_kpi_without_any_name_is_422_on_its_name_field():
    proposal, c = complete_proposal()
    plan = stages()
    plan[1]["kpis"][1].update(name_en="", name_ja="", name_ko="")
    response = user_client(c.pi_jp).patch(
        detail_url(proposal),
        {"version": proposal.version, "stages": plan},
        format="json",
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    errors = assert_problem(response, 422)["errors"]
    assert list(errors) == ["stages.1.kpis.1.name_ko"]
    assert "성과지표 (KPI)" in errors["stages.1.kpis.1.name_ko"][0]


def test_a_kpis_evidence_level_and_means_of_verification_are_written_and_read_back():
    proposal, c = complete_proposal()
    plan = stages()
    plan[0]["kpis"][0].update(
        evidence="attested",
        means_of_verification_en="Test report of an accredited laboratory",
        means_of_verification_ja="認定試験所の試験報告書",
    )
    plan[0]["kpis"][1].pop("evidence", None)  # optional: the least it may have
    client = user_client(c.pi_jp)
    response = client.patch(
        detail_url(proposal), {"version": proposal.version, "stages": plan}, format="json"
    )
    assert response.status_code == 200, response.content
    read = client.get(detail_url(proposal), HTTP_ACCEPT_LANGUAGE="ja").json()
    first, second = read["stages"][0]["kpis"]
    assert (first["evidence"], first["means_of_verification"]) == (
        "attested",
        "認定試験所の試験報告書",
    )
    assert first["means_of_verification_en"] == "Test report of an accredited laboratory"
    assert (second["mandatory"], second["evidence"], second["means_of_verification"]) == (
        False,
        "none",
        "",
    )


@pytest.mark.parametrize(
    ("evidence", "language", "expected"),
    [
        ("none", "en", "A mandatory KPI needs evidence behind each measurement"),
        ("none", "ja", "必須の成果指標 (KPI) には"),
        ("none", "ko", "필수 성과지표 (KPI)는"),
        ("notarised", "en", "is not a valid choice"),
    ],
)
def test_a_mandatory_kpi_without_evidence_is_422_on_its_evidence_field(
    evidence, language, expected
):
    proposal, c = complete_proposal()
    plan = stages()
    plan[1]["kpis"][0]["evidence"] = evidence
    response = user_client(c.pi_jp).patch(
        detail_url(proposal),
        {"version": proposal.version, "stages": plan},
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    errors = assert_problem(response, 422)["errors"]
    assert list(errors) == ["stages.1.kpis.0.evidence"]
    assert expected in errors["stages.1.kpis.0.evidence"][0]
    assert Proposal.objects.get(pk=proposal.pk).version == proposal.version


def test_patch_takes_the_expected_version_from_if_match():
    proposal, c = complete_proposal()
    response = user_client(c.pi_jp).patch(
        detail_url(proposal),
        {"security": {"dual_use": True, "controlled_categories": ["3A001"], "notes": "x"}},
        format="json",
        HTTP_IF_MATCH=f'"{proposal.version}"',
    )
    assert response.status_code == 200, response.content
    assert response.json()["security"] == {
        "dual_use": True,
        "controlled_categories": ["3A001"],
        "notes": "x",
    }


def test_a_stale_save_is_409_and_the_first_save_is_intact():
    proposal, c = complete_proposal()
    read_version = proposal.version
    first = user_client(c.pi_jp).patch(
        detail_url(proposal),
        {"version": read_version, "basics": {"title_en": "First save"}},
        format="json",
    )
    assert first.status_code == 200, first.content

    second = user_client(c.pi_kr).patch(
        detail_url(proposal),
        {"version": read_version, "basics": {"title_en": "Second save"}},
        format="json",
    )

    body = assert_problem(second, 409)
    assert "version" in body["errors"]
    current = user_client(c.pi_jp).get(detail_url(proposal)).json()
    assert current["title_en"] == "First save"
    assert current["version"] == read_version + 1


def test_a_stale_if_match_is_409_too():
    proposal, c = bare_draft()
    response = user_client(c.pi_jp).patch(
        detail_url(proposal), {}, format="json", HTTP_IF_MATCH=f'"{proposal.version - 1}"'
    )
    assert "version" in assert_problem(response, 409)["errors"]


def _with_two_jp_leads(c, changes):
    other = jp_org()
    changes["consortium"]["members"].append({"organisation": other.code, "role": "lead_jp"})
    return "members"


def _with_target_equal_to_baseline(c, changes):
    changes["stages"][0]["kpis"][1]["target"] = "10.0"
    return "stages.0.kpis.1.target"


def _budget_amount(value):
    def change(c, changes):
        changes["budget"][0]["amount"] = value
        return "budget.0.amount"

    return change


def _planned_tranche(value):
    def change(c, changes):
        changes["stages"][0]["planned_jpy"] = value
        return "stages.0.planned_jpy"

    return change


@pytest.mark.parametrize(
    "spoil",
    [
        _with_target_equal_to_baseline,
        _with_two_jp_leads,
        _budget_amount("1.5"),
        _budget_amount(1.5),
        _budget_amount(-1),
        _budget_amount(10**15 + 1),
        _budget_amount(10**30),
        _budget_amount("a lot"),
        _planned_tranche("40000000.5"),
        _planned_tranche(-5),
    ],
    ids=[
        "target_equals_baseline",
        "two_jp_leads",
        "fractional_yen_string",
        "fractional_yen_number",
        "negative_amount",
        "amount_above_10e15",
        "huge_amount",
        "amount_not_a_number",
        "fractional_tranche",
        "negative_tranche",
    ],
)
def test_invalid_content_is_422_with_the_field_path_and_changes_nothing(spoil):
    proposal, c = complete_proposal()
    version = proposal.version
    changes = copy.deepcopy(complete_changes(c))
    changes["basics"]["title_en"] = "Not saved: another section is invalid"
    field = spoil(c, changes)

    response = user_client(c.pi_jp).patch(
        detail_url(proposal), {"version": proposal.version, **changes}, format="json"
    )

    body = assert_problem(response, 422)
    assert field in body["errors"], body
    assert all(isinstance(m, str) for msgs in body["errors"].values() for m in msgs)
    proposal.refresh_from_db()
    assert proposal.version == version
    assert proposal.title_en == "Edge AI accelerators"


@pytest.mark.parametrize(
    ("payload", "content_type", "field"),
    [
        ('{"version": 1, "basics": {', "application/json", None),
        ("[1, 2, 3]", "application/json", "non_field_errors"),
        ('{"version": 1, "stages": {"title": "x"}}', "application/json", "stages"),
        ('{"version": 1, "stages": [1, 2]}', "application/json", "stages.0"),
        ('{"version": 1, "basics": ["x"]}', "application/json", "basics"),
        ('{"version": "abc"}', "application/json", "version"),
        ('{"version": 1, "basic": {}}', "application/json", "basic"),
        ('{"basics": {}}', "application/json", "version"),
        ('{"version": NaN}', "application/json", None),
        ('"just a string"', "application/json", "non_field_errors"),
    ],
    ids=[
        "malformed",
        "list_body",
        "stages_not_a_list",
        "stages_not_objects",
        "basics_not_an_object",
        "version_not_an_int",
        "unknown_section",
        "version_missing",
        "nan",
        "string_body",
    ],
)
def test_malformed_bodies_are_400_never_500(payload, content_type, field):
    proposal, c = bare_draft()
    response = user_client(c.pi_jp).generic(
        "PATCH", detail_url(proposal), payload, content_type=content_type
    )
    body = assert_problem(response, 400)
    if field:
        assert field in body["errors"], body


def test_if_match_differing_from_the_body_version_is_400():
    proposal, c = bare_draft()
    response = user_client(c.pi_jp).patch(
        detail_url(proposal),
        {"version": proposal.version},
        format="json",
        HTTP_IF_MATCH=f'"{proposal.version + 3}"',
    )
    assert "version" in assert_problem(response, 400)["errors"]


def test_an_unsupported_content_type_is_415():
    proposal, c = bare_draft()
    response = user_client(c.pi_jp).generic(
        "PATCH", detail_url(proposal), "version=1", content_type="text/plain"
    )
    assert_problem(response, 415)


# --------------------------------------------------------------------------- transitions


def test_submit_freezes_the_draft():
    proposal, c = complete_proposal()
    response = user_client(c.pi_jp).post(f"{detail_url(proposal)}submit/")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "submitted"
    assert response.json()["submitted_at"] is not None
    patch = user_client(c.pi_jp).patch(
        detail_url(proposal), {"version": response.json()["version"]}, format="json"
    )
    assert_problem(patch, 409)


def test_submitting_shrinking_tranches_is_422_on_the_stage():
    proposal, c = complete_proposal()
    svc.proposal_update(
        proposal=proposal,
        actor=c.pi_jp,
        expected_version=proposal.version,
        changes={"stages": stages(jp=(60_000_000, 40_000_000))},
    )

    response = user_client(c.pi_jp).post(f"{detail_url(proposal)}submit/")

    body = assert_problem(response, 422)
    assert "stages.1.planned_jpy" in body["errors"]
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.DRAFT


def test_submitting_an_ineligible_draft_lists_every_failed_rule():
    c = make_consortium()
    proposal = svc.proposal_create(actor=c.pi_jp, call=c.call)
    body = assert_problem(user_client(c.pi_jp).post(f"{detail_url(proposal)}submit/"), 422)
    for field in ("title_en", "abstract_en", "research_area", "members", "stages", "attachments"):
        assert field in body["errors"], body["errors"]


def test_submitting_after_the_deadline_says_so_on_call():
    proposal, c = complete_proposal()
    Call.objects.filter(pk=c.call.pk).update(closes_at=timezone.now() - timedelta(minutes=1))

    body = assert_problem(user_client(c.pi_jp).post(f"{detail_url(proposal)}submit/"), 422)

    assert "closed" in " ".join(body["errors"]["call"])


def test_withdraw_with_a_reason():
    proposal, c = submitted_proposal()
    response = user_client(c.pi_jp).post(
        f"{detail_url(proposal)}withdraw/", {"reason": "Consortium dissolved"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "withdrawn"
    event = AuditEvent.objects.filter(action="proposal.withdrawn", object_id=str(proposal.pk)).get()
    assert event.after is not None
    assert event.after["reason"] == "Consortium dissolved"


def test_the_kr_leads_system_endorses_and_the_proposal_becomes_eligible():
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)

    response = key_client(c.kr, scopes=[READ, WRITE]).post(
        f"{detail_url(proposal)}endorse/", {"comment": "Approved by the office."}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "eligible", body["eligibility_reasons"]
    assert {e["organisation"] for e in body["endorsements"]} == {c.jp.code, c.kr.code}


def test_endorsing_for_an_unknown_or_foreign_organisation():
    proposal, c = submitted_proposal()
    client = key_client(c.kr)
    unknown = client.post(
        f"{detail_url(proposal)}endorse/", {"organisation": "XX-NONE"}, format="json"
    )
    assert "organisation" in assert_problem(unknown, 422)["errors"]
    foreign = client.post(
        f"{detail_url(proposal)}endorse/", {"organisation": c.jp.code}, format="json"
    )
    assert_problem(foreign, 403)


def test_the_kr_leads_system_returns_the_proposal_to_the_pis():
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)

    response = key_client(c.kr).post(
        f"{detail_url(proposal)}return/",
        {"organisation": c.kr.code, "reason": "Our finance office must sign the KR budget."},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["state"], body["endorsements"], body["submitted_at"]) == ("draft", [], None)
    assert body["version"] == proposal.version + 1
    event = AuditEvent.objects.get(action="proposal.returned", object_id=str(proposal.pk))
    assert event.actor_api_key_id is not None
    assert event.after is not None and event.after["organisation"] == c.kr.pk
    # The PI edits and submits again through the same API.
    pi = user_client(c.pi_jp)
    resubmitted = pi.post(f"{detail_url(proposal)}submit/")
    assert resubmitted.status_code == 200, resubmitted.content
    assert resubmitted.json()["state"] == "submitted"


def test_returning_needs_a_reason_and_a_proposal_awaiting_endorsement():
    proposal, c = submitted_proposal()
    client = user_client(c.office_jp)
    missing = client.post(f"{detail_url(proposal)}return/", {}, format="json")
    assert "reason" in assert_problem(missing, 400)["errors"]
    blank = client.post(f"{detail_url(proposal)}return/", {"reason": " "}, format="json")
    assert "reason" in assert_problem(blank, 422)["errors"]
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    svc.proposal_endorse(proposal=proposal, actor=c.office_kr)  # eligible now
    late = client.post(f"{detail_url(proposal)}return/", {"reason": "Too late."}, format="json")
    assert_problem(late, 409)


def test_only_a_lead_office_may_return_and_others_do_not_learn_it_exists():
    proposal, c = submitted_proposal()
    url = f"{detail_url(proposal)}return/"
    assert_problem(user_client(c.pi_jp).post(url, {"reason": "x"}, format="json"), 403)
    foreign = key_client(c.kr).post(url, {"organisation": c.jp.code, "reason": "x"}, format="json")
    assert_problem(foreign, 403)
    read_only = key_client(c.kr, scopes=[READ]).post(url, {"reason": "x"}, format="json")
    assert_problem(read_only, 403)
    stranger = make_consortium()
    assert_problem(key_client(stranger.jp).post(url, {"reason": "x"}, format="json"), 404)
    assert_problem(user_client(stranger.office_kr).post(url, {"reason": "x"}, format="json"), 404)
    assert Proposal.objects.get(pk=proposal.pk).state == ProposalState.SUBMITTED


def test_endorsing_a_draft_is_a_conflict():
    proposal, c = complete_proposal()
    assert_problem(user_client(c.pi_jp).post(f"{detail_url(proposal)}endorse/"), 409)


@pytest.mark.parametrize(
    "changes",
    [
        {"basics": {"title_en": "a\x00b"}},
        {"basics": {"keywords": [1, None, {"a": 1}]}},
        {"security": {"dual_use": [1], "controlled_categories": "a,b"}},
        {"budget": [{"organisation": 10**30, "category": "travel", "amount": 1}]},
        {"stages": [{"title": "x", "months": "12", "planned_jpy": "1e3", "planned_krw": True}]},
    ],
    ids=["nul_in_text", "keywords_not_text", "dual_use_not_bool", "huge_org_id", "odd_stage"],
)
def test_odd_values_inside_sections_are_422(changes):
    proposal, c = bare_draft()
    response = user_client(c.pi_jp).patch(
        detail_url(proposal), {"version": proposal.version, **changes}, format="json"
    )
    assert_problem(response, 422)


# Service bugs found through the API (reported; projects/services is not this module's):
# ``str.isdigit()`` is true for "²" but ``int("²")`` raises, and ``inputs.choice`` tests a
# list for membership in a set. Strict: these start passing once the services are fixed.
@pytest.mark.parametrize(
    "changes",
    [
        {"consortium": {"members": [{"organisation": "²", "role": "lead_jp"}]}},
        {"basics": {"research_area": "²"}},
        {"consortium": {"members": [{"organisation": "JP-X", "role": ["lead_jp"]}]}},
    ],
    ids=["superscript_org", "superscript_area", "role_as_list"],
)
def test_odd_references_are_422(changes):
    proposal, c = bare_draft()
    response = user_client(c.pi_jp).patch(
        detail_url(proposal), {"version": proposal.version, **changes}, format="json"
    )
    assert_problem(response, 422)
