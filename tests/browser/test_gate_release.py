"""Two fund officers release the next tranche on the gate review page: the Japanese officer
approves first, the Korean officer completes it, and the project page shows the stage 2
tranches released (§2, §8, §15)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import NoReverseMatch, clear_url_caches, reverse

from fundapp.celery import app as celery_app
from projects.models import DecisionState, GateDecision, TrancheState
from tests.browser.session import log_in
from tests.factories.pages import build_world

# One Chromium for a parallel run: every journey goes to the same xdist worker.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _routes_and_eager_release(settings) -> Iterator[None]:
    """The pages' routes (until the lead wires them), and the release task run in-process:
    the decision enqueues it after commit and the live server's thread runs it."""
    try:
        reverse("projects:gate", args=[1])
    except NoReverseMatch:
        settings.ROOT_URLCONF = "tests.projects.views.urls_pages"
        clear_url_caches()
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before
    clear_url_caches()


def test_two_officers_release_the_next_tranche(browser, live_server):
    world = build_world()  # stage 1's gate evaluated: PASS, officers decide
    gate_path = reverse("projects:gate", args=[world.gate(1).pk])
    project_path = reverse("projects:project", args=[world.project.pk])
    base = live_server.url

    # ------------------------------------------------------------ the Japanese officer
    jp_context = browser.new_context()
    page = jp_context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, base, world.officer_jp.username, gate_path)
    assert page.get_attribute("#latest-evaluation [data-outcome]", "data-outcome") == "pass"
    assert page.locator("svg[data-chart=kpi] [data-role=target]").count() == 2
    page.check('#decision-form input[name="kind"][value="release"]')
    page.click("#decision-form button[type=submit]")
    page.wait_for_selector("[data-pending]")
    pending = page.locator("[data-pending]")
    assert pending.get_attribute("data-needed-side") == "KR"
    assert "Korean side" in pending.inner_text()
    assert page.locator("#decision-form").count() == 0  # one person never approves twice
    decision = GateDecision.objects.get(gate=world.gate(1))
    assert (decision.state, decision.first_side) == (DecisionState.PENDING, "JP")
    jp_context.close()

    # ------------------------------------------------------------ the Korean officer
    kr_context = browser.new_context()
    page = kr_context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, base, world.officer_kr.username, gate_path)
    page.click('form.language-switcher button[value="ko"]')
    page.wait_for_selector('html[lang="ko"]')
    # Only the pending kind is offered, already chosen.
    assert page.locator('#decision-form input[name="kind"]').count() == 1
    assert page.is_checked('#decision-form input[name="kind"][value="release"]')
    page.click("#decision-form button[type=submit]")
    page.wait_for_selector('[data-decision-complete="release"]')

    decision.refresh_from_db()
    assert decision.state == DecisionState.COMPLETED and decision.second_side == "KR"
    t2 = world.tranche(2, "JP")
    assert t2.state == TrancheState.RELEASED

    page.goto(base + project_path)
    row = page.locator(f'[data-tranche="{t2.pk}"]')
    assert row.get_attribute("data-tranche-state") == "released"
    assert "¥63,999,000" in row.inner_text()  # 60,000,000 × 1.06665, the bonus from the reserve
    kr_row = page.locator('[data-stage="2"] [data-side="KR"]')
    assert kr_row.get_attribute("data-tranche-state") == "released"
    assert page.locator('[data-stage="2"]').get_attribute("data-stage-state") == "active"
    kr_context.close()
