"""Amendments to a project's frozen plan (§24), as pure functions of plain values.

A plan is what an amendment may change: the KPIs (target, weight, evidence level) and the
months of stages whose gate has not been evaluated, the budget lines of each side, the
planned tranches of stages that have not started, and the consortium's partners. A change
set is a list of changes, each a dict with a ``kind``:

- ``kpi``: ``{"kpi": id, "target"?: decimal text, "weight"?: decimal text, "evidence"?:
  level}``;
- ``stage``: ``{"stage": number, "months": int}``; the later gate days follow;
- ``budget_move``: ``{"from_organisation", "from_category", "to_organisation",
  "to_category", "amount"}`` between two lines of ONE side (the side's total is unchanged);
- ``tranche``: ``{"stage": number, "side": "JP" | "KR", "planned": int, "organisation"?:
  id, "category"?: category}``; the difference lands on that budget line (default: the
  side's lead organisation, its largest line), so each side's budget still equals its
  tranches;
- ``partner_add``: ``{"organisation": id, "from_organisation": id, "category", "amount"}``:
  a JP or KR organisation joins as a partner with money moved from an organisation of its
  side;
- ``partner_remove``: ``{"organisation": id, "to_organisation": id}``: a partner that has
  received no money leaves; its budget lines move to an organisation of its side.

``amendment_apply`` applies a change set to a plan and answers the plan after it, the
field-level problems (translated, with paths ``changes.<i>.<field>``) and the diff, one line
per value that changed. After the changes, the plan still obeys §5: tranches per side never
shrink from stage to stage, each side's tranches sum to at most the call's maximum, each
side's budget equals its tranches, no budget line is negative.

A change that touches an evaluated stage or released money is a problem of its own list
(``touched_closed``): at approval it means the amendment has gone stale (409).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.problems import Problem, check_amount, check_decimal, with_places
from projects.rules.gates import EVIDENCE_LEVELS, EVIDENCE_NONE
from projects.rules.proposals import StageFacts, non_decreasing_problems

FUNDED_SIDES = ("JP", "KR")
CATEGORIES = ("personnel", "equipment", "consumables", "travel", "other")
LEAD_ROLES = {"JP": "lead_jp", "KR": "lead_kr"}
PARTNER = "partner"
MAX_CHANGES = 50
MAX_STAGE_MONTHS = 120

KINDS = ("kpi", "stage", "budget_move", "tranche", "partner_add", "partner_remove")


@dataclass(frozen=True)
class KpiPlan:
    kpi_id: int
    code: str
    stage: int
    baseline: Decimal
    target: Decimal
    weight: Decimal
    evidence: str
    mandatory: bool


@dataclass(frozen=True)
class StagePlan:
    number: int
    months: int
    evaluated: bool  # its gate has a snapshot: never amended again


@dataclass(frozen=True)
class TranchePlan:
    stage: int
    side: str
    planned: int
    open: bool  # its stage has not started and the tranche is still only planned


@dataclass(frozen=True)
class OrganisationPlan:
    organisation_id: int
    side: str
    role: str
    received: bool  # some of its side's money has been released to it
    staffed: bool = False  # people of it are named on the project


@dataclass(frozen=True)
class Plan:
    stages: tuple[StagePlan, ...]
    kpis: tuple[KpiPlan, ...]
    tranches: tuple[TranchePlan, ...]
    organisations: tuple[OrganisationPlan, ...]
    # (organisation id, category) → amount, in the side's currency.
    budget: Mapping[tuple[int, str], int]

    def budget_of(self, organisation_id: int) -> int:
        return sum(a for (org, _c), a in self.budget.items() if org == organisation_id)

    def side_tranches(self, side: str) -> int:
        return sum(t.planned for t in self.tranches if t.side == side)

    def open_tranches(self, side: str) -> int:
        """What is still to be released of the side's plan: the ledger's committed."""
        return sum(t.planned for t in self.tranches if t.side == side and t.open)

    def side_budget(self, side: str) -> int:
        sides = {o.organisation_id: o.side for o in self.organisations}
        return sum(a for (org, _c), a in self.budget.items() if sides.get(org) == side)


@dataclass(frozen=True)
class Bounds:
    max_budget_jpy: int
    max_budget_krw: int
    max_project_months: int

    def max_for(self, side: str) -> int:
        return self.max_budget_jpy if side == "JP" else self.max_budget_krw


@dataclass
class Applied:
    plan: Plan
    problems: list[Problem] = field(default_factory=list)
    # Changes to an evaluated stage or released money: stale at approval.
    touched_closed: list[Problem] = field(default_factory=list)
    diff: list[dict[str, Any]] = field(default_factory=list)

    @property
    def all_problems(self) -> list[Problem]:
        return [*self.touched_closed, *self.problems]


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _decimal(value: Any) -> Decimal | None:
    """The number given (a finite one below 10¹⁴), its digits as given: ``None`` for
    anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number.copy_abs() >= _DECIMAL_LIMIT:
        return None
    return number


