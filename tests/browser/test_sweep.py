"""The browser sweep (§15, §17): every demo role, every kind of page it can reach, in
Japanese and Korean.

Pages are found by following same-origin links (GET only, never a form or a button) from
each person's dashboard and navigation, one page per kind of URL (ids and query values
folded). Each page must load with no console error and no Content-Security-Policy
violation, carry the right ``lang``, show no English word of the UI, and fit the window
at 1366 and at 390 px without horizontal scrolling (a wide table may scroll inside its own
``.table-wrap``). A screenshot of each page at each width is saved under ``var/sweep/``
for review. Every failure is collected and reported together.

Words allowed are listed, each with its reason, in ``sweep_allowlist.txt``. Not read:
code (``<code>``, ``<kbd>``, ``<samp>``, ``translate="no"``), text people entered, which
stays in the language they wrote it (``data-user-text``, an element marked ``lang="en"``,
a ``<textarea>``'s content), and what is hidden.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from fundapp.actors import is_fund_officer
from fundapp.demo import DEMO_LOGINS
from fundapp.demo.seed import seed_all
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]

LANGUAGES = ("ja", "ko")
WIDTHS = (1366, 390)
# Pages a person may open, at most; the demo offers far fewer kinds of page than this.
MAX_PAGES_PER_PERSON = 60
DRAFTS = "/proposals/?state=draft"
EXPECTED_KINDS = {
    "/proposals/#/edit/stages/",
    "/portfolio/",
    "/gates/#/",
    "/screening/",
    "/finance/transactions/",
    "/reviews/",
    "/webhooks/new/",
    # The talent exchange (§25): the visitor's and the host office's pages, the flows, the
    # endorsements and the reviewer's queue with one of their assignments.
    "/visits/mine/",
    "/visits/hosted/",
    "/visits/flows/",
    "/visit-applications/mine/",
    "/visit-applications/endorsements/",
    "/visit-applications/reviews/",
    "/visit-applications/reviews/#/",
}
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "sweep"
ALLOW_LIST = Path(__file__).with_name("sweep_allowlist.txt")

# Never followed: they leave the pages people read (the admin, the API and its docs),
# sign out, switch language, or answer with a file rather than a page.
SKIPPED = re.compile(
    r"^/(admin|api|i18n|static|media)/|/logout/|download|export|/files?/|attachment|/evidence/|\.(csv|pdf|json|txt|zip)$",
    re.IGNORECASE,
)
ID_SEGMENT = re.compile(r"^(\d+|[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{16,}|[A-Z]{2,5}-[A-Z0-9-]+)$")

# Runs before any script of each page: records CSP violations (not subject to the policy).
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(
    (event.effectiveDirective || event.violatedDirective) + " blocked " + event.blockedURI
  );
});
"""

# Same-origin links of the page, as path and query.
LINKS = """
() => Array.from(document.querySelectorAll("a[href]"))
  .filter((a) => !a.hasAttribute("download") && a.origin === location.origin)
  .map((a) => a.pathname + a.search)
"""

# Visible text a person reads in the UI: not code, not data entered in English.
VISIBLE_TEXT = """
(pending) => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const text = node.nodeValue;
    if (!/[A-Za-z]{2}/.test(text)) continue;
    const el = node.parentElement;
    if (!el || el.closest('code, kbd, samp, script, style, noscript, template, textarea, [translate="no"], [data-user-text]')) continue;
    if (pending && el.closest(pending)) continue;
    const marked = el.closest("[lang]");
    if (marked && marked.lang.toLowerCase().startsWith("en")) continue;
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    out.push(text.trim());
  }
  return out;
}
"""

