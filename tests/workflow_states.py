"""Putting a row into a state for a test's setup, along its workflow's edges.

The database refuses a raw UPDATE to a state its transition table does not allow
(``fundapp.workflow``), so a test that needs, say, a decided gate walks the gate there by
the shortest path of allowed moves instead of jumping. Only the state column changes: the
services' other effects (snapshots, ledger postings, audit events) are the test's business.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from django.db import models

from fundapp.workflow import Workflow


def path(workflow: Workflow, source: str, target: str) -> list[str]:
    """The states after ``source`` on a shortest path to ``target`` (empty if equal)."""
    source, target = str(source), str(target)
    previous: dict[str, str | None] = {source: None}
    queue = deque([source])
    while queue:
        state = queue.popleft()
        if state == target:
            break
        for following in sorted(workflow.targets(state)):
            if following not in previous:
                previous[following] = state
                queue.append(following)
    if target not in previous:
        raise ValueError(f"{workflow.name}: no path from {source} to {target}")
    steps: list[str] = []
    step: str | None = target
    while step is not None and step != source:
        steps.append(step)
        step = previous[step]
    return steps[::-1]


def force_state(obj: models.Model, target: str, **fields: Any) -> Any:
    """Move ``obj`` (saved) to ``target`` through the allowed states, one UPDATE each,
    setting ``fields`` with the last step; returns ``obj`` with the new values."""
    model = type(obj)
    workflow: Workflow = model.workflow  # type: ignore[attr-defined]
    rows = model._default_manager.filter(pk=obj.pk)
    current = rows.values_list(workflow.field, flat=True).get()
    steps = path(workflow, current, target) or [str(target)]
    for number, state in enumerate(steps, start=1):
        values = {workflow.field: state, **(fields if number == len(steps) else {})}
        rows.update(**values)
    for name, value in {workflow.field: str(target), **fields}.items():
        setattr(obj, name, value)
    return obj
