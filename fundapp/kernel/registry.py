"""What one domain answers for another, asked for by name: neither imports the other.

``projects`` and ``ip_licensing`` never import each other (an ``import-linter`` contract
keeps it so). Where one needs an answer from the other, the kernel names the question
here; the domain that owns the answer registers it in its ``AppConfig.ready``, and the
asking domain calls through this module:

- ``project_directory``: the projects domain's answers about its projects (look one up,
  lock it, list its organisations and principal investigators, which ones a person sees),
  filled in by ``projects``; used by ``ip_licensing``.
- ``return_allocation_start``: writes a new project's default return-allocation table
  (§10.5), filled in by ``ip_licensing``; used by ``projects`` when a project is created.
- ``final_gate_requirements_met_many``: the requirements other domains put on a
  project's final gate (§7), registered by name (``ip_licensing``: the project's results
  are registered); asked for by ``projects`` before the final gate completes a project.
  ``final_gate_requirements_unmet_many`` answers with the names, which a notification
  stores and ``final_gate_requirement_reason`` explains when it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet

T = TypeVar("T")

# A project row of the projects domain. Other domains hold it without knowing its class.
ProjectRow: TypeAlias = Any


class Slot(Generic[T]):
    """One answer, provided once by the domain that owns it."""

    def __init__(self, name: str, *, default: T | None = None) -> None:
        self.name = name
        self._value: T | None = default

    def provide(self, value: T) -> None:
        self._value = value

    def get(self) -> T:
        if self._value is None:
            raise ImproperlyConfigured(f"Nothing provides {self.name!r}; is its app installed?")
        return self._value


class ProjectDirectory(Protocol):
    """The projects domain's answers about its projects, each in a fixed number of queries."""

    @property
    def model(self) -> type[Model]:
        """The project model, for form fields over projects and ``isinstance`` checks."""

    def get(self, pk: int) -> ProjectRow | None:
        """The project, or ``None`` (one query)."""

    def lock(self, pk: int) -> ProjectRow:
        """The project re-read with its row locked (``SELECT … FOR UPDATE``, one query)."""

    def visible_to(self, user: Any) -> QuerySet[Any]:
        """The projects the person may see, as a queryset (no query until evaluated)."""

    def organisation_ids(self, project_id: int) -> list[int]:
        """The project's organisations in consortium order (one query)."""

    def has_organisation(self, project_id: int, organisation_id: int) -> bool:
        """Whether the organisation belongs to the project (one query)."""

    def pi_user_ids(self, organisation_ids: Iterable[int] | QuerySet[Any]) -> QuerySet[Any]:
        """Subquery: the users who are principal investigators for any of the
        organisations on any project (``values("user_id")``)."""

    def is_pi_for(self, user_id: int, organisation_id: int) -> bool:
        """Whether the person is a principal investigator for the organisation on some
        project (one query)."""


project_directory: Slot[ProjectDirectory] = Slot("project_directory")

# (project, [(organisation id, currency, budget), …], KRW per JPY) -> [(organisation id, bp)]
ReturnAllocationStart: TypeAlias = Callable[
    [ProjectRow, Sequence[tuple[int, str, int]], Decimal], list[tuple[int, int]]
]


def _no_return_allocation(
    project: ProjectRow, budget_by_org: Sequence[tuple[int, str, int]], krw_per_jpy: Decimal
) -> list[tuple[int, int]]:
    return []


return_allocation_start: Slot[ReturnAllocationStart] = Slot(
    "return_allocation_start", default=_no_return_allocation
)

# [project id, …] -> {project id: (met, reason shown to officers when not)}; one query per
# requirement whatever the number of projects, none for an empty set.
FinalGateRequirement: TypeAlias = Callable[[Sequence[int]], dict[int, tuple[bool, str]]]

_final_gate_requirements: dict[str, FinalGateRequirement] = {}
_final_gate_reasons: dict[str, Any] = {}


def final_gate_requirement_register(
    name: str, requirement: FinalGateRequirement, *, reason: Any = ""
) -> None:
    """Register (or replace) the named requirement on every project's final gate, with the
    reason (lazy text) a notification names, by the requirement's name, when it is not met."""
    _final_gate_requirements[name] = requirement
    _final_gate_reasons[name] = reason


def final_gate_requirement_reason(name: str) -> str:
    """Why the named requirement holds a final gate, in the active language ("" for a
    requirement no longer registered)."""
    return str(_final_gate_reasons.get(name) or "")


def final_gate_requirements_met_many(
    project_ids: Iterable[int],
) -> dict[int, tuple[bool, str]]:
    """Every registered final-gate requirement for many projects, by project id: met when
    all are met, otherwise ``(False, reason)`` of the first one (in registration order)
    that is not."""
    ids = sorted({int(pk) for pk in project_ids})
    answers: dict[int, tuple[bool, str]] = dict.fromkeys(ids, (True, ""))
    if not ids:
        return answers
    for requirement in _final_gate_requirements.values():
        for pk, (met, reason) in requirement(ids).items():
            if not met and answers[pk][0]:
                answers[pk] = (False, reason)
    return answers


def final_gate_requirements_unmet_many(project_ids: Iterable[int]) -> dict[int, str]:
    """``final_gate_requirements_met_many`` by the requirements' names: for each project
    that does not meet them all, the name of the first one (in registration order) it does
    not meet; the projects that meet them all are left out. Same queries."""
    ids = sorted({int(pk) for pk in project_ids})
    unmet: dict[int, str] = {}
    if not ids:
        return unmet
    for name, requirement in _final_gate_requirements.items():
        for pk, (met, _reason) in requirement(ids).items():
            if not met:
                unmet.setdefault(pk, name)
    return unmet
