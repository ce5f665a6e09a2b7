"""A Korean licensee checks two uses of a licensed asset on the licence check page, in
Korean: one inside its licence (allowed) and one outside its field of use (denied with the
reason) (§10.4, §15)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.session import log_in
from tests.factories import member_of
from tests.factories.licensing import make_licence, make_world

# One Chromium for a parallel run: every journey goes to the same xdist worker.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]


def test_korean_licensee_checks_its_uses(browser, live_server):
    world = make_world()
    # The KR company holds a licence of the JP university's asset for semiconductor.ai.
    licence = make_licence(world, state="active", licensee=world.other)
    researcher = member_of(world.other)
    check_path = reverse("ip:check")

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, live_server.url, researcher.username, check_path)
    page.click('form.language-switcher button[value="ko"]')
    page.wait_for_selector('html[lang="ko"]')

    # Prefilled with the researcher's own organisation.
    assert page.input_value("#id_licensee") == world.other.code
    page.select_option("#id_asset", str(world.asset.pk))
    page.select_option("#id_field", "semiconductor.ai.edge")
    page.select_option("#id_purpose", "research")
    page.fill("#id_territory", "KR")
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-result")
    assert page.get_attribute("#check-result", "data-decision") == "allow"
    assert page.get_attribute("#check-result [data-licence]", "data-licence") == str(licence.pk)
    assert page.get_attribute("html", "lang") == "ko"

    page.select_option("#id_field", "quantum")
    page.click("#check-form button[type=submit]")
    page.wait_for_selector('#check-result[data-decision="deny"]')
    reason = page.locator('#check-result [data-reason="field_not_covered"] .reason-label')
    assert reason.count() == 1
    assert reason.inner_text().strip()
    assert page.get_attribute("html", "lang") == "ko"
    context.close()
