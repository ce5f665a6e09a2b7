"""The structural rules of a proposal (§5, §6 eligibility), as pure functions.

Each rule takes plain values and returns a list of ``Problem`` (field path + message), so
the same rule gives the same translated, field-level answer in the browser and the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.problems import Problem

NAME_LANGUAGES = ("en", "ja", "ko")
MAX_KPIS_PER_STAGE = 10
MIN_KPIS_PER_STAGE = 1
ABSOLUTE_MIN_STAGES = 2
ABSOLUTE_MAX_STAGES = 5


@dataclass(frozen=True)
class MemberFacts:
    organisation_id: int
    country: str
    role: str  # lead_jp | lead_kr | partner | in_kind


@dataclass(frozen=True)
class StageFacts:
    number: int
    months: int
    planned_jpy: int
    planned_krw: int
    kpi_count: int


@dataclass(frozen=True)
class BudgetFacts:
    organisation_id: int
    country: str
    currency: str
    amount: int


@dataclass(frozen=True)
class CallBounds:
    min_stages: int
    max_stages: int
    max_project_months: int
    max_budget_jpy: int
    max_budget_krw: int


def consortium_problems(members: Sequence[MemberFacts], *, complete: bool) -> list[Problem]:
    """Roles fit countries; no organisation twice; at most one lead per side.

    With ``complete`` (at submission) there must be exactly one JP lead and one KR lead.
    """
    problems: list[Problem] = []
    seen: set[int] = set()
    for i, m in enumerate(members):
        if m.organisation_id in seen:
            problems.append(
                Problem(
                    f"members.{i}.organisation",
                    str(_("This organisation is already in the consortium.")),
                )
            )
        seen.add(m.organisation_id)
        if m.role == "lead_jp" and m.country != "JP":
            problems.append(
                Problem(
                    f"members.{i}.role",
                    str(_("The Japanese lead must be an organisation in Japan.")),
                )
            )
        if m.role == "lead_kr" and m.country != "KR":
            problems.append(
                Problem(
                    f"members.{i}.role", str(_("The Korean lead must be an organisation in Korea."))
                )
            )
        if m.role == "partner" and m.country not in ("JP", "KR"):
            problems.append(
                Problem(
                    f"members.{i}.role",
                    str(
                        _(
                            "Organisations outside Japan and Korea may join only as in-kind partners."
                        )
                    ),
                )
            )
    jp_leads = sum(1 for m in members if m.role == "lead_jp")
    kr_leads = sum(1 for m in members if m.role == "lead_kr")
    if jp_leads > 1:
        problems.append(
            Problem("members", str(_("A consortium has exactly one Japanese lead organisation.")))
        )
    if kr_leads > 1:
        problems.append(
            Problem("members", str(_("A consortium has exactly one Korean lead organisation.")))
        )
    if complete:
        if jp_leads == 0:
            problems.append(Problem("members", str(_("Name a Japanese lead organisation."))))
        if kr_leads == 0:
            problems.append(Problem("members", str(_("Name a Korean lead organisation."))))
    return problems


def non_decreasing_problems(stages: Sequence[StageFacts]) -> list[Problem]:
    """Planned tranches per side never shrink from one stage to the next (§5)."""
    problems: list[Problem] = []
    ordered = sorted(stages, key=lambda s: s.number)
    for prev, cur in zip(ordered, ordered[1:], strict=False):
        idx = cur.number - 1
        if cur.planned_jpy < prev.planned_jpy:
            problems.append(
                Problem(
                    f"stages.{idx}.planned_jpy",
                    str(
                        _("The JP tranche of stage %(n)d is smaller than that of stage %(p)d.")
                        % {"n": cur.number, "p": prev.number}
                    ),
                )
            )
        if cur.planned_krw < prev.planned_krw:
            problems.append(
                Problem(
                    f"stages.{idx}.planned_krw",
                    str(
                        _("The KR tranche of stage %(n)d is smaller than that of stage %(p)d.")
                        % {"n": cur.number, "p": prev.number}
                    ),
                )
            )
    return problems


def stage_plan_problems(
    stages: Sequence[StageFacts], call: CallBounds, *, complete: bool
) -> list[Problem]:
    problems: list[Problem] = []
    if len(stages) > min(call.max_stages, ABSOLUTE_MAX_STAGES):
        problems.append(
            Problem(
                "stages",
                str(
                    _("This call allows at most %(n)d stages.")
                    % {"n": min(call.max_stages, ABSOLUTE_MAX_STAGES)}
                ),
            )
        )
    for i, s in enumerate(stages):
        if s.kpi_count > MAX_KPIS_PER_STAGE:
            problems.append(Problem(f"stages.{i}.kpis", str(_("A stage has at most 10 KPIs."))))
    if not complete:
        return problems
    if len(stages) < max(call.min_stages, ABSOLUTE_MIN_STAGES):
        problems.append(
            Problem(
                "stages",
                str(
                    _("This call needs at least %(n)d stages.")
                    % {"n": max(call.min_stages, ABSOLUTE_MIN_STAGES)}
                ),
            )
        )
    for i, s in enumerate(stages):
        if s.kpi_count < MIN_KPIS_PER_STAGE:
            problems.append(
                Problem(f"stages.{i}.kpis", str(_("Every stage needs at least one KPI.")))
            )
    problems.extend(non_decreasing_problems(stages))
    total_months = sum(s.months for s in stages)
    if total_months > call.max_project_months:
        problems.append(
            Problem(
                "stages",
                str(
                    _("The stages last %(m)d months; this call allows at most %(max)d.")
                    % {"m": total_months, "max": call.max_project_months}
                ),
            )
        )
    total_jpy = sum(s.planned_jpy for s in stages)
    total_krw = sum(s.planned_krw for s in stages)
    if total_jpy > call.max_budget_jpy:
        problems.append(
            Problem(
                "stages",
                str(_("The JP tranches add up to more than the call's maximum JP budget.")),
            )
        )
    if total_krw > call.max_budget_krw:
        problems.append(
            Problem(
                "stages",
                str(_("The KR tranches add up to more than the call's maximum KR budget.")),
            )
        )
    if total_jpy <= 0:
        problems.append(Problem("stages", str(_("Plan JP funding in at least one stage."))))
    if total_krw <= 0:
        problems.append(Problem("stages", str(_("Plan KR funding in at least one stage."))))
    return problems


def budget_problems(
    lines: Sequence[BudgetFacts], stages: Sequence[StageFacts], *, complete: bool
) -> list[Problem]:
    """Each funded organisation budgets in its side's currency; each side's budget equals its tranches.

    The budget is what splits a side's tranche over its organisations (§5), so it must add
    up to exactly the money planned for that side.
    """
    problems: list[Problem] = []
    for i, line in enumerate(lines):
        if line.country not in ("JP", "KR"):
            problems.append(
                Problem(
                    f"budget.{i}.organisation",
                    str(_("In-kind partners outside Japan and Korea receive no funding.")),
                )
            )
        expected = "JPY" if line.country == "JP" else "KRW"
        if line.country in ("JP", "KR") and line.currency != expected:
            problems.append(
                Problem(
                    f"budget.{i}.currency",
                    str(_("Organisations in Japan budget in JPY, organisations in Korea in KRW.")),
                )
            )
    if not complete:
        return problems
    if not lines:
        problems.append(
            Problem(
                "budget",
                str(_("The budget is empty: add each funded organisation's lines by category.")),
            )
        )
    budget_jpy = sum(line.amount for line in lines if line.currency == "JPY")
    budget_krw = sum(line.amount for line in lines if line.currency == "KRW")
    planned_jpy = sum(s.planned_jpy for s in stages)
    planned_krw = sum(s.planned_krw for s in stages)
    if budget_jpy != planned_jpy:
        problems.append(
            Problem(
                "budget",
                str(
                    _("The JP budget (¥%(b)s) must equal the JP tranches (¥%(p)s).")
                    % {"b": f"{budget_jpy:,}", "p": f"{planned_jpy:,}"}
                ),
            )
        )
    if budget_krw != planned_krw:
        problems.append(
            Problem(
                "budget",
                str(
                    _("The KR budget (₩%(b)s) must equal the KR tranches (₩%(p)s).")
                    % {"b": f"{budget_krw:,}", "p": f"{planned_krw:,}"}
                ),
            )
        )
    return problems


def effort_problems(
    claimed: dict[int, int], this: dict[int, int], names: dict[int, str]
) -> list[Problem]:
    """The e-Rad rule: a person's effort over active projects and pending proposals ≤ 100%."""
    problems: list[Problem] = []
    for user_id, effort in this.items():
        total = claimed.get(user_id, 0) + effort
        if total > 100:
            problems.append(
                Problem(
                    "people",
                    str(
                        _(
                            "%(name)s would commit %(total)d%% of their time (at most 100%% across active projects and pending proposals)."
                        )
                        % {"name": names.get(user_id, "?"), "total": total}
                    ),
                )
            )
    return problems


