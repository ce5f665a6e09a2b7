"""The benchmarks run end to end at a tiny size: each prints its Markdown row, and where a
benchmark compares results with its baseline (gate scores, licence decisions, the ledger
after releases) they agree. Timings are printed, never asserted (§19: benchmarks are not
tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_every_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    # A database of its own beside the test database (of this xdist worker, if any), so
    # parallel runs never share one.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    env["BENCH_DATABASE_NAME"] = "_".join(
        filter(None, [os.environ.get("DATABASE_TEST_NAME", "test_jkfund"), worker, "bench"])
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "0.0008", "--repeat", "1", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(out.read_text())
    names = [row["name"] for row in rows]
    # The project list gives an API row and a page row; gate evaluation a row on the worker
    # pool and a row in one process.
    assert len(rows) == 8, names
    for row in rows:
        assert row["ok"], row
        assert row["project"] and row["baseline"], row
        assert f"| {row['name']} |" in done.stdout
    by_name = {row["name"].split(" (")[0].split(",")[0]: row for row in rows}
    assert any(
        "0 breaches" in note for note in by_name["Tranche release by 4 concurrent workers"]["notes"]
    )