# Whether the page scrolls sideways, and the innermost elements sticking out of the window
# (outside any scrolling container of their own), to name in the failure.
OVERFLOW = """
() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const scrolls = (el) => ["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(el).overflowX);
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.getBoundingClientRect().right <= width + 1) continue;
    let contained = false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (scrolls(p)) { contained = true; break; }
    }
    if (!contained) out.push(el);
  }
  const innermost = out.filter((el) => !out.some((other) => other !== el && el.contains(other)));
  const name = (el) => el.tagName.toLowerCase() + (typeof el.className === "string" && el.className.trim()
    ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  return document.documentElement.scrollWidth + "px: " + innermost.slice(0, 3)
    .map((el) => name(el) + " “" + (el.textContent || "").trim().slice(0, 40) + "”").join("; ");
}
"""


@dataclass
class AllowList:
    words: set[str] = field(default_factory=set)
    patterns: list[re.Pattern[str]] = field(default_factory=list)
    # Elements whose text is not read ("css:" entries), each with its reason in the file.
    selectors: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> AllowList:
        allowed = cls()
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            # The reason follows " # " (a selector may hold "#" itself).
            entry, _, reason = line.partition(" # ")
            entry = entry.strip()
            assert reason.strip(), f"{path.name}: {entry!r} needs a comment saying why"
            if entry.startswith("re:"):
                allowed.patterns.append(re.compile(entry[3:]))
            elif entry.startswith("css:"):
                allowed.selectors.append(entry[4:])
            else:
                allowed.words.add(entry)
        return allowed

    def allows(self, token: str) -> bool:
        return token in self.words or any(p.fullmatch(token) for p in self.patterns)


# A token: letters, digits and the joiners of codes and names ("e-Rad", "JP-TKY-01", "R&D").
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9&_./:@+-]*[A-Za-z0-9]|[A-Za-z]")


def english_words(texts: list[str], allowed: AllowList) -> set[str]:
    found = set()
    for text in texts:
        for token in TOKEN.findall(text):
            if re.search(r"[A-Za-z]{2}", token) and not allowed.allows(token):
                found.add(token)
    return found


def url_kind(url: str) -> str:
    """The kind of page: the path with its ids folded; filters and pages of a list are the
    same kind of page."""
    return "/".join("#" if ID_SEGMENT.match(s) else s for s in urlsplit(url).path.split("/"))


def person_kind(user) -> str:
    """People who see the same kinds of page: an admin sees the fund officer's pages; a
    research office reaches the pages of its principal investigators and a few more."""
    return "fund officer" if is_fund_officer(user) else user.role