_DECIMAL_LIMIT = Decimal(10) ** 14
# Targets and weights as their columns store them (``DecimalField(20, 6)`` and ``(8, 4)``): a
# finer one is refused, as in the proposal, never rounded; one that fits is written with
# the column's places.
_TARGET = {"places": 6, "max_digits": 20}
_WEIGHT = {"places": 4, "max_digits": 8}


class _Work:
    """The plan being changed, one change after another."""

    def __init__(self, plan: Plan, newcomers: Mapping[int, str]) -> None:
        self.stages = {s.number: s for s in plan.stages}
        self.kpis = {k.kpi_id: k for k in plan.kpis}
        self.tranches = {(t.stage, t.side): t for t in plan.tranches}
        self.organisations = {o.organisation_id: o for o in plan.organisations}
        self.order = [o.organisation_id for o in plan.organisations]
        self.budget = dict(plan.budget)
        self.newcomers = newcomers
        self.problems: list[Problem] = []
        self.closed: list[Problem] = []
        self.diff: list[dict[str, Any]] = []

    def plan(self) -> Plan:
        return Plan(
            stages=tuple(self.stages[n] for n in sorted(self.stages)),
            kpis=tuple(self.kpis[k] for k in sorted(self.kpis)),
            tranches=tuple(self.tranches[key] for key in sorted(self.tranches)),
            organisations=tuple(self.organisations[o] for o in self.order),
            budget={key: amount for key, amount in sorted(self.budget.items()) if amount},
        )

    def add(self, path: str, message: Any) -> None:
        self.problems.append(Problem(path, str(message)))

    def closed_stage(self, path: str, number: int) -> None:
        self.closed.append(
            Problem(
                path,
                str(
                    _(
                        "The gate of stage %(n)d has been evaluated; the stage can no longer be amended."
                    )
                    % {"n": number}
                ),
            )
        )

    def line(self, kind: str, subject: str, name: str, before: Any, after: Any) -> None:
        self.diff.append(
            {"kind": kind, "subject": subject, "field": name, "before": before, "after": after}
        )

    def move_budget(self, key_from: tuple[int, str], key_to: tuple[int, str], amount: int) -> None:
        before_from, before_to = self.budget.get(key_from, 0), self.budget.get(key_to, 0)
        self.budget[key_from] = before_from - amount
        self.budget[key_to] = self.budget.get(key_to, 0) + amount
        self.line(
            "budget", f"{key_from[0]}:{key_from[1]}", "amount", before_from, before_from - amount
        )
        self.line("budget", f"{key_to[0]}:{key_to[1]}", "amount", before_to, before_to + amount)

    def largest_line(self, organisation: OrganisationPlan) -> str:
        """The category of the organisation's largest budget line (``other`` if none)."""
        lines = [
            (amount, -CATEGORIES.index(category), category)
            for (org, category), amount in self.budget.items()
            if org == organisation.organisation_id and category in CATEGORIES
        ]
        return max(lines)[2] if lines else "other"

    def organisation(self, path: str, value: Any) -> OrganisationPlan | None:
        pk = _int(value)
        found = self.organisations.get(pk) if pk is not None else None
        if found is None:
            self.add(path, _("Choose an organisation of the project's consortium."))
        elif found.side not in FUNDED_SIDES:
            self.add(path, _("In-kind partners outside Japan and Korea receive no funding."))
            return None
        return found

    def category(self, path: str, value: Any) -> str | None:
        if value not in CATEGORIES:
            self.add(path, _("Choose a budget category."))
            return None
        return str(value)

    def amount(self, path: str, value: Any, *, positive: bool = False) -> int | None:
        refusal = check_amount(value)
        if refusal is not None:
            self.add(path, refusal)
            return None
        amount = int(value)
        if positive and amount == 0:
            self.add(path, _("Move an amount greater than zero."))
            return None
        return amount

    # ------------------------------------------------------------------ changes

    def kpi(self, p: str, change: Mapping[str, Any]) -> None:
        pk = _int(change.get("kpi"))
        kpi = self.kpis.get(pk) if pk is not None else None
        if kpi is None:
            self.add(f"{p}.kpi", _("Choose a KPI of the project."))
            return
        if self.stages[kpi.stage].evaluated:
            self.closed_stage(f"{p}.kpi", kpi.stage)
            return
        fields = [name for name in ("target", "weight", "evidence") if name in change]
        if not fields:
            self.add(p, _("Change the target, the weight or the evidence level."))
            return
        new = kpi
        if "target" in change:
            target = _decimal(change["target"])
            if target is None:
                self.add(f"{p}.target", _("Enter a number."))
            elif problem := check_decimal(target, **_TARGET):
                self.add(f"{p}.target", problem)
            elif target == kpi.baseline:
                self.add(f"{p}.target", _("The target must differ from the baseline."))
            else:
                new = replace(new, target=with_places(target, _TARGET["places"]))
        if "weight" in change:
            weight = _decimal(change["weight"])
            if weight is None or weight <= 0 or weight >= 10000:
                self.add(f"{p}.weight", _("Enter a weight greater than zero."))
            elif problem := check_decimal(weight, **_WEIGHT):
                self.add(f"{p}.weight", problem)
            else:
                new = replace(new, weight=with_places(weight, _WEIGHT["places"]))
        if "evidence" in change:
            if change["evidence"] not in EVIDENCE_LEVELS:
                self.add(f"{p}.evidence", _("Choose an evidence level."))
            elif kpi.mandatory and change["evidence"] == EVIDENCE_NONE:
                self.add(
                    f"{p}.evidence",
                    _("A mandatory KPI needs at least an evidence file behind each measurement."),
                )
            else:
                new = replace(new, evidence=str(change["evidence"]))
        subject = f"{kpi.kpi_id}"
        for name in ("target", "weight", "evidence"):
            before, after = getattr(kpi, name), getattr(new, name)
            if before != after:
                self.line("kpi", subject, name, str(before), str(after))
        self.kpis[kpi.kpi_id] = new

    def stage(self, p: str, change: Mapping[str, Any]) -> None:
        number = _int(change.get("stage"))
        stage = self.stages.get(number) if number is not None else None
        if stage is None:
            self.add(f"{p}.stage", _("Choose a stage of the project."))
            return
        if stage.evaluated:
            self.closed_stage(f"{p}.stage", stage.number)
            return
        months = _int(change.get("months"))
        if months is None or not 1 <= months <= MAX_STAGE_MONTHS:
            self.add(f"{p}.months", _("Enter a whole number of months, at least 1."))
            return
        if months != stage.months:
            self.line("stage", str(stage.number), "months", stage.months, months)
        self.stages[stage.number] = replace(stage, months=months)

    def budget_move(self, p: str, change: Mapping[str, Any]) -> None:
        source = self.organisation(f"{p}.from_organisation", change.get("from_organisation"))
        target = self.organisation(f"{p}.to_organisation", change.get("to_organisation"))
        from_category = self.category(f"{p}.from_category", change.get("from_category"))
        to_category = self.category(f"{p}.to_category", change.get("to_category"))
        amount = self.amount(f"{p}.amount", change.get("amount"), positive=True)
        if None in (source, target, from_category, to_category, amount):
            return
        assert source is not None and target is not None and amount is not None
        assert from_category is not None and to_category is not None
        if source.side != target.side:
            self.add(
                f"{p}.to_organisation",
                _("Budget moves stay within one side: choose an organisation of the same side."),
            )
            return
        key_from = (source.organisation_id, from_category)
        key_to = (target.organisation_id, to_category)
        if key_from == key_to:
            self.add(f"{p}.to_category", _("Move the budget to another organisation or category."))
            return
        if self.budget.get(key_from, 0) < amount:
            self.add(
                f"{p}.amount",
                _("This budget line holds %(held)s; it cannot give %(amount)s.")
                % {"held": f"{self.budget.get(key_from, 0):,}", "amount": f"{amount:,}"},
            )
            return
        self.move_budget(key_from, key_to, amount)

    def tranche(self, p: str, change: Mapping[str, Any]) -> None:
        number = _int(change.get("stage"))
        side = change.get("side")
        if side not in FUNDED_SIDES:
            self.add(f"{p}.side", _("Choose the JP or the KR side."))
            return
        tranche = self.tranches.get((number, str(side))) if number is not None else None
        if tranche is None:
            self.add(f"{p}.stage", _("Choose a stage of the project."))
            return
        assert number is not None
        if self.stages[number].evaluated:
            self.closed_stage(f"{p}.stage", number)
            return
        if not tranche.open:
            self.closed.append(
                Problem(
                    f"{p}.stage",
                    str(
                        _(
                            "Stage %(n)d has started: its tranche has been released or decided "
                            "and can no longer be amended."
                        )
                        % {"n": number}
                    ),
                )
            )
            return
        planned = self.amount(f"{p}.planned", change.get("planned"))
        if planned is None:
            return
        lead = next(
            (o for o in self.organisations.values() if o.role == LEAD_ROLES[str(side)]), None
        )
        org_value = change.get("organisation", lead.organisation_id if lead else None)
        organisation = self.organisation(f"{p}.organisation", org_value)
        if organisation is None:
            return
        category = self.category(
            f"{p}.category", change.get("category", self.largest_line(organisation))
        )
        if category is None:
            return
        if organisation.side != side:
            self.add(f"{p}.organisation", _("Choose an organisation of the tranche's side."))
            return
        delta = planned - tranche.planned
        key = (organisation.organisation_id, category)
        line_before = self.budget.get(key, 0)
        if line_before + delta < 0:
            self.add(
                f"{p}.planned",
                _("This budget line holds %(held)s; it cannot give %(amount)s.")
                % {"held": f"{line_before:,}", "amount": f"{-delta:,}"},
            )
            return
        if delta:
            self.line("tranche", f"{number}:{side}", "planned", tranche.planned, planned)
            self.line("budget", f"{key[0]}:{key[1]}", "amount", line_before, line_before + delta)
        self.tranches[(number, str(side))] = replace(tranche, planned=planned)
        self.budget[key] = line_before + delta

    def partner_add(self, p: str, change: Mapping[str, Any]) -> None:
        pk = _int(change.get("organisation"))
        if pk is None or pk not in self.newcomers:
            self.add(f"{p}.organisation", _("Choose an organisation."))
            return
        if pk in self.organisations:
            self.add(f"{p}.organisation", _("This organisation is already in the consortium."))
            return
        side = self.newcomers[pk]
        if side not in FUNDED_SIDES:
            self.add(
                f"{p}.organisation",
                _("Only organisations in Japan or Korea can join a running project as partners."),
            )
            return
        source = self.organisation(f"{p}.from_organisation", change.get("from_organisation"))
        category = self.category(f"{p}.category", change.get("category"))
        amount = self.amount(f"{p}.amount", change.get("amount"))
        if source is None or category is None or amount is None:
            return
        if source.side != side:
            self.add(
                f"{p}.from_organisation",
                _("Budget moves stay within one side: choose an organisation of the same side."),
            )
            return
        key_from = (source.organisation_id, category)
        if self.budget.get(key_from, 0) < amount:
            self.add(
                f"{p}.amount",
                _("This budget line holds %(held)s; it cannot give %(amount)s.")
                % {"held": f"{self.budget.get(key_from, 0):,}", "amount": f"{amount:,}"},
            )
            return
        self.organisations[pk] = OrganisationPlan(pk, side, PARTNER, received=False)
        self.order.append(pk)
        self.line("partner", str(pk), "member", None, PARTNER)
        if amount:
            self.move_budget(key_from, (pk, category), amount)

    def partner_remove(self, p: str, change: Mapping[str, Any]) -> None:
        pk = _int(change.get("organisation"))
        leaving = self.organisations.get(pk) if pk is not None else None
        if leaving is None:
            self.add(f"{p}.organisation", _("Choose an organisation of the project's consortium."))
            return
        if leaving.role != PARTNER:
            self.add(
                f"{p}.organisation",
                _("Only a partner can leave; each side keeps its lead organisation."),
            )
            return
        if leaving.received:
            self.closed.append(
                Problem(
                    f"{p}.organisation",
                    str(_("This partner has received money from a released tranche; it stays.")),
                )
            )
            return
        if leaving.staffed:
            self.add(
                f"{p}.organisation",
                _("People of this partner are named on the project; it cannot leave."),
            )
            return
        target = self.organisation(f"{p}.to_organisation", change.get("to_organisation"))
        if target is None:
            return
        if target.side != leaving.side or target.organisation_id == leaving.organisation_id:
            self.add(
                f"{p}.to_organisation",
                _("Its budget moves to another organisation of the same side."),
            )
            return
        for org, category in sorted(k for k in self.budget if k[0] == leaving.organisation_id):
            amount = self.budget[(org, category)]
            if amount:
                self.move_budget((org, category), (target.organisation_id, category), amount)
            self.budget.pop((org, category), None)
        del self.organisations[leaving.organisation_id]
        self.order.remove(leaving.organisation_id)
        self.line("partner", str(leaving.organisation_id), "member", PARTNER, None)