def kpi_problems(
    prefix: str, *, baseline: Decimal, target: Decimal, weight: Decimal, direction: str = ""
) -> list[Problem]:
    """Target ≠ baseline, positive weight, and a target on the side the direction names:
    the gate formula (§8) reads achievement from the target's side of the baseline."""
    problems: list[Problem] = []
    if target == baseline:
        problems.append(
            Problem(f"{prefix}.target", str(_("The target must differ from the baseline.")))
        )
    elif direction == "higher_is_better" and target < baseline:
        problems.append(
            Problem(
                f"{prefix}.target",
                str(_("For a KPI where higher is better, the target must be above the baseline.")),
            )
        )
    elif direction == "lower_is_better" and target > baseline:
        problems.append(
            Problem(
                f"{prefix}.target",
                str(_("For a KPI where lower is better, the target must be below the baseline.")),
            )
        )
    if weight <= 0:
        problems.append(
            Problem(f"{prefix}.weight", str(_("The weight must be greater than zero.")))
        )
    return problems


def kpi_evidence_problems(prefix: str, *, mandatory: bool, evidence: str) -> list[Problem]:
    """A mandatory KPI needs at least ``document`` (§22): money follows it, so each of its
    measurements must carry an evidence file or a verifier's attestation."""
    if mandatory and evidence == "none":
        return [
            Problem(
                f"{prefix}.evidence",
                str(
                    _(
                        "A mandatory KPI needs evidence behind each measurement: choose an "
                        "evidence file or an independent verifier's attestation, or make the "
                        "KPI optional."
                    )
                ),
            )
        ]
    return []


def kpi_name_problems(prefix: str, names: dict[str, str], *, language: str = "en") -> list[Problem]:
    """A KPI is named in at least one of English, Japanese and Korean (§5), not necessarily
    English. The message goes on the name field of the reader's ``language``, the one they
    most likely meant to fill in."""
    if any(names.get(lang) for lang in NAME_LANGUAGES):
        return []
    field = f"name_{language}" if language in NAME_LANGUAGES else "name_en"
    return [
        Problem(
            f"{prefix}.{field}",
            str(_("Give the KPI a name in at least one language (English, Japanese or Korean).")),
        )
    ]
