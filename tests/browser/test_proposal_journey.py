"""A Japanese PI writes and submits a joint proposal in the browser; both lead
organisations endorse it (the JP office in the browser, the KR office's system through
the API); the proposal becomes eligible (§5, §14, §15)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from fundapp.accounts.models import ApiKey, Scope, hash_secret
from projects.models import Endorsement, Proposal, ProposalState
from tests.browser.session import log_in
from tests.factories import CallFactory, ResearchAreaFactory, jp_org, kr_org, member_of
from tests.factories.proposals import MINIMAL_PDF

# One Chromium for a parallel run: every journey goes to the same xdist worker.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]


def switch_to_japanese(page) -> None:
    page.click('form.language-switcher button[value="ja"]')
    page.wait_for_selector('html[lang="ja"]')


def save_and_continue(page, next_step: str) -> None:
    page.click('button[name="continue"]')
    page.wait_for_url(f"**/edit/{next_step}/")
    assert page.locator("#form-errors").count() == 0, page.inner_text("main")


def test_proposal_from_draft_to_eligible(browser, live_server, tmp_path):
    CallFactory.create(research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")])
    jp = jp_org(name_en="Tokyo Institute of Semiconductors", name_ja="東京半導体研究所")
    kr = kr_org(name_en="Seoul AI Chip Lab", name_ko="서울 AI 칩 연구소")
    pi_jp = member_of(jp, username="sato")
    pi_kr = member_of(kr, username="kim")
    office_jp = member_of(jp, research_office=True, username="jp-office")
    key_id, secret, full_key = ApiKey.generate()
    ApiKey.objects.create(
        organisation=kr,
        name="KR research office system",
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scopes=[Scope.PROPOSALS_WRITE, Scope.PROPOSALS_READ],
    )
    pdf = tmp_path / "research-plan.pdf"
    pdf.write_bytes(MINIMAL_PDF)
    base = live_server.url

    # ------------------------------------------------------------ the Japanese PI
    pi_context = browser.new_context()
    page = pi_context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda dialog: dialog.accept())  # "Submit the proposal?" confirmation
    log_in(page, base, "sato", reverse("proposals:list"))
    switch_to_japanese(page)

    page.goto(base + reverse("proposals:new"))
    page.click("main table form button[type=submit]")
    page.wait_for_url("**/edit/basics/")
    proposal = Proposal.objects.get(created_by=pi_jp)

    page.fill("#id_title_en", "Edge AI accelerators")
    page.fill("#id_title_ja", "エッジAIアクセラレータ")
    page.fill("#id_title_ko", "엣지 AI 가속기")
    page.fill("#id_abstract_ja", "低消費電力の推論チップを日韓で共同開発する。")
    page.select_option("#id_research_area", "semiconductor.ai")
    page.fill("#id_keywords", "エッジ, AI")
    page.select_option("#id_trl_now", "3")
    page.select_option("#id_trl_target", "6")
    save_and_continue(page, "consortium")

    # The Korean lead first; once saved, its people can be chosen.
    page.select_option("#id_members-1-organisation", kr.code)
    page.select_option("#id_members-1-role", "lead_kr")
    page.click('button[name="save"]')
    page.wait_for_selector("#id_people-1-user")
    page.fill("#id_people-0-effort_percent", "30")
    page.select_option("#id_people-1-user", "kim")
    page.select_option("#id_people-1-organisation", kr.code)
    page.select_option("#id_people-1-role", "pi")
    page.fill("#id_people-1-effort_percent", "30")
    save_and_continue(page, "stages")

    for i, (jpy, krw) in enumerate([("40,000,000", "400,000,000"), ("60,000,000", "600,000,000")]):
        page.fill(f"#id_stages-{i}-title", f"ステージ {i + 1}")
        page.fill(f"#id_stages-{i}-months", "12")
        page.fill(f"#id_stages-{i}-planned_jpy", jpy)
        page.fill(f"#id_stages-{i}-planned_krw", krw)
        page.fill(f"#id_stages-{i}-kpis-0-code", f"K{i + 1}A")
        page.fill(f"#id_stages-{i}-kpis-0-name_en", "Energy efficiency")
        page.fill(f"#id_stages-{i}-kpis-0-unit", "TOPS/W")
        page.fill(f"#id_stages-{i}-kpis-0-baseline", "10")
        page.fill(f"#id_stages-{i}-kpis-0-target", str(20 + i * 10))
    # A second KPI in stage 2, added with the "add KPI" button (wizard.js).
    page.click('[data-prefix="stages-1-kpis"] > button[data-formset-add]')
    page.fill("#id_stages-1-kpis-1-code", "K2B")
    page.fill("#id_stages-1-kpis-1-name_en", "Latency")
    page.select_option("#id_stages-1-kpis-1-direction", "lower_is_better")
    page.fill("#id_stages-1-kpis-1-baseline", "5")
    page.fill("#id_stages-1-kpis-1-target", "2.5")
    save_and_continue(page, "budget")

    page.select_option("#id_budget-0-organisation", jp.code)
    page.select_option("#id_budget-0-category", "personnel")
    page.fill("#id_budget-0-amount", "100,000,000")
    page.click('[data-prefix="budget"] > button[data-formset-add]')
    page.select_option("#id_budget-1-organisation", kr.code)
    assert (
        page.inner_text(
            "#id_budget-1-organisation >> xpath=ancestor::tr >> [data-currency-display]"
        )
        == "KRW"
    )
    page.select_option("#id_budget-1-category", "personnel")
    page.fill("#id_budget-1-amount", "1,000,000,000")
    save_and_continue(page, "ip")

    page.fill("#id_background_ip-0-title", "Sparse MAC array")
    page.select_option("#id_background_ip-0-owner", jp.code)
    page.fill("#id_licence_terms", "研究目的の非独占ライセンス。")
    save_and_continue(page, "security")

    page.fill("#id_security_notes", "輸出管理該当なし。")
    save_and_continue(page, "attachments")

    page.select_option("#id_kind", "research_plan")
    page.set_input_files("#id_file", str(pdf))
    page.click('button[name="upload"]')
    page.wait_for_selector("#attachment-table")
    assert "research-plan.pdf" in page.inner_text("#attachment-table")
    page.click('button[name="continue"]')
    page.wait_for_url("**/edit/review/")
    assert "alert--success" in (page.get_attribute("#eligibility-checklist", "class") or ""), (
        page.inner_text("#eligibility-checklist")
    )
    page.click("#submit-proposal")
    page.wait_for_url(f"**{reverse('proposals:detail', args=[proposal.pk])}")
    assert page.get_attribute("#proposal-state", "data-state") == ProposalState.SUBMITTED

    # ------------------------------------------------------------ the JP research office
    office_context = browser.new_context()
    office = office_context.new_page()
    office.set_default_timeout(10_000)
    detail_path = reverse("proposals:detail", args=[proposal.pk])
    log_in(office, base, office_jp.username, detail_path)
    switch_to_japanese(office)
    office.click(f'tr[data-organisation="{jp.code}"] button[data-action="endorse"]')
    office.wait_for_selector(f'tr[data-organisation="{jp.code}"] [data-endorsed="true"]')
    office_context.close()

    # ------------------------------------------------------------ the KR office's system
    api = page.context.browser.new_context()  # no session cookies: the key alone
    response = api.request.post(
        f"{base}/api/v1/proposals/{proposal.pk}/endorse/",
        headers={"Authorization": f"Bearer {full_key}", "Content-Type": "application/json"},
        data=json.dumps({}),
    )
    assert response.status in (200, 201), response.text()
    api.close()
    assert Endorsement.objects.get(proposal=proposal, organisation=kr).endorsed_by_api_key_id

    # ------------------------------------------------------------ eligible, in Japanese
    page.goto(base + detail_path)
    assert page.get_attribute("html", "lang") == "ja"
    assert page.get_attribute("#proposal-state", "data-state") == ProposalState.ELIGIBLE
    assert page.locator('[data-endorsed="true"]').count() == 2
    page.screenshot(path=str(tmp_path / "proposal-eligible.png"), full_page=True)
    pi_context.close()
    assert Proposal.objects.get(pk=proposal.pk).state == ProposalState.ELIGIBLE
    assert pi_kr.proposal_roles.filter(proposal=proposal, role="pi").exists()
