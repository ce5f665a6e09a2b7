"""Running work in real threads against real PostgreSQL, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_at_once(
    work: Callable[[int], Any], threads: int = 8
) -> tuple[list[Any], list[BaseException | None]]:
    """Run ``work(i)`` in ``threads`` threads released by one barrier; each closes its own
    database connection. Returns the results and the errors, by thread index."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException | None] = [None] * threads

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the caller asserts on each error
            errors[index] = exc
        finally:
            connection.close()

    running = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in running)
    return results, errors