def amendment_apply(
    plan: Plan,
    changes: Any,
    bounds: Bounds,
    *,
    newcomers: Mapping[int, str] | None = None,
) -> Applied:
    """Apply ``changes`` to ``plan`` (see the module); ``newcomers`` maps the organisations
    a ``partner_add`` may name to their side. Nothing is mutated: the answer carries the
    plan after the changes, the problems and the diff."""
    work = _Work(plan, newcomers or {})
    if not isinstance(changes, list) or not changes:
        work.add("changes", _("Propose at least one change."))
        return Applied(plan, work.problems)
    if len(changes) > MAX_CHANGES:
        work.add("changes", _("At most %(n)d changes in one amendment.") % {"n": MAX_CHANGES})
        return Applied(plan, work.problems)
    for i, change in enumerate(changes):
        p = f"changes.{i}"
        kind = change.get("kind") if isinstance(change, dict) else None
        if kind not in KINDS:
            work.add(f"{p}.kind", _("Choose a kind of change."))
            continue
        getattr(work, str(kind))(p, change)
    after = work.plan()
    problems = list(work.problems)
    if not work.problems and not work.closed:
        problems.extend(plan_problems(after, bounds))
        if not work.diff:
            problems.append(Problem("changes", str(_("These changes leave the plan as it is."))))
    return Applied(after, problems, list(work.closed), work.diff)


