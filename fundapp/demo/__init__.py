"""Demo logins created by ``manage.py seed_demo`` and printed by ``make run`` (§20).

They work only with ``DEBUG`` on: the password is published here.
"""

from __future__ import annotations

DEMO_PASSWORD = "demo-Pass-2026"

# (username, who it is)
DEMO_LOGINS: list[tuple[str, str]] = [
    ("pi_tokyo", "researcher, principal investigator on the Japanese side"),
    ("pi_daejeon", "researcher, principal investigator on the Korean side"),
    ("office_tokyo", "university research office (JP)"),
    ("office_daejeon", "university research office (KR)"),
    ("officer_jp", "fund officer, Japanese side"),
    ("officer_kr", "fund officer, Korean side"),
    ("finance_jp", "finance officer, Japanese side"),
    ("finance_kr", "finance officer, Korean side"),
    ("screening", "screening officer (research security, export control)"),
    ("reviewer1", "reviewer"),
    ("admin", "administrator (Django admin)"),
]
