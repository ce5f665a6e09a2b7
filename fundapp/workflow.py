"""The workflow kernel: every stateful model's transitions in one declarative table, one
service that performs them, and the database enforcing the same table.

Each stateful model declares a :class:`Workflow` next to itself (``PROPOSAL_WORKFLOW`` in
``projects/models/proposals.py``, ``LICENCE_WORKFLOW`` in ``ip_licensing/models/…``): for
every source state the target states, who may trigger each move, and whether two persons
must agree on it (§2: the move then happens only when a two-person decision completes).
From the same table:

- :func:`transition` performs a move: it re-reads the row locked, checks the table and the
  actor, sets the state (and the fields that change with it), saves with
  ``update_fields`` and writes the audit event, all in the caller's transaction;
- :meth:`Workflow.move` is the same check and assignment for services that change several
  rows together and save and audit them as a set (a gate's decision moves its stage, its
  gate and its project in one write);
- :meth:`Workflow.trigger` is a ``pgtrigger.FSM`` on the model, so that any UPDATE (a
  batch statement, a raw query, a console) to a state the table does not allow is refused
  by the database.

Who may trigger a move is named by role (``Role`` values of ``fundapp.accounts``),
:data:`SYSTEM` (the fund's own jobs: beat tasks, automatic decisions, the release task)
and :data:`PARTNER` (a partner system's API key; its scopes are checked by the API). The
object-level questions (is this researcher on the consortium, is this officer of the other
side) stay with the domain's ``can_*`` functions, which views and services ask first; the
table is the second line that no path can skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pgtrigger
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import ApiKey, Role, User
from fundapp.errors import Conflict, PermissionDenied

SYSTEM = "system"
PARTNER = "partner"

FUND_OFFICER: str = Role.FUND_OFFICER.value
FINANCE_OFFICER: str = Role.FINANCE_OFFICER.value
SCREENING_OFFICER: str = Role.SCREENING_OFFICER.value
RESEARCHER: str = Role.RESEARCHER.value
REVIEWER: str = Role.REVIEWER.value
ADMIN: str = Role.ADMIN.value

# The people who act for the fund on its objects (an administrator may stand in for them).
OFFICERS = frozenset({FUND_OFFICER, ADMIN})
# The consortium's side: its researchers in the browser and its partner systems.
APPLICANTS = frozenset({RESEARCHER, PARTNER})


def actor_kinds(actor: Any) -> frozenset[str]:
    """What the actor counts as in a transition table: its role, ``partner`` for an API
    key, ``system`` for none; a superuser counts as an administrator and a fund officer."""
    if actor is None:
        return frozenset({SYSTEM})
    if isinstance(actor, ApiKey):
        return frozenset({PARTNER})
    if isinstance(actor, User):
        kinds = {str(actor.role)}
        if actor.is_superuser:
            kinds |= {ADMIN, FUND_OFFICER}
        return frozenset(kinds)
    return frozenset()


@dataclass(frozen=True)
class Edge:
    """One allowed move: ``source`` → ``target``, by whom, and whether two persons must
    agree before it happens."""

    source: str
    target: str
    by: frozenset[str]
    two_person: bool = False


def edges(
    table: Mapping[str, Iterable[str]], *, by: Iterable[str], two_person: bool = False
) -> list[Edge]:
    """Edges from a ``source → targets`` mapping, all triggered by ``by``."""
    who = frozenset(by)
    return [
        Edge(str(source), str(target), who, two_person)
        for source, targets in table.items()
        for target in targets
    ]


class Workflow:
    """The transition table of one model's state field."""

    def __init__(
        self,
        *,
        name: str,
        states: type[models.TextChoices],
        edges: Iterable[Edge],
        refusal: Any,
        field: str = "state",
        code: str = "invalid_state",
        initial: Iterable[str] = (),
    ) -> None:
        self.name = name
        # States a row may be created in besides its field's default (an assignment the
        # rules of §6 exclude at once, an e-mail asked for with the notification).
        self.initial = frozenset(str(s) for s in initial)
        self.states = states
        self.field = field
        # The translated refusal, with ``%(state)s`` and ``%(target)s`` placeholders; or one
        # per target state, for tables whose moves each have their own wording.
        self.refusal = refusal
        self.code = code
        self._edges: dict[tuple[str, str], Edge] = {}
        if not self.initial <= set(states.values):
            raise ValueError(f"{name}: unknown initial state in {sorted(self.initial)}")
        for edge in edges:
            if edge.source not in states.values or edge.target not in states.values:
                raise ValueError(f"{name}: unknown state in {edge.source} → {edge.target}")
            key = (edge.source, edge.target)
            if key in self._edges and self._edges[key] != edge:
                raise ValueError(f"{name}: {edge.source} → {edge.target} declared twice")
            self._edges[key] = edge

    # ------------------------------------------------------------------ the table

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges.values())

    def edge(self, source: str, target: str) -> Edge | None:
        return self._edges.get((str(source), str(target)))

    def allows(self, source: str, target: str) -> bool:
        return (str(source), str(target)) in self._edges

    def targets(self, source: str) -> frozenset[str]:
        return frozenset(t for (s, t) in self._edges if s == str(source))

    def final_states(self) -> frozenset[str]:
        sources = {s for (s, _t) in self._edges}
        return frozenset(str(v) for v in self.states.values if v not in sources)

    # ------------------------------------------------------------------ checks

    def _label(self, state: str) -> str:
        try:
            return str(self.states(state).label)
        except ValueError:
            return state

    def check(
        self,
        source: str,
        target: str,
        *,
        actor: Any = None,
        as_actor: bool = True,
        agreed: bool = False,
    ) -> Edge:
        """The edge ``source → target``, or ``Conflict`` (the table's code) when the table
        has none and ``PermissionDenied`` when the actor may not trigger it or, on a
        two-person edge, when the caller has no completed two-person decision (``agreed``;
        the fund's own automatic moves need none). With ``as_actor=False`` only the table
        is checked: for moves a service makes as the consequence of one it has already
        authorised (new restricted-party matches retiring a screening case)."""
        edge = self.edge(source, target)
        if edge is None:
            refusal = self.refusal
            if isinstance(refusal, Mapping):
                refusal = refusal[str(target)]
            raise Conflict(
                refusal % {"state": self._label(source), "target": self._label(target)},
                code=self.code,
            )
        if not as_actor:
            return edge
        kinds = actor_kinds(actor)
        if not (kinds & edge.by):
            raise PermissionDenied(_("You may not make this change."), code="not_allowed")
        if edge.two_person and not agreed and SYSTEM not in kinds:
            raise PermissionDenied(
                _("This change needs the approval of two fund officers, one from each side."),
                code="two_person_required",
            )
        return edge

    def move(
        self,
        obj: models.Model,
        target: str,
        *,
        actor: Any = None,
        as_actor: bool = True,
        agreed: bool = False,
    ) -> str:
        """Check the table (and the actor) and set ``obj``'s state; the caller has the row
        locked, saves it and audits. Returns the state before."""
        before = str(getattr(obj, self.field))
        self.check(before, target, actor=actor, as_actor=as_actor, agreed=agreed)
        setattr(obj, self.field, str(target))
        return before

    # ------------------------------------------------------------------ the database

    def trigger(self, name: str) -> pgtrigger.FSM:
        """The same table as a ``pgtrigger.FSM``: an UPDATE that changes the state along no
        edge is refused. It fires only when the state changes."""
        column = self.field
        return StateMachineTrigger(
            name=name,
            field=self.field,
            transitions=sorted(self._edges),
            condition=pgtrigger.Condition(f'OLD."{column}" IS DISTINCT FROM NEW."{column}"'),
        )


