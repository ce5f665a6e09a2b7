"""Every ``can_*`` question of a domain lives in that domain's ``permissions.py`` (§2)."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("domain", "example"),
    [
        ("projects", "can_evaluate_gate"),
        ("ip_licensing", "can_report_royalties"),
        ("mobility", "can_endorse_application"),
    ],
)
def test_no_permission_question_is_defined_outside_the_permissions_module(domain, example):
    root = REPO / domain
    defined_elsewhere = sorted(
        f"{path.relative_to(REPO)}: {name}"
        for path in root.rglob("*.py")
        if path != root / "permissions.py"
        for name in re.findall(r"^def (can_\w+)\(", path.read_text(), re.M)
    )
    assert defined_elsewhere == []
    assert f"def {example}(" in (root / "permissions.py").read_text()