class Sweep:
    def __init__(self, base_url: str, allowed: AllowList) -> None:
        self.base = base_url
        self.allowed = allowed
        self.failures: list[str] = []
        # Kinds of page already seen, by language and kind of person: the Japanese and the
        # Korean officer see the same kinds of page.
        self.seen: dict[tuple[str, str], set[str]] = {}
        self.log: list[str] = []

    def language(self, browser, language: str) -> None:
        for username, _who in DEMO_LOGINS:
            self.person(browser, username, language)

    def person(self, browser, username: str, language: str) -> None:
        user = get_user_model().objects.get(username=username)
        client = Client()
        client.force_login(user)
        session = client.session
        session["preferred_language"] = language
        session.save()
        context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": session.session_key,
                    "url": self.base,
                },
                {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": self.base},
            ]
        )
        context.add_init_script(WATCH_VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(15_000)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: console.append(f"uncaught {error}"))
        try:
            seen = self.seen.setdefault((language, person_kind(user)), set())
            self._crawl(
                page, console, username, language, seen, researcher=user.role == "researcher"
            )
        finally:
            context.close()

    def _crawl(
        self,
        page,
        console: list[str],
        username: str,
        language: str,
        seen_kinds: set[str],
        *,
        researcher: bool,
    ) -> None:
        # Everyone's own dashboard; a researcher's drafts too, and the first draft's page
        # even where another researcher's proposal was seen: the wizard is reached from there.
        start = ["/dashboard/"] + ([DRAFTS] if researcher else [])
        queue: deque[str] = deque(start)
        again: set[str] = set(start)  # visited whatever kinds were seen
        done: set[str] = set()
        visited = 0
        while queue and visited < MAX_PAGES_PER_PERSON:
            url = queue.popleft()
            kind = url_kind(url)
            if url in done or SKIPPED.search(urlsplit(url).path):
                continue
            if kind in seen_kinds and url not in again:
                continue
            done.add(url)
            seen_kinds.add(kind)
            visited += 1
            where = f"[{language} {username}] {url}"
            console.clear()
            t_load = time.monotonic()
            response = page.goto(self.base + url)
            status = response.status if response is not None else 0
            if status != 200:
                self.failures.append(f"{where}: answered {status}")
                continue
            page.wait_for_load_state("load")
            t0 = time.monotonic()
            self._check(page, console, where, language, username, kind)
            links = page.evaluate(LINKS)
            if url == DRAFTS:
                drafts = [link for link in links if re.fullmatch(r"/proposals/\d+/", link)]
                again.update(drafts[:1])
                queue.extendleft(drafts[:1])
            queue.extend(links)
            self.log.append(
                f"{language} {username} {url} {t0 - t_load:.2f} {time.monotonic() - t0:.2f}"
            )

    def _check(self, page, console, where: str, language: str, username: str, kind: str) -> None:
        fail = self.failures.append
        lang = page.evaluate("document.documentElement.lang")
        if lang != language:
            fail(f"{where}: lang={lang!r}")
        texts = page.evaluate(VISIBLE_TEXT, ", ".join(self.allowed.selectors))
        words = english_words(texts, self.allowed)
        if words:
            fail(f"{where}: English words {sorted(words)}")
        slug = re.sub(r"[^A-Za-z0-9#]+", "_", kind).replace("#", "n").strip("_") or "home"
        folder = SCREENSHOTS / language / username
        folder.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            overflow = page.evaluate(OVERFLOW)
            if overflow:
                fail(f"{where}: wider than {width}px: {overflow}")
            page.screenshot(path=str(folder / f"{slug}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        violations = page.evaluate("window.__cspViolations")
        if violations:
            fail(f"{where}: CSP violations {violations}")
        if console:
            fail(f"{where}: console errors {console}")


def in_own_browser(sweep: Sweep, language: str, errors: list[BaseException]) -> None:
    """Sweep one language from another thread, with that thread's own Playwright and browser
    (Playwright's objects belong to the thread that made them)."""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                sweep.language(browser, language)
            finally:
                browser.close()
    except BaseException as error:  # reported by the test's thread
        errors.append(error)
    finally:
        connections.close_all()


def test_every_page_of_every_demo_role_in_japanese_and_korean(browser, live_server, settings):
    settings.DEBUG = False
    seed_all(with_logins=False)
    sweep = Sweep(live_server.url, AllowList.read(ALLOW_LIST))
    started = time.monotonic()
    # The two languages side by side: the browser draws one while the server renders the other.
    errors: list[BaseException] = []
    other = threading.Thread(target=in_own_browser, args=(sweep, LANGUAGES[1], errors))
    other.start()
    try:
        sweep.language(browser, LANGUAGES[0])
    finally:
        other.join()
    if errors:
        raise errors[0]
    elapsed = time.monotonic() - started
    # For review beside the screenshots: each page, its load and its checking time (s).
    (SCREENSHOTS / "pages.txt").write_text("\n".join(sweep.log) + "\n", encoding="utf-8")
    # The crawl really went through the product, in both languages: the wizard of a draft,
    # the portfolio, a gate, the screening queue, finance and the reviewer's queue.
    for language in LANGUAGES:
        kinds = {url_kind(line.split()[2]) for line in sweep.log if line.startswith(language)}
        assert kinds >= EXPECTED_KINDS, (language, sorted(EXPECTED_KINDS - kinds))
    assert len(sweep.log) > 150, len(sweep.log)
    assert not sweep.failures, (
        f"{len(sweep.failures)} problems on {len(sweep.log)} pages ({elapsed:.0f}s):\n"
        + "\n".join(sweep.failures)
    )
