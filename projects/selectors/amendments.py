"""Reading amendments (§24): a project's list, one amendment for an actor (404 for a project
one may not see, or an amendment of another project), its diff as lines a person reads in
their language, and the choices of the propose forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from fundapp.accounts.models import Organisation, Side
from fundapp.actors import Actor
from fundapp.errors import NotFound
from fundapp.kernel.approvals import LIVE_STATES
from fundapp.money import format_amount
from projects.models import (
    KPI,
    Amendment,
    AmendmentDecision,
    BudgetCategory,
    EvidenceLevel,
    Project,
    ProjectOrganisation,
    Stage,
)
from projects.selectors.projects import projects_visible_to

CURRENCY = {"JP": "JPY", "KR": "KRW"}


def project_amendments(project: Project) -> QuerySet[Amendment]:
    """The project's amendments, newest first, with who proposed them and their approvals
    (two queries whatever their number)."""
    return (
        Amendment.objects.filter(project=project)
        .select_related("proposed_by")
        .prefetch_related(
            Prefetch(
                "decisions",
                queryset=AmendmentDecision.objects.select_related(
                    "first_officer", "second_officer", "declined_by"
                ).order_by("-first_at", "-id"),
            )
        )
        .order_by("-proposed_at", "-id")
    )


def amendments_visible_to(actor: Actor | None) -> QuerySet[Amendment]:
    """Amendments of the projects the actor sees (one SQL filter)."""
    return Amendment.objects.filter(project__in=projects_visible_to(actor).values("pk"))


def get_amendment_for_actor(actor: Actor | None, project: Project, pk: object) -> Amendment:
    """An amendment of ``project`` (which the caller already resolved for ``actor``);
    missing and of another project give the same 404."""
    try:
        pk_int = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None
    amendment = project_amendments(project).filter(pk=pk_int).first()
    if amendment is None:
        raise NotFound()
    return amendment


def amendment_decision_shown(amendment: Amendment) -> AmendmentDecision | None:
    """The decision the page shows: the live one, else the latest that ended."""
    decisions = list(amendment.decisions.all())
    live = [d for d in decisions if d.state in LIVE_STATES]
    return live[0] if live else (decisions[0] if decisions else None)


@dataclass(frozen=True)
class DiffLine:
    what: str
    before: str
    after: str
    kind: str


def _organisation_names(ids: set[int]) -> dict[int, str]:
    return {o.pk: o.name for o in Organisation.objects.filter(pk__in=sorted(ids))}


def diff_lines(amendment: Amendment) -> list[DiffLine]:
    """The amendment's diff, one line per changed value, in the active language (one
    query for the KPIs, one for the organisations, one for their sides)."""
    diff = amendment.diff or []
    kpi_ids = {int(line["subject"]) for line in diff if line["kind"] == "kpi"}
    kpis = {k.pk: k for k in KPI.objects.filter(pk__in=sorted(kpi_ids))} if kpi_ids else {}
    org_ids = {
        int(line["subject"].split(":")[0]) for line in diff if line["kind"] in ("budget", "partner")
    }
    names = _organisation_names(org_ids) if org_ids else {}
    sides = (
        dict(Organisation.objects.filter(pk__in=sorted(org_ids)).values_list("pk", "side"))
        if org_ids
        else {}
    )
    categories = dict(BudgetCategory.choices)
    levels = dict(EvidenceLevel.choices)
    fields = {"target": _("target"), "weight": _("weight"), "evidence": _("evidence level")}
    lines: list[DiffLine] = []
    for line in diff:
        kind, subject, before, after = line["kind"], line["subject"], line["before"], line["after"]
        if kind == "kpi":
            kpi = kpis.get(int(subject))
            label = f"{kpi.code} · {kpi.name}" if kpi else subject
            what = _("KPI %(kpi)s: %(field)s") % {"kpi": label, "field": fields[line["field"]]}
            if line["field"] == "evidence":
                before, after = levels.get(before, before), levels.get(after, after)
            lines.append(DiffLine(what, str(before), str(after), kind))
        elif kind == "stage":
            what = _("Stage %(n)s: months") % {"n": subject}
            lines.append(DiffLine(what, str(before), str(after), kind))
        elif kind == "tranche":
            number, side = subject.split(":")
            currency = CURRENCY.get(side, "JPY")
            what = _("Stage %(n)s: planned tranche, %(side)s") % {
                "n": number,
                "side": Side(side).label,
            }
            lines.append(
                DiffLine(
                    what, format_amount(before, currency), format_amount(after, currency), kind
                )
            )
        elif kind == "budget":
            org, category = subject.split(":")
            currency = CURRENCY.get(sides.get(int(org), "JP"), "JPY")
            what = _("Budget of %(organisation)s: %(category)s") % {
                "organisation": names.get(int(org), org),
                "category": categories.get(category, category),
            }
            lines.append(
                DiffLine(
                    what, format_amount(before, currency), format_amount(after, currency), kind
                )
            )
        elif kind == "partner":
            what = _("Partner: %(organisation)s") % {
                "organisation": names.get(int(subject), subject)
            }
            lines.append(
                DiffLine(
                    what,
                    _("in the consortium") if before else "—",
                    _("in the consortium") if after else "—",
                    kind,
                )
            )
    return lines


def propose_choices(project: Project) -> dict[str, list[tuple[Any, str]]]:
    """The choices of the propose forms: the project's KPIs and stages, its organisations,
    and the JP and KR organisations that could join (a fixed number of queries)."""
    kpis = [(k.pk, f"{k.code} · {k.name}") for k in KPI.objects.filter(project=project)]
    stages = [
        (s.number, _("Stage %(n)d") % {"n": s.number})
        for s in Stage.objects.filter(project=project).order_by("number")
    ]
    members = [
        (m.organisation_id, m.organisation.name)
        for m in ProjectOrganisation.objects.filter(project=project)
        .exclude(currency="")
        .select_related("organisation")
        .order_by("order", "id")
    ]
    partners = [
        (m.organisation_id, m.organisation.name)
        for m in ProjectOrganisation.objects.filter(project=project, role="partner")
        .select_related("organisation")
        .order_by("order", "id")
    ]
    member_ids = {pk for pk, _name in members}
    newcomers = [
        (o.pk, o.name)
        for o in Organisation.objects.filter(side__in=[Side.JP, Side.KR]).order_by("pk")[:200]
        if o.pk not in member_ids
    ]
    return {
        "kpi": kpis,
        "stage": stages,
        "evidence": [("", "—"), *[(v, str(label)) for v, label in EvidenceLevel.choices]],
        "side": [(Side.JP.value, str(Side.JP.label)), (Side.KR.value, str(Side.KR.label))],
        "from_organisation": members,
        "to_organisation": members,
        "organisation": members,
        "partner_add.organisation": newcomers,
        "partner_remove.organisation": partners,
    }
