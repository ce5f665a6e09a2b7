"""Signing in through the login page, as every browser journey starts."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

PASSWORD = "pw-Secret-123"  # set by tests.factories.UserFactory


def log_in(page: Any, base_url: str, username: str, next_path: str) -> None:
    """Sign ``username`` in on the login page and wait for ``next_path``."""
    page.goto(f"{base_url}{reverse('accounts:login')}?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")
