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
- ``effort_claim_register``: other commitments of a person's working time (§5, the e-Rad
  rule), registered by name (``mobility``: pending and running visits); asked for by
  ``projects`` when it sums a person's effort.
- ``call_close_register``: what another domain settles when a call closes (``mobility``:
  visit applications still unendorsed become ineligible); run by ``projects`` in the
  closing transaction.
- ``call_terms_register``: the terms another domain attaches to calls of its kind, by
  name (``mobility``: a mobility call's stipend, travel sums, visit months and countries);
  asked for by ``projects``' call API for a page of calls at once (``call_terms_many``).
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


# [user id, …] -> {user id: effort %}; one query whatever the number of people.
EffortClaim: TypeAlias = Callable[[Sequence[int]], dict[int, int]]

_effort_claims: dict[str, EffortClaim] = {}


def effort_claim_register(name: str, claim: EffortClaim) -> None:
    """Register (or replace) the named claim on people's working time."""
    _effort_claims[name] = claim


def effort_claimed_elsewhere(user_ids: Iterable[int]) -> dict[int, int]:
    """The effort every registered claim adds up to, by user id (people with none are left
    out); one query per claim, none for no people."""
    ids = sorted({int(pk) for pk in user_ids})
    totals: dict[int, int] = {}
    if not ids:
        return totals
    for claim in _effort_claims.values():
        for pk, effort in claim(ids).items():
            totals[pk] = totals.get(pk, 0) + int(effort)
    return totals


class CallClose(Protocol):
    """``hook(call=call)``, inside the transaction that closes the call."""

    def __call__(self, *, call: Any) -> Any: ...


_call_close_hooks: dict[str, CallClose] = {}


def call_close_register(name: str, hook: CallClose) -> None:
    """Register (or replace) the named work another domain does when a call closes."""
    _call_close_hooks[name] = hook


def call_close_hooks_run(call: Any) -> None:
    """Run every registered call-close hook, in registration order."""
    for hook in _call_close_hooks.values():
        hook(call=call)


# [call id, …] -> {call id: terms}; one query whatever the number of calls, none for none.
CallTerms: TypeAlias = Callable[[Sequence[int]], dict[int, dict[str, Any]]]

_call_terms: dict[str, CallTerms] = {}


def call_terms_register(name: str, terms: CallTerms) -> None:
    """Register (or replace) the named terms another domain attaches to its calls."""
    _call_terms[name] = terms


def call_terms_many(name: str, call_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The named terms of each call that has them (calls without are left out); nothing
    registered under the name, or no calls, answers ``{}`` without a query."""
    ids = sorted(set(call_ids))
    terms = _call_terms.get(name)
    if terms is None or not ids:
        return {}
    return terms(ids)
