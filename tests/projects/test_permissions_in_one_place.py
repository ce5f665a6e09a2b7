"""Every ``can_*`` question of the projects domain lives in ``projects/permissions.py`` (§2)."""

import re
from pathlib import Path

PROJECTS = Path(__file__).resolve().parents[2] / "projects"


def test_no_permission_question_is_defined_outside_the_permissions_module():
    defined_elsewhere = sorted(
        f"{path.relative_to(PROJECTS.parent)}: {name}"
        for path in PROJECTS.rglob("*.py")
        if path.name != "permissions.py" or path.parent != PROJECTS
        for name in re.findall(r"^def (can_\w+)\(", path.read_text(), re.M)
    )
    assert defined_elsewhere == []
    assert "def can_evaluate_gate(" in (PROJECTS / "permissions.py").read_text()
