"""Headless Chromium journeys against pytest-django's live server (§15).

Debian's Chromium is driven through Playwright's sync API; nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
# test itself (setting up data) would otherwise be refused as "async unsafe".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[object]:
    from playwright import sync_api

    # `make test` installs Debian's Chromium; a missing browser is a failed set-up, not a skip.
    assert os.path.exists(CHROMIUM), "Chromium is not installed at /usr/bin/chromium"
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance) -> Iterator[object]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def _browser_settings(settings, tmp_path) -> Iterator[None]:
    from django.db import connections

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_ENABLED = False
    # The live server answers each browser connection in its own thread; with persistent
    # connections those threads would keep the test database open after the test.
    db = connections.settings["default"]
    conn_max_age = db.get("CONN_MAX_AGE", 0)
    db["CONN_MAX_AGE"] = 0
    yield
    db["CONN_MAX_AGE"] = conn_max_age
