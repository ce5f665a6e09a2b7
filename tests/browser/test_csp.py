"""The Content-Security-Policy in a real browser (§17): an inline script on a page served
with the app's policy does not run and is reported as a violation; the real pages load
with no violation and no console error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import clear_url_caches, include, path, reverse

from tests.browser.session import log_in
from tests.factories.pages import build_world
from tests.factories.proposals import complete_proposal

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]


# Runs before any script of the page (Playwright's init scripts are not subject to the
# page's policy) and records every violation the browser reports.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var violation = {
    directive: event.effectiveDirective || event.violatedDirective,
    blocked: event.blockedURI,
    page: document.location.pathname,
    source: event.sourceFile,
    line: event.lineNumber,
  };
  window.__cspViolations.push(violation);
  window.__reportViolation(violation);
});
"""

PROBE_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>untouched</title></head>
<body><p id="probe">inline script below</p>
<script>document.title = "ran"; window.__inlineRan = true;</script>
</body></html>"""


def inline_script_probe(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PROBE_HTML)


# This module is also the URL configuration of the tests: the app's routes and the probe.
urlpatterns = [
    path("csp-probe/", inline_script_probe, name="csp-probe"),
    path("", include("fundapp.urls")),
]


@pytest.fixture(autouse=True)
def _probe_route(settings) -> Iterator[None]:
    settings.ROOT_URLCONF = __name__
    clear_url_caches()
    yield
    clear_url_caches()


class Watched:
    """A page whose violations, console errors and uncaught exceptions are recorded."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context()
        self.reported: list[dict] = []  # every page's, across navigations
        self.context.expose_function(
            "__reportViolation", lambda violation: self.reported.append(violation)
        )
        self.context.add_init_script(WATCH_VIOLATIONS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.console: list[str] = []
        self.page.on(
            "console",
            lambda message: self.console.append(f"{message.type}: {message.text}"),
        )
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.on(
            "response",
            lambda r: self.console.append(f"http {r.status}: {r.url}") if r.status >= 400 else None,
        )

    def violations(self) -> list[dict]:
        return list(self.reported)

    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith(("error:", "pageerror:"))]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser) -> Iterator[Watched]:
    w = Watched(browser)
    yield w
    w.close()


def test_an_inline_script_is_blocked_and_reported(watched, live_server):
    response = watched.page.goto(f"{live_server.url}/csp-probe/")
    assert response is not None and response.ok
    assert "script-src 'self'" in (response.header_value("content-security-policy") or "")

    watched.page.wait_for_function("window.__cspViolations.length > 0")
    assert watched.page.title() == "untouched"
    assert watched.page.evaluate("window.__inlineRan === undefined")
    [violation] = watched.violations()
    assert violation["directive"].startswith("script-src")
    assert violation["blocked"] == "inline"
    assert any("Content Security Policy" in line for line in watched.errors())


def visit(watched: Watched, url: str) -> None:
    response = watched.page.goto(url)
    assert response is not None and response.status == 200, url
    assert response.header_value("content-security-policy"), url
    watched.page.wait_for_load_state("load")
    # Violations are reported asynchronously; give the browser a moment to dispatch them.
    watched.page.wait_for_timeout(300)


def test_the_real_pages_load_without_violations_or_console_errors(browser, live_server):
    world = build_world()
    proposal, c = complete_proposal()
    base = live_server.url

    visitor = Watched(browser)
    visit(visitor, f"{base}/")
    visit(visitor, f"{base}{reverse('accounts:login')}")
    not_found = visitor.page.goto(f"{base}/no-such-page/")
    assert not_found is not None and not_found.status == 404
    visitor.page.wait_for_timeout(300)
    visitor.console.remove(
        "error: Failed to load resource: the server responded with a status of 404 (Not Found)"
    )
    assert visitor.violations() == [] and visitor.errors() == [], visitor.console
    visitor.close()

    officer = Watched(browser)
    project_path = reverse("projects:project", args=[world.project.pk])
    log_in(officer.page, base, world.officer_jp.username, project_path)
    assert officer.page.locator("svg").count() > 0  # the project page draws its charts
    for name, args in (
        ("projects:gate", [world.gate(1).pk]),
        ("portfolio:dashboard", []),
        ("measurements:list", [world.project.pk]),
    ):
        visit(officer, f"{base}{reverse(name, args=args)}")
    assert officer.page.locator("svg").count() > 0  # the portfolio's charts
    assert officer.violations() == [] and officer.errors() == [], (
        officer.violations(),
        officer.console,
    )
    officer.close()

    researcher = Watched(browser)
    wizard_path = reverse("proposals:step", args=[proposal.pk, "budget"])
    log_in(researcher.page, base, c.pi_jp.username, wizard_path)
    researcher.page.wait_for_timeout(300)
    visit(researcher, f"{base}{reverse('proposals:detail', args=[proposal.pk])}")
    assert researcher.violations() == [] and researcher.errors() == [], (
        researcher.violations(),
        researcher.console,
    )
    researcher.close()


def test_the_api_docs_and_admin_load_without_violations(watched, live_server):
    base = live_server.url
    visit(watched, f"{base}/admin/login/")
    visit(watched, f"{base}/api/docs/")
    watched.page.wait_for_selector(".swagger-ui .info")
    visit(watched, f"{base}/api/redoc/")
    watched.page.wait_for_selector("redoc h1, #redoc-container h1, .api-content h1")
    watched.page.wait_for_timeout(300)
    # The one thing refused: ReDoc's footer logo on Redocly's CDN, another origin.
    assert watched.violations() == [
        {
            "directive": "img-src",
            "blocked": "https://cdn.redoc.ly/redoc/logo-mini.svg",
            "page": "/api/redoc/",
            "source": "",
            "line": 0,
        }
    ], watched.violations()
    assert [line for line in watched.errors() if "cdn.redoc.ly" not in line] == [], watched.console