def plan_problems(plan: Plan, bounds: Bounds) -> list[Problem]:
    """The §5 rules a plan must keep after any amendment."""
    problems: list[Problem] = []
    numbers = sorted(s.number for s in plan.stages)
    by = {(t.stage, t.side): t.planned for t in plan.tranches}
    facts = [StageFacts(n, 0, by.get((n, "JP"), 0), by.get((n, "KR"), 0), 0) for n in numbers]
    for problem in non_decreasing_problems(facts):
        problems.append(Problem("changes", problem.message))
    for side in FUNDED_SIDES:
        total = plan.side_tranches(side)
        if total > bounds.max_for(side):
            problems.append(
                Problem(
                    "changes",
                    str(
                        _(
                            "The %(side)s tranches would sum to %(total)s, above the call's maximum of %(max)s."
                        )
                        % {"side": side, "total": f"{total:,}", "max": f"{bounds.max_for(side):,}"}
                    ),
                )
            )
        budget = plan.side_budget(side)
        if budget != total:
            problems.append(
                Problem(
                    "changes",
                    str(
                        _(
                            "The %(side)s budget (%(budget)s) must equal the %(side)s tranches (%(total)s)."
                        )
                        % {"side": side, "budget": f"{budget:,}", "total": f"{total:,}"}
                    ),
                )
            )
    if any(amount < 0 for amount in plan.budget.values()):
        problems.append(Problem("changes", str(_("No budget line may be negative."))))
    months = sum(s.months for s in plan.stages)
    if months > bounds.max_project_months:
        problems.append(
            Problem(
                "changes",
                str(
                    _(
                        "The stages would last %(months)d months, above the call's maximum of %(max)d."
                    )
                    % {"months": months, "max": bounds.max_project_months}
                ),
            )
        )
    return problems


def touched_stages(changes: Sequence[Any]) -> set[int]:
    """The stage numbers a change set names directly (for the amendment lists)."""
    return {
        int(c["stage"]) for c in changes if isinstance(c, dict) and _int(c.get("stage")) is not None
    }
