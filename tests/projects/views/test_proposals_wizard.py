"""The proposal wizard in the browser: each step saves, errors land beside their fields."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import Attachment, Proposal, ProposalState
from projects.rules import proposals as rules
from projects.services import proposals as svc
from tests.factories import proposal_forms as fd
from tests.factories.proposals import MINIMAL_PDF, complete_proposal, kpi, make_consortium

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]


def step_url(proposal: Proposal, step: str) -> str:
    return reverse("proposals:step", args=[proposal.pk, step])


def post_step(client, proposal: Proposal, step: str, data: dict, *, go_on: bool = True):
    proposal.refresh_from_db()
    body = {"version": str(proposal.version), **data}
    body["continue" if go_on else "save"] = "1"
    return client.post(step_url(proposal, step), body)


@pytest.fixture
def consortium():
    return make_consortium()


@pytest.fixture
def draft(client, consortium):
    """A draft started in the browser by the Japanese PI."""
    client.force_login(consortium.pi_jp)
    response = client.post(reverse("proposals:new"), {"call": consortium.call.pk})
    proposal = Proposal.objects.get(created_by=consortium.pi_jp)
    assert response.status_code == 302
    assert response["Location"] == step_url(proposal, "basics")
    return proposal


def test_new_proposal_page_lists_open_calls(client, consortium):
    client.force_login(consortium.pi_jp)
    response = client.get(reverse("proposals:new"))
    assert response.status_code == 200
    assert consortium.call.title_en in response.content.decode()


def test_every_step_saves_and_a_complete_draft_submits(client, consortium, draft):
    c = consortium
    steps = [
        ("basics", fd.basics(), "consortium"),
        ("consortium", fd.consortium(c), "stages"),
        ("stages", fd.stages(), "budget"),
        ("budget", fd.budget(c), "ip"),
        ("ip", fd.ip_plan(c), "security"),
        ("security", fd.security(), "attachments"),
    ]
    for step, data, following in steps:
        page = client.get(step_url(draft, step))
        assert page.status_code == 200, step
        response = post_step(client, draft, step, data)
        assert response.status_code == 302, (step, response.content.decode()[:3000])
        assert response["Location"] == step_url(draft, following)

    draft.refresh_from_db()
    assert draft.title_ja == "エッジAIアクセラレータ"
    assert draft.keywords == ["edge", "ai"]
    assert draft.trl_target == 6
    assert [(m.organisation.code, m.role) for m in draft.members.all()] == [
        (c.jp.code, "lead_jp"),
        (c.kr.code, "lead_kr"),
    ]
    assert {p.user_id for p in draft.people.all()} == {c.pi_jp.pk, c.pi_kr.pk}
    assert [(s.title, s.planned_jpy, s.planned_krw) for s in draft.stages.all()] == [
        ("Prototype", 40_000_000, 400_000_000),
        ("Pilot", 60_000_000, 600_000_000),
    ]
    assert sorted(draft.kpis.values_list("code", flat=True)) == ["K1A", "K2A", "K2B"]
    assert sorted(draft.budget_lines.values_list("currency", "amount")) == [
        ("JPY", 100_000_000),
        ("KRW", 1_000_000_000),
    ]
    assert draft.background_ip.get().owner == c.jp
    assert draft.security_notes == "No export-controlled items."

    upload = SimpleUploadedFile("plan.pdf", MINIMAL_PDF, content_type="application/pdf")
    response = client.post(
        step_url(draft, "attachments"), {"kind": "research_plan", "file": upload, "continue": "1"}
    )
    assert response.status_code == 302
    assert response["Location"] == step_url(draft, "review")

    review = client.get(step_url(draft, "review"))
    html = review.content.decode()
    assert "Every rule is met" in html
    assert not re.search(r'id="submit-proposal" disabled', html)
    assert "¥40,000,000" in html and "₩1,000,000,000" in html

    response = client.post(reverse("proposals:submit", args=[draft.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("proposals:detail", args=[draft.pk])
    draft.refresh_from_db()
    assert draft.state == ProposalState.SUBMITTED

    # Submitted: read-only from now on.
    assert client.get(step_url(draft, "basics")).status_code == 403
    assert post_step(client, draft, "basics", fd.basics(title_en="Changed")).status_code == 403


def test_save_draft_stays_on_the_step_and_the_step_bar_shows_problems(client, draft):
    response = post_step(client, draft, "basics", fd.basics(), go_on=False)
    assert response["Location"] == step_url(draft, "basics")
    html = client.get(step_url(draft, "basics")).content.decode()
    assert re.search(r'data-step="basics" data-status="ok"', html)
    assert re.search(r'data-step="stages" data-status="attention"', html)
    assert re.search(r'data-step="attachments" data-status="attention"', html)


def test_kpi_target_equal_to_baseline_shows_beside_that_kpi(client, consortium, draft):
    post_step(client, draft, "consortium", fd.consortium(consortium))
    # Stage 1 has a blank spare row between its two KPIs: the service's kpis.1 is form row 2.
    kpis = [
        [kpi("K1A")],
        [
            kpi("K2A"),
            {"direction": "higher_is_better", "weight": "1", "aggregation": "latest"},
            kpi("K2B", baseline="5", target="5"),
        ],
    ]
    response = post_step(client, draft, "stages", fd.stages(kpis))
    assert response.status_code == 422
    html = response.content.decode()
    assert fd.field_errors(html, "stages-1-kpis-2-target") == [
        "The target must differ from the baseline."
    ]
    assert fd.field_errors(html, "stages-1-kpis-1-target") == []
    # What was typed is still there, and nothing was saved.
    assert 'name="stages-1-kpis-2-code" value="K2B"' in html
    assert not draft.stages.exists()
    assert re.search(r'data-step="stages" data-status="error"', html)


def test_non_numeric_amount_shows_beside_the_amount(client, consortium, draft):
    post_step(client, draft, "consortium", fd.consortium(consortium))
    response = post_step(client, draft, "budget", fd.budget(consortium, kr_amount="lots"))
    assert response.status_code == 422
    html = response.content.decode()
    assert fd.field_errors(html, "budget-1-amount") == ["Enter a whole amount."]
    assert fd.field_errors(html, "budget-0-amount") == []
    assert 'value="lots"' in html
    assert "KRW" in html  # the currency follows the organisation


def test_fractional_amount_is_refused_beside_the_field(client, consortium, draft):
    response = post_step(
        client, draft, "stages", {**fd.stages(), "stages-0-planned_jpy": "1,000.5"}
    )
    assert response.status_code == 422
    assert fd.field_errors(response.content.decode(), "stages-0-planned_jpy") == [
        "Amounts in yen and won have no fractions."
    ]


def test_member_role_error_lands_on_the_row_and_list_errors_on_the_table(client, consortium, draft):
    data = fd.rows(
        "members",
        [
            {"organisation": consortium.jp.code, "role": "lead_jp"},
            {"organisation": consortium.kr.code, "role": "lead_jp"},
        ],
    )
    data.update(fd.rows("people", []))
    response = post_step(client, draft, "consortium", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert fd.field_errors(html, "members-1-role") == [
        "The Japanese lead must be an organisation in Japan."
    ]
    assert fd.block_errors(html, "members_errors") == [
        "A consortium has exactly one Japanese lead organisation."
    ]


def test_stale_version_answers_409_and_keeps_what_was_typed(client, consortium, draft):
    page = client.get(step_url(draft, "basics"))
    found = re.search(r'name="version" value="(\d+)"', page.content.decode())
    assert found is not None
    version = found.group(1)
    # Someone else saves first.
    svc.proposal_update(
        proposal=draft,
        actor=consortium.pi_jp,
        expected_version=int(version),
        changes={"basics": {"title_en": "Their title"}},
    )
    typed = fd.basics(title_en="My careful title", abstract_en="Three paragraphs of work")
    response = client.post(step_url(draft, "basics"), {"version": version, **typed, "save": "1"})

    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone saved this proposal after you opened it" in html
    assert 'value="My careful title"' in html
    assert "Three paragraphs of work" in html
    assert f'name="version" value="{version}"' in html  # a second click is refused too
    draft.refresh_from_db()
    assert draft.title_en == "Their title"


def test_missing_version_is_refused_without_saving(client, draft):
    response = client.post(step_url(draft, "basics"), {**fd.basics(), "save": "1"})
    assert response.status_code == 400
    draft.refresh_from_db()
    assert draft.title_en == ""


def test_text_file_named_pdf_is_refused_on_the_file_field(client, draft):
    fake = SimpleUploadedFile("plan.pdf", b"just some text\n" * 20, content_type="application/pdf")
    response = client.post(step_url(draft, "attachments"), {"kind": "research_plan", "file": fake})
    assert response.status_code == 415
    assert fd.field_errors(response.content.decode(), "file") == [
        "This file is not a PDF document."
    ]
    assert not draft.attachments.exists()


def test_too_large_upload_is_refused_on_the_file_field(client, draft, settings):
    settings.MAX_ATTACHMENT_BYTES = 100
    pdf = SimpleUploadedFile("plan.pdf", MINIMAL_PDF, content_type="application/pdf")
    response = client.post(step_url(draft, "attachments"), {"kind": "cv", "file": pdf})
    assert response.status_code == 413
    assert fd.field_errors(response.content.decode(), "file") == ["The file is larger than 20 MB."]


def test_attachments_list_sizes_and_can_be_deleted(client, draft):
    pdf = SimpleUploadedFile("plan.pdf", MINIMAL_PDF, content_type="application/pdf")
    assert (
        client.post(step_url(draft, "attachments"), {"kind": "cv", "file": pdf}).status_code == 302
    )
    attachment = draft.attachments.get()
    html = client.get(step_url(draft, "attachments")).content.decode()
    assert "plan.pdf" in html and f"{len(MINIMAL_PDF)}" in html
    assert attachment.kind == Attachment.Kind.CV

    url = reverse("proposals:attachment_delete", args=[draft.pk, attachment.pk])
    assert client.post(url).status_code == 302
    assert not draft.attachments.exists()


def test_attachment_download_only_for_those_who_see_the_proposal(client, consortium):
    proposal, c = complete_proposal(consortium)
    attachment = proposal.attachments.get()
    url = reverse("proposals:attachment", args=[proposal.pk, attachment.pk])

    client.force_login(c.pi_kr)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == MINIMAL_PDF

    client.force_login(c.office_kr)  # draft: the research office does not see it yet
    assert client.get(url).status_code == 404
    other = make_consortium()
    client.force_login(other.pi_jp)
    assert client.get(url).status_code == 404


def test_submit_of_an_incomplete_proposal_lists_each_failed_rule(client, draft):
    response = client.post(reverse("proposals:submit", args=[draft.pk]))
    assert response.status_code == 422
    html = response.content.decode()
    assert "The proposal cannot be submitted yet" in html
    checklist = html.split('id="eligibility-checklist"', 1)[1].split("</ul>", 1)[0]
    for rule in (
        "Give a title in at least one language.",
        "Name a Korean lead organisation.",
        "Attach the research plan as a PDF.",
    ):
        assert rule in checklist
    assert step_url(draft, "attachments") in checklist
    assert step_url(draft, "consortium") in checklist
    # The button that would fail again is not offered; the page says why.
    assert re.search(r'id="submit-proposal" disabled', html)
    assert 'id="submit-blocked"' in html
    draft.refresh_from_db()
    assert draft.state == ProposalState.DRAFT


def test_complete_proposal_submits_from_the_review_page(client, consortium):
    proposal, c = complete_proposal(consortium)
    client.force_login(c.pi_jp)
    review = client.get(step_url(proposal, "review"))
    assert "Every rule is met" in review.content.decode()
    response = client.post(reverse("proposals:submit", args=[proposal.pk]))
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED
    detail = client.get(response["Location"]).content.decode()
    assert 'data-state="submitted"' in detail
    assert "Version 2" in detail or "Version" in detail


def test_unknown_step_is_404(client, draft):
    assert client.get(step_url(draft, "nonsense")).status_code == 404


# --------------------------------------------------------------------------- rules on their step


def step_status(html: str, step: str) -> str:
    found = re.search(rf'data-step="{step}" data-status="(\w+)"', html)
    assert found is not None, step
    return found.group(1)


def test_shrinking_tranches_are_saved_and_explained_beside_the_tranche_on_the_stage_step(
    client, consortium, draft
):
    shrinking = {**fd.stages(), "stages-1-planned_jpy": "30,000,000"}

    response = post_step(client, draft, "stages", shrinking, go_on=True)

    # Saved (a wizard keeps incomplete work), but the step stays open with its problem.
    assert response.status_code == 302
    assert response["Location"] == step_url(draft, "stages") + "?check=1"
    assert [s.planned_jpy for s in draft.stages.all()] == [40_000_000, 30_000_000]
    html = client.get(response["Location"]).content.decode()
    # The message of the final validation (the same rule), beside the offending field.
    [rule] = rules.non_decreasing_problems(
        [
            rules.StageFacts(s.number, s.months, s.planned_jpy, s.planned_krw, 1)
            for s in draft.stages.all()
        ]
    )
    assert rule.field == "stages.1.planned_jpy"
    assert fd.field_errors(html, "stages-1-planned_jpy") == [rule.message]
    assert fd.field_errors(html, "stages-0-planned_jpy") == []
    assert fd.field_errors(html, "stages-1-planned_krw") == []
    assert 'id="step-problems"' in html
    assert step_url(draft, "budget") in html.split('id="step-problems"', 1)[1]
    assert step_status(html, "stages") == "attention"
    review = client.get(step_url(draft, "review")).content.decode()
    assert rule.message in review


def test_a_fixed_stage_plan_goes_on_to_the_budget_step(client, consortium, draft):
    post_step(client, draft, "stages", {**fd.stages(), "stages-1-planned_jpy": "30,000,000"})
    response = post_step(client, draft, "stages", fd.stages())
    assert response["Location"] == step_url(draft, "budget")
    html = client.get(step_url(draft, "stages")).content.decode()
    assert step_status(html, "stages") == "ok"
    assert 'id="step-problems' not in html


def test_a_first_visit_shows_no_problems_but_offers_to_show_them(client, draft):
    html = client.get(step_url(draft, "stages")).content.decode()
    assert fd.block_errors(html, "stages_errors") == []
    assert 'id="step-problems-hint"' in html
    assert step_url(draft, "stages") + "?check=1" in html
    shown = client.get(step_url(draft, "stages") + "?check=1").content.decode()
    assert "This call needs at least 2 stages." in fd.block_errors(shown, "stages_errors")


def test_an_empty_budget_is_a_problem_shown_on_the_budget_step_not_a_tick(client, draft):
    html = client.get(step_url(draft, "basics")).content.decode()
    assert step_status(html, "budget") == "attention"

    response = post_step(client, draft, "budget", fd.rows("budget", []), go_on=True)

    assert response["Location"] == step_url(draft, "budget") + "?check=1"
    shown = client.get(response["Location"]).content.decode()
    assert fd.block_errors(shown, "budget_errors") == [
        "The budget is empty: add each funded organisation's lines by category."
    ]


def test_budget_totals_that_miss_the_tranches_are_shown_on_the_budget_step(
    client, consortium, draft
):
    post_step(client, draft, "consortium", fd.consortium(consortium))
    post_step(client, draft, "stages", fd.stages())
    response = post_step(client, draft, "budget", fd.budget(consortium, jp_amount="90,000,000"))

    assert response["Location"] == step_url(draft, "budget") + "?check=1"
    assert draft.budget_lines.count() == 2
    shown = client.get(response["Location"]).content.decode()
    assert fd.block_errors(shown, "budget_errors") == [
        "The JP budget (¥90,000,000) must equal the JP tranches (¥100,000,000)."
    ]
    assert step_status(shown, "budget") == "attention"
    # Fixed: the step is done and the wizard goes on.
    response = post_step(client, draft, "budget", fd.budget(consortium))
    assert response["Location"] == step_url(draft, "ip")
    assert step_status(client.get(response["Location"]).content.decode(), "budget") == "ok"


def test_the_review_checklist_links_to_the_step_showing_its_problems(client, draft):
    html = client.get(step_url(draft, "review")).content.decode()
    checklist = html.split('id="eligibility-checklist"', 1)[1].split("</ul>", 1)[0]
    assert step_url(draft, "budget") + "?check=1" in checklist


# --------------------------------------------------------------------------- KPI names


def test_a_kpi_named_only_in_japanese_is_saved_from_the_wizard(client, consortium, draft):
    named = [[kpi("K1A", name_en="", name_ko="")], [kpi("K2A", name_en="", name_ja="")]]
    response = post_step(client, draft, "stages", fd.stages(named))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(draft.kpis.values_list("name_en", "name_ja", "name_ko")) == [
        ("", "", "지표 K2A"),
        ("", "指標 K1A", ""),
    ]
    detail = client.get(reverse("proposals:detail", args=[draft.pk])).content.decode()
    assert "指標 K1A" in detail and "지표 K2A" in detail


def test_a_kpi_without_any_name_is_refused_beside_its_name(client, consortium, draft):
    unnamed = [[kpi("K1A", name_en="", name_ja="", name_ko="")], [kpi("K2A")]]
    response = post_step(client, draft, "stages", fd.stages(unnamed))
    assert response.status_code == 422
    html = response.content.decode()
    assert fd.field_errors(html, "stages-0-kpis-0-name_en") == [
        "Give the KPI a name in at least one language (English, Japanese or Korean)."
    ]
    assert not draft.kpis.exists()


# --------------------------------------------------------------------------- evidence (§22)

MANDATORY_WITHOUT_EVIDENCE = {
    "en": (
        "A mandatory KPI needs evidence behind each measurement: choose an evidence file or "
        "an independent verifier's attestation, or make the KPI optional."
    ),
    "ja": (
        "必須の成果指標 (KPI) には、各測定値を裏付ける根拠が必要です。根拠資料のファイルか"
        "独立した検証者による証明を選ぶか、成果指標 (KPI) を任意にしてください。"
    ),
    "ko": (
        "필수 성과지표 (KPI)는 각 측정값을 뒷받침하는 증빙이 필요합니다. 증빙 파일 또는 "
        "독립 검증인의 확인을 선택하거나, 성과지표 (KPI)를 선택 항목으로 바꾸십시오."
    ),
}


@pytest.mark.parametrize("language", ["en", "ja", "ko"])
def test_a_mandatory_kpi_without_evidence_is_refused_beside_its_evidence_level(
    client, consortium, draft, language
):
    rows = [[kpi("K1A", evidence="none")], [kpi("K2A"), kpi("K2B", mandatory=False)]]
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = post_step(client, draft, "stages", fd.stages(rows))
    assert response.status_code == 422
    html = response.content.decode()
    assert fd.field_errors(html, "stages-0-kpis-0-evidence") == [
        MANDATORY_WITHOUT_EVIDENCE[language]
    ]
    assert not draft.kpis.exists()


def test_evidence_levels_and_means_of_verification_are_saved_from_the_wizard(
    client, consortium, draft
):
    rows = [
        [
            kpi(
                "K1A",
                evidence="attested",
                means_of_verification_en="Test report of an accredited laboratory",
                means_of_verification_ko="공인 시험기관의 시험 성적서",
            )
        ],
        [kpi("K2A"), kpi("K2B", mandatory=False, evidence="none")],
    ]
    response = post_step(client, draft, "stages", fd.stages(rows))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(
        draft.kpis.values_list(
            "code", "evidence", "means_of_verification_en", "means_of_verification_ko"
        )
    ) == [
        (
            "K1A",
            "attested",
            "Test report of an accredited laboratory",
            "공인 시험기관의 시험 성적서",
        ),
        ("K2A", "document", "", ""),  # left blank: the least a mandatory KPI may have
        ("K2B", "none", "", ""),
    ]
    page = client.get(step_url(draft, "stages")).content.decode()
    assert 'name="stages-0-kpis-0-evidence"' in page
    assert "Test report of an accredited laboratory" in page
    detail = client.get(reverse("proposals:detail", args=[draft.pk])).content.decode()
    assert 'data-evidence="attested"' in detail
    assert "Attested by an independent verifier" in detail


def test_the_stage_step_plans_deliverables_and_shows_their_errors_on_the_row(
    client, consortium, draft
):
    from projects.models import ProposalDeliverable

    planned = fd.rows(
        "stages-0-deliverables",
        [
            {"title_en": "Test-chip report", "kind": "report", "due_month": "6"},
            {"title_ja": "データセット", "kind": "dataset", "optional": True},
        ],
    )
    response = post_step(client, draft, "stages", {**fd.stages(), **planned})
    assert response["Location"] == step_url(draft, "budget")
    saved = list(
        ProposalDeliverable.objects.filter(proposal=draft).values_list(
            "stage__number", "title_en", "title_ja", "kind", "due_month", "mandatory"
        )
    )
    assert saved == [
        (1, "Test-chip report", "", "report", 6, True),
        # Left out, the due month is the stage's last.
        (1, "", "データセット", "dataset", 12, False),
    ]
    html = client.get(step_url(draft, "stages")).content.decode()
    assert 'value="Test-chip report"' in html

    late = fd.rows(
        "stages-1-deliverables", [{"title_en": "Board", "kind": "prototype", "due_month": "13"}]
    )
    html = post_step(client, draft, "stages", {**fd.stages(), **late}).content.decode()
    assert fd.field_errors(html, "stages-1-deliverables-0-due_month")
