"""The talent exchange in the browser (§25, §15): a Korean researcher applies, in Korean,
through the wizard to visit a Japanese host (one field error shown in Korean and
corrected); the host's research office endorses in Japanese; after the review a Japanese
and a Korean fund officer award the visit on the award page under the two-person rule;
the host office confirms the arrival; the daily stipend job pays the first month; the
visitor's "My visits" shows it, in yen.

Every page is read in the language its reader chose, with no English word of the UI
(the sweep's own reading of visible text and its allow-list); screenshots are left in
``var/mobility-journey/`` for review.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from fundapp.accounts.models import Organisation, User
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.models import ResearchArea
from fundapp.ledger.models import Transaction
from mobility.models import (
    ApplicationState,
    PaymentKind,
    VisitApplication,
    VisitAwardDecision,
    VisitPayment,
    VisitState,
)
from mobility.services.reviews import (
    application_assignment_declare,
    application_review_submit,
    application_reviewer_assign,
)
from mobility.tasks import release_stipends
from projects.models import DecisionState, ReviewCriterion
from tests.browser.session import log_in
from tests.browser.test_sweep import ALLOW_LIST, VISIBLE_TEXT, AllowList, english_words
from tests.factories.mobility import exchange, fund_exchange_pools
from tests.factories.review import reviewer

# One Chromium for a parallel run: every journey goes to the same xdist worker.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "mobility-journey"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
KANA = re.compile(r"[\u3040-\u30ff]")


def switch_language(page, language: str) -> None:
    page.click(f'form.language-switcher button[value="{language}"]')
    page.wait_for_selector(f'html[lang="{language}"]')


def read_in(page, language: str, shot: str) -> str:
    """The page's main text, after checking it is in ``language`` with no English word of
    the UI; a screenshot of the whole page is kept."""
    assert page.get_attribute("html", "lang") == language
    allowed = AllowList.read(ALLOW_LIST)
    texts = page.evaluate(VISIBLE_TEXT, ", ".join(allowed.selectors))
    assert english_words(texts, allowed) == set(), (shot, english_words(texts, allowed))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
    return page.inner_text("main")


def new_page(browser, locale: str):
    """A browser of its own (the reader's locale, for the date fields) and its page."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def test_a_korean_researcher_visits_a_japanese_host_from_application_to_first_stipend(
    browser, live_server
):
    x = exchange(home_country="KR", host_country="JP")
    Organisation.objects.filter(pk=x.home.pk).update(
        name_en="Daejeon Quantum Institute", name_ja="大田量子研究院", name_ko="대전양자연구원"
    )
    Organisation.objects.filter(pk=x.host.pk).update(
        name_en="Tokyo Cryogenics Laboratory",
        name_ja="東京極低温研究所",
        name_ko="도쿄극저온연구소",
    )
    ResearchArea.objects.filter(pk=x.area.pk).update(
        name_en="Quantum devices", name_ja="量子デバイス", name_ko="양자 소자"
    )
    for person, name in (
        (x.visitor, "김민준"),
        (x.host_office, "佐藤 健一"),
        (x.officers.jp, "鈴木 一郎"),
        (x.officers.kr, "박지훈"),
    ):
        User.objects.filter(pk=person.pk).update(display_name=name)
    fund_exchange_pools(x)
    terms = x.call.mobility_terms
    base = live_server.url
    today = today_in_tokyo()

    # ------------------------------------------------------------ the Korean researcher
    visitor_context, page = new_page(browser, "ko-KR")
    call_path = reverse("calls_public_detail", args=[x.call.pk])
    log_in(page, base, x.visitor.username, call_path)
    switch_language(page, "ko")
    call_page = read_in(page, "ko", "01-call-ko")
    assert (
        "방문 신청 접수 중" in call_page and "¥300,000" in call_page and "₩3,000,000" in call_page
    )
    page.click(f'a[href="{reverse("mobility:apply", args=[x.call.pk])}"]')
    page.wait_for_selector('form[data-step="organisations"]')
    assert "방문 신청" in read_in(page, "ko", "02-wizard-organisations-ko")
    page.select_option("#id_home_organisation", str(x.home.pk))
    page.select_option("#id_host_organisation", str(x.host.pk))
    page.click("form[data-step] button[type=submit]")
    page.wait_for_url("**/steps/plan/")
    application = VisitApplication.objects.get(visitor=x.visitor)

    # Thirteen months: the field says why, in Korean, and keeps what was typed.
    page.fill("#id_planned_start", (today + timedelta(days=30)).isoformat())
    page.fill("#id_months", "13")
    page.select_option("#id_research_area", str(x.area.pk))
    page.fill("#id_effort_percent", "50")
    page.fill("#id_title_ko", "스핀 큐비트 극저온 측정")
    page.fill("#id_plan_ko", "도쿄 연구실의 극저온 프로브로 스핀 큐비트를 공동 측정한다.")
    page.click("form[data-step] button[type=submit]")
    page.wait_for_selector("#id_months_errors")
    error = page.inner_text("#id_months_errors")
    assert HANGUL.search(error) and "12" in error, error
    read_in(page, "ko", "03-wizard-plan-error-ko")
    assert page.input_value("#id_title_ko") == "스핀 큐비트 극저온 측정"
    assert VisitApplication.objects.get(pk=application.pk).months is None
    page.fill("#id_months", "6")
    page.click("form[data-step] button[type=submit]")
    page.wait_for_url("**/steps/supervisor/")

    page.fill("#id_host_supervisor_name", "佐藤 健")
    page.fill("#id_host_supervisor_email", "sato@tokyo-cryo.example")
    read_in(page, "ko", "04-wizard-supervisor-ko")
    page.click("form[data-step] button[type=submit]")
    page.wait_for_url(f"**{reverse('mobility:application', args=[application.pk])}")
    assert page.locator("[data-problems]").count() == 0, page.inner_text("main")
    review_text = read_in(page, "ko", "05-wizard-review-ko")
    assert "도쿄극저온연구소" in review_text and "대전양자연구원" in review_text
    page.click(f'form[action="{reverse("mobility:submit", args=[application.pk])}"] button')
    page.wait_for_url(f"**{reverse('mobility:mine')}")
    mine = read_in(page, "ko", "06-my-applications-ko")
    assert "스핀 큐비트 극저온 측정" in mine
    application.refresh_from_db()
    assert application.state == ApplicationState.SUBMITTED
    assert (application.months, application.effort_percent) == (6, 50)

    # ------------------------------------------------------------ the Japanese host office
    office_context, office = new_page(browser, "ja-JP")
    log_in(office, base, x.host_office.username, reverse("visit_applications:endorsements"))
    switch_language(office, "ja")
    endorsements = read_in(office, "ja", "07-endorsements-ja")
    assert KANA.search(endorsements) and "スピン" not in endorsements  # the Korean title
    office.click(f'[data-application="{application.pk}"] [data-endorse-form] button')
    office.wait_for_selector(".alert--success, [role=status]")
    assert application.pk not in [
        int(a)
        for a in office.locator("[data-application]").evaluate_all(
            "els => els.map(e => e.dataset.application)"
        )
    ]
    read_in(office, "ja", "08-endorsed-ja")
    application.refresh_from_db()
    assert application.state == ApplicationState.ENDORSED
    assert application.endorsed_by_user_id == x.host_office.pk

    # ------------------------------------------------------------ the officers
    award_path = reverse("mobility_decisions:award", args=[application.pk])
    jp_context, jp = new_page(browser, "ja-JP")
    log_in(jp, base, x.officers.jp.username, award_path)
    switch_language(jp, "ja")
    read_in(jp, "ja", "09-award-endorsed-ja")
    jp.click(
        f'form[action="{reverse("mobility_decisions:start_review", args=[application.pk])}"] button'
    )
    jp.wait_for_selector("[data-award-form]")
    application.refresh_from_db()
    assert application.state == ApplicationState.UNDER_REVIEW

    # The reviewers' pages are not part of this journey: the review is given by the services.
    scorer = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=scorer, actor=x.officers.jp
    )
    assignment = application_assignment_declare(assignment=assignment, actor=scorer, conflict=False)
    criteria = ReviewCriterion.objects.filter(call=x.call).order_by("pk")
    application_review_submit(
        assignment=assignment,
        actor=scorer,
        scores={c.pk: 4 for c in criteria},
        comment="명확한 계획과 적절한 수용 기관.",
        recommendation="fund",
    )

    jp.reload()
    jp.check('[data-award-form] input[name="outcome"][value="award"]')
    jp.fill("[data-award-form] #id_reason", "評価は良好で、受入研究室の設備が計画に合っている。")
    jp.click("[data-award-form] button[type=submit]")
    jp.wait_for_selector('[data-two-person][data-state="pending"]')
    assert jp.get_attribute("[data-two-person]", "data-needed-side") == "KR"
    pending = read_in(jp, "ja", "10-award-pending-ja")
    assert "韓国" in pending, pending
    assert "受入機関" in pending and "東京極低温研究所" in pending
    assert jp.locator("[data-award-form]").count() == 0  # one person never approves twice
    jp_context.close()

    kr_context, kr = new_page(browser, "ko-KR")
    log_in(kr, base, x.officers.kr.username, award_path)
    switch_language(kr, "ko")
    read_in(kr, "ko", "11-award-second-ko")
    # The pending outcome is already chosen.
    assert kr.is_checked('[data-award-form] input[name="outcome"][value="award"]')
    kr.fill("[data-award-form] #id_reason", "동의합니다. 방문을 지원합니다.")
    kr.click("[data-award-form] button[type=submit]")
    kr.wait_for_selector('[data-two-person][data-state="completed"]')
    read_in(kr, "ko", "12-awarded-ko")
    kr_context.close()

    decision = VisitAwardDecision.objects.get(application=application)
    assert (decision.state, decision.first_side, decision.second_side) == (
        DecisionState.COMPLETED,
        "JP",
        "KR",
    )
    application.refresh_from_db()
    visit = application.visit
    assert (application.state, visit.state) == (ApplicationState.AWARDED, VisitState.AWARDED)
    assert (visit.paying_side, visit.currency, visit.payee_id) == ("JP", "JPY", x.host.pk)
    assert Transaction.objects.filter(reference=f"visit:{visit.pk}:commitment").exists()

    # ------------------------------------------------------------ the arrival, in Japanese
    arrived_on = today - timedelta(days=3)
    office.goto(base + reverse("visits:hosted"))
    hosted = read_in(office, "ja", "13-hosted-ja")
    assert "スピン" not in hosted and "스핀 큐비트 극저온 측정" in hosted
    card = office.locator(f'[data-visit="{visit.pk}"]')
    card.locator("[data-arrival-form] input[name=arrived_on]").fill(arrived_on.isoformat())
    card.locator("[data-arrival-form] button[type=submit]").click()
    office.wait_for_url(f"**{reverse('visits:detail', args=[visit.pk])}")
    office.wait_for_selector(f'[data-visit="{visit.pk}"][data-visit-state="active"]')
    read_in(office, "ja", "14-arrived-ja")
    office_context.close()
    visit.refresh_from_db()
    assert (visit.state, visit.arrived_on) == (VisitState.ACTIVE, arrived_on)

    # ------------------------------------------------------------ the daily stipend job
    # Today is inside the visit's first month, which began on the arrival day.
    result = release_stipends.apply().get()
    assert [visit.pk, 1] in result["released"]
    assert release_stipends.apply().get() == {"released": []}  # once per visit-month
    [stipend] = VisitPayment.objects.filter(visit=visit, kind=PaymentKind.STIPEND)
    assert (stipend.month, stipend.amount) == (1, terms.stipend_month_jpy)

    # ------------------------------------------------------------ "My visits", in Korean
    page.goto(base + reverse("visits:mine"))
    mine = read_in(page, "ko", "15-my-visits-ko")
    assert "내 방문" in mine, mine
    row = page.locator(f'[data-visit="{visit.pk}"] [data-stipends] tr[data-month="1"]')
    assert "¥300,000" in row.inner_text()
    assert page.get_attribute(f'[data-visit="{visit.pk}"]', "data-visit-state") == "active"
    visitor_context.close()
