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


def _child(fn, chunk, barrier, out) -> None:
    import os
    import traceback

    from django.db import connections

    code = 0
    try:
        barrier.wait()
        begun = time.monotonic()
        queries = fn(chunk)
        out.put(("ok", begun, time.monotonic(), queries))
    except BaseException:
        out.put(("error", 0.0, 0.0, traceback.format_exc()))
        code = 1
    finally:
        connections.close_all()
        out.close()
        out.join_thread()
        os._exit(code)


def parallel(fn: Callable[[Any], int], chunks: list[Any]) -> tuple[float, int]:
    """Run ``fn(chunk)`` in one forked process per chunk, all released at once; returns the
    wall time from the release to the last finish and the sum of what ``fn`` returned
    (its query count). Each process opens its own database connection."""
    import multiprocessing

    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(chunks))
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(fn, c, barrier, out)) for c in chunks]
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    errors = [r[3] for r in results if r[0] == "error"]
    if errors:
        raise RuntimeError("a worker failed:\n" + errors[0])
    begun = min(r[1] for r in results)
    ended = max(r[2] for r in results)
    return ended - begun, sum(r[3] for r in results)
