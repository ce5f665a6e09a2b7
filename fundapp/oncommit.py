"""Enqueue a sweeping task after commit, at most once per time window and process.

Some work runs after a commit over everything committed before it starts (sealing the
audit chain, sending pending e-mails). One message per transaction would be wasted: the
first run due after a commit covers every commit before it. A ``Debounced`` enqueues its
task once per transaction, on commit, and then at most once per window per process, to run
when the window ends. A lost message delays the work until the next commit or the beat
schedule; it never loses it, since the database says what is still pending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import transaction


class Debounced:
    """``after_commit()`` enqueues ``enqueue(delay)`` when the transaction commits, at most
    once per transaction and at most once per ``delay`` seconds in this process."""

    def __init__(self, enqueue: Callable[[float], object], delay: float) -> None:
        self.enqueue = enqueue
        self.delay = delay
        self.enqueued_until = 0.0
        self._lock = threading.Lock()

    def after_commit(self) -> None:
        conn = transaction.get_connection()
        if conn.in_atomic_block and any(
            func == self.fire for _sids, func, _robust in conn.run_on_commit
        ):
            return
        # robust: a broker outage must not turn the committed change into an error.
        transaction.on_commit(self.fire, robust=True)

    def fire(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self.enqueued_until:
                return  # a run is already due after this commit: it covers this one too
            self.enqueued_until = now + self.delay
        self.enqueue(self.delay)