class StateMachineTrigger(pgtrigger.FSM):
    """``pgtrigger.FSM`` with the same table and the same refusal, checked by one
    expression.

    pgtrigger's function runs its check as ``SELECT … INTO``, which PL/pgSQL sends through
    the SQL executor on every row; an ``IF`` on the same expression (a function call and a
    comparison with a constant array) is evaluated by PL/pgSQL's fast path for simple
    expressions. Batch jobs move hundreds of rows per statement (a batch of gates moves its
    stages and gates), so this runs on every one of them."""

    def get_declare(self, model: models.Model) -> list[tuple[str, str]]:
        return []

    def get_func(self, model: models.Model) -> str:
        field = model._meta.get_field(self.field)
        assert isinstance(field, models.Field)  # a concrete column: the state
        column = pgtrigger.utils.quote(field.column)
        edges = ",".join(f"{old}{self.separator}{new}" for old, new in self.transitions)
        return self.format_sql(
            f"""
            IF CONCAT(OLD.{column}, '{self.separator}', NEW.{column}) = ANY('{{{edges}}}'::text[])
               OR OLD.{column} IS NOT DISTINCT FROM NEW.{column} THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION
                'pgtrigger: Invalid transition of field "{self.field}" from "%" to "%" on table %',
                OLD.{column},
                NEW.{column},
                TG_TABLE_NAME;
            """
        )


def transition(
    obj: models.Model,
    target: str,
    *,
    actor: Any,
    action: str,
    workflow: Workflow | None = None,
    changes: Mapping[str, Any] | None = None,
    guard: Callable[[Any], None] | None = None,
    agreed: bool = False,
) -> Any:
    """Move ``obj`` to ``target`` along ``workflow`` (by default its model's ``workflow``)
    in the caller's transaction (one is opened if none).

    Guarantees: the row is re-read with ``SELECT … FOR UPDATE`` (so two concurrent moves
    run one after the other and the second sees the first's state); the table and the
    actor are checked, then ``guard`` (a domain condition such as a call's opening window,
    raising a ``DomainError``); the state and ``changes`` are saved with ``update_fields``;
    the audit event ``action`` records the state (and changed fields) before and after.
    Returns the locked, updated row.
    """
    from fundapp.audit.services import audit_record

    model = type(obj)
    workflow = workflow or model.workflow  # type: ignore[attr-defined]
    with transaction.atomic():
        locked = model._default_manager.select_for_update(of=("self",)).get(pk=obj.pk)
        before_values = {name: getattr(locked, name) for name in (changes or {})}
        before = workflow.move(locked, target, actor=actor, agreed=agreed)
        if guard is not None:
            guard(locked)
        for name, value in (changes or {}).items():
            setattr(locked, name, value)
        locked.save(update_fields=[workflow.field, *(changes or {})])
        audit_record(
            actor=actor,
            action=action,
            obj=locked,
            before={workflow.field: before, **before_values},
            after={workflow.field: str(target), **dict(changes or {})},
        )
    return locked


__all__ = [
    "ADMIN",
    "APPLICANTS",
    "FINANCE_OFFICER",
    "FUND_OFFICER",
    "OFFICERS",
    "PARTNER",
    "RESEARCHER",
    "REVIEWER",
    "SCREENING_OFFICER",
    "SYSTEM",
    "Edge",
    "Workflow",
    "actor_kinds",
    "edges",
    "transition",
]
