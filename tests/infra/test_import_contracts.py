"""The import-linter contracts of ``make lint`` (STYLE.md "Layout"): the kernel imports no
domain, ``projects`` and ``ip_licensing`` never import each other, and the pure rules import
nothing of Django's ORM. The real code keeps them; a copy with one forbidden import added
breaks exactly the contract that forbids it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("fundapp", "projects", "ip_licensing", "mobility")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

KERNEL = "The kernel imports no domain"
DOMAINS = "projects and ip_licensing do not import each other"
RULES = "Pure rules import nothing of Django's ORM"


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four packages and the contracts, copied where a test may add a module."""
    root = tmp_path_factory.mktemp("layout")
    for package in PACKAGES:
        shutil.copytree(
            REPO / package,
            root / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.po", "*.mo"),
        )
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def outcome(output: str, contract: str) -> str:
    for line in output.splitlines():
        if line.startswith(contract + " "):
            return line.removeprefix(contract + " ").split()[0]
    raise AssertionError(f"{contract!r} not reported:\n{output}")


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(REPO)

    assert result.returncode == 0, result.stdout + result.stderr
    for contract in (KERNEL, DOMAINS, RULES):
        assert outcome(result.stdout, contract) == "KEPT"


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("ip_licensing/added_import.py", "from projects.models import Project", (DOMAINS,)),
        ("projects/added_import.py", "from ip_licensing.rules import royalty_split", (DOMAINS,)),
        ("projects/services/decisions.py", "import ip_licensing.selectors", (DOMAINS,)),
        ("fundapp/kernel/added_import.py", "from projects.models import Project", (KERNEL,)),
        # projects uses the ledger, so it would reach ip_licensing through it as well.
        ("fundapp/ledger/services.py", "import ip_licensing", (KERNEL, DOMAINS)),
        ("projects/rules/added_import.py", "from django.db import models", (RULES,)),
        # Indirectly, through a module of ours that uses the ORM.
        ("fundapp/ledger/rules.py", "from fundapp.fields import AmountField", (RULES,)),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    copy: Path, module: str, line: str, broken: tuple[str, ...]
) -> None:
    path = copy / module
    original = path.read_text() if path.exists() else None
    path.write_text((original or "") + "\n" + line + "\n")
    try:
        result = lint_imports(copy)
    finally:
        if original is None:
            path.unlink()
        else:
            path.write_text(original)

    assert result.returncode != 0
    for contract in (KERNEL, DOMAINS, RULES):
        expected = "BROKEN" if contract in broken else "KEPT"
        assert outcome(result.stdout, contract) == expected, result.stdout
