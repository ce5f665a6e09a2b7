"""What every benchmark reports, and how it is measured."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection


@dataclass
class Row:
    name: str
    size: str
    project: list[float]  # seconds per run (or rates, see ``unit``)
    baseline: list[float]
    queries: str
    unit: str = "s"  # "s": lower is better; "req/s" or "/s": higher is better
    ok: bool = True
    notes: list[str] = field(default_factory=list)
    scale: float = 1.0

    @property
    def project_median(self) -> float:
        return statistics.median(self.project)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def ratio(self) -> float:
        """How many times slower the project path is than the baseline."""
        p, b = self.project_median, self.baseline_median
        if self.unit == "s":
            return p / b if b else float("inf")
        return b / p if p else float("inf")

    def fmt(self, value: float) -> str:
        if self.unit == "s":
            return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
        return f"{value:,.0f} {self.unit}"

    def markdown(self) -> str:
        check = "" if self.ok else " **(results differ!)**"
        return (
            f"| {self.name} | {self.size} | {self.fmt(self.project_median)} | "
            f"{self.fmt(self.baseline_median)} | {self.ratio:.2f}×{check} | {self.queries} |"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "scale": self.scale,
            "unit": self.unit,
            "project": self.project,
            "baseline": self.baseline,
            "project_median": self.project_median,
            "baseline_median": self.baseline_median,
            "ratio": self.ratio,
            "queries": self.queries,
            "ok": self.ok,
            "notes": self.notes,
        }


HEADER = (
    "| benchmark | size | project (median) | baseline (median) | ratio | queries (project) |\n"
    "|---|---|---|---|---|---|"
)


class QueryCounter:
    """Counts the SQL statements Django sends on the default connection (no storage)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextlib.contextmanager
def counting() -> Iterator[QueryCounter]:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def n(scale: float, full: int, minimum: int = 1) -> int:
    return max(minimum, round(full * scale))
