"""Stage reports and spending against release (§24), read set-based.

A report's **statement** has one row per funded organisation of the consortium and budget
category that has a budget or a spending line:

- ``budget``: the award's budget line (the frozen proposal's ``BudgetLine``);
- ``released``: the organisation's share of the tranches of this and earlier stages that
  were released to it (its disbursements, payable or paid; a cancelled one was clawed back
  and is not counted), split over its categories in proportion to their budgets by the
  largest-remainder method (``fundapp.ledger.rules.largest_remainder_split``), so the
  parts sum exactly to what the ledger released to it;
- ``spent``: what the consortium entered (cumulative since the project started).

All in whole yen or won of the organisation's side. Totals per organisation and per side
are sums of those integers. ``statement`` reads four queries whatever the number of
organisations and lines.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils.translation import gettext as _

from fundapp.accounts.models import Organisation, Side
from fundapp.actors import Actor
from fundapp.errors import NotFound
from fundapp.ledger.rules import largest_remainder_split
from projects.models import (
    REPORT_DUE_DAYS_BEFORE_GATE,
    BudgetCategory,
    BudgetLine,
    Disbursement,
    DisbursementState,
    Project,
    ProjectOrganisation,
    Stage,
    StageReport,
    StatementLine,
)
from projects.selectors.finance_csv import csv_cell

CATEGORY_ORDER = list(BudgetCategory.values)


def report_due_on(gate_day: date) -> date:
    """The day a stage's report is due: 14 days before its gate day (§24)."""
    return gate_day - timedelta(days=REPORT_DUE_DAYS_BEFORE_GATE)


def report_queryset() -> QuerySet[StageReport]:
    return StageReport.objects.select_related("stage", "stage__gate", "project")


def project_reports(project: Project) -> list[StageReport]:
    """The project's reports, by stage (one query)."""
    return list(report_queryset().filter(project=project).order_by("stage__number"))


def get_report_for_actor(actor: Actor | None, project: Project, report_id: object) -> StageReport:
    """A report of a project the caller can already see (``get_project_for_actor``);
    another project's report is the same 404 as a missing one."""
    try:
        pk = int(str(report_id))
    except (TypeError, ValueError):
        raise NotFound() from None
    report = report_queryset().filter(project=project, pk=pk).first()
    if report is None:
        raise NotFound()
    return report


@dataclass(frozen=True)
class StageDue:
    """A stage of the project whose report the consortium owes or has filed."""

    stage: Stage
    gate_day: date
    due_on: date
    report: StageReport | None


def stages_with_reports(project: Project) -> list[StageDue]:
    """Every stage of the project with its gate day, its report's due date and its report
    (two queries)."""
    reports = {r.stage_id: r for r in project_reports(project)}
    stages = Stage.objects.filter(project=project).select_related("gate").order_by("number")
    return [
        StageDue(
            stage=s,
            gate_day=s.gate.due_on,
            due_on=report_due_on(s.gate.due_on),
            report=reports.get(s.pk),
        )
        for s in stages
    ]


# --------------------------------------------------------------------------- the statement


@dataclass(frozen=True)
class StatementRow:
    organisation_id: int
    category: str
    budget: int
    released: int
    spent: int

    @property
    def category_label(self) -> str:
        return str(BudgetCategory(self.category).label)

    @property
    def spent_of_released(self) -> Decimal | None:
        return spent_ratio(self.spent, self.released)


def spent_ratio(spent: int, released: int) -> Decimal | None:
    """Spent ÷ released, rounded half up to 4 decimals (shown as a percentage); none
    when nothing was released."""
    if released <= 0:
        return None
    return (Decimal(spent) / Decimal(released)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


@dataclass
class Totals:
    label: str
    currency: str
    budget: int = 0
    released: int = 0
    spent: int = 0

    def add(self, row: StatementRow) -> None:
        self.budget += row.budget
        self.released += row.released
        self.spent += row.spent

    @property
    def spent_of_released(self) -> Decimal | None:
        return spent_ratio(self.spent, self.released)


@dataclass
class OrganisationStatement:
    organisation: Organisation
    side: str
    currency: str
    rows: list[StatementRow] = field(default_factory=list)
    totals: Totals | None = None

    @property
    def label(self) -> str:
        return self.organisation.name


@dataclass
class Statement:
    """A report's statement: per organisation (consortium order), per side (JP, KR)."""

    organisations: list[OrganisationStatement]
    sides: list[Totals]

    def rows(self) -> list[StatementRow]:
        return [row for o in self.organisations for row in o.rows]

    def chart_rows(self, currency: str) -> list[Totals]:
        """The per-organisation totals of one currency (a side), for its chart."""
        return [o.totals for o in self.organisations if o.currency == currency and o.totals]


def _side_label(side: str) -> str:
    return str(Side(side).label) if side in Side.values else side


def statement(report: StageReport) -> Statement:
    """The report's statement (module docstring): four queries (organisations, budget
    lines, released amounts, spending lines), whatever their number."""
    project_id = report.project_id
    members = list(
        ProjectOrganisation.objects.filter(project_id=project_id)
        .exclude(currency="")
        .select_related("organisation")
        .order_by("order", "id")
    )
    budgets: dict[int, dict[str, int]] = defaultdict(dict)
    for org_id, category, amount in BudgetLine.objects.filter(
        proposal_id=report.project.proposal_id
    ).values_list("organisation_id", "category", "amount"):
        budgets[org_id][category] = int(amount)
    released = dict(
        Disbursement.objects.filter(
            tranche__project_id=project_id, tranche__stage__number__lte=report.stage.number
        )
        .exclude(state=DisbursementState.CANCELLED)
        .values("organisation_id")
        .annotate(total=Sum("amount"))
        .values_list("organisation_id", "total")
        .order_by()
    )
    spent: dict[tuple[int, str], int] = {
        (org_id, category): int(amount)
        for org_id, category, amount in StatementLine.objects.filter(report=report).values_list(
            "organisation_id", "category", "spent"
        )
    }
    sides: dict[str, Totals] = {}
    organisations = []
    for member in members:
        org_budget = budgets.get(member.organisation_id, {})
        categories = [
            c
            for c in CATEGORY_ORDER
            if org_budget.get(c, 0) > 0 or (member.organisation_id, c) in spent
        ]
        weights = [org_budget.get(c, 0) for c in categories]
        org_released = int(released.get(member.organisation_id) or 0)
        if sum(weights) > 0:
            parts = largest_remainder_split(org_released, weights)
        else:
            # No budget to weigh by: what was released shows against the first line.
            parts = [org_released if i == 0 else 0 for i in range(len(categories))]
        block = OrganisationStatement(
            organisation=member.organisation,
            side=member.side,
            currency=member.currency,
            totals=Totals(label=member.organisation.name, currency=member.currency),
        )
        for category, budget, part in zip(categories, weights, parts, strict=True):
            row = StatementRow(
                organisation_id=member.organisation_id,
                category=category,
                budget=budget,
                released=part,
                spent=spent.get((member.organisation_id, category), 0),
            )
            block.rows.append(row)
            assert block.totals is not None
            block.totals.add(row)
        if not categories and org_released:
            # Released money with no budget line at all still counts in the totals.
            assert block.totals is not None
            block.totals.released += org_released
        side = sides.setdefault(
            member.side, Totals(label=_side_label(member.side), currency=member.currency)
        )
        assert block.totals is not None
        side.budget += block.totals.budget
        side.released += block.totals.released
        side.spent += block.totals.spent
        organisations.append(block)
    ordered_sides = [sides[s] for s in ("JP", "KR") if s in sides]
    return Statement(organisations=organisations, sides=ordered_sides)


def line_keys(report: StageReport) -> set[tuple[int, str]]:
    """The (organisation, category) pairs a complete statement has a line for: every
    budgeted category of every funded organisation (one query)."""
    funded = ProjectOrganisation.objects.filter(project_id=report.project_id).exclude(currency="")
    return {
        (org_id, category)
        for org_id, category in BudgetLine.objects.filter(
            proposal_id=report.project.proposal_id,
            organisation_id__in=funded.values("organisation_id"),
            amount__gt=0,
        ).values_list("organisation_id", "category")
    }


def reports_owing(project_ids: list[int]) -> Q:
    """The filter on stages whose report is still owed: none yet, a draft, or returned."""
    return Q(project_id__in=project_ids) & (
        Q(report__isnull=True) | Q(report__state__in=["draft", "returned"])
    )


# --------------------------------------------------------------------------- exports


def export_header() -> list[str]:
    """The export's column names, in the active language."""
    return [
        _("Organisation"),
        _("Organisation code"),
        _("Side"),
        _("Currency"),
        _("Budget category"),
        _("Budget"),
        _("Released"),
        _("Spent"),
        _("Spent of released (%)"),
    ]


def percent(ratio: Decimal | None) -> str:
    """A spent-of-released ratio as a percentage with one decimal (half up), or empty."""
    if ratio is None:
        return ""
    return f"{(ratio * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}"


def export_rows(found: Statement) -> list[list[Any]]:
    """The statement as rows of plain values: each line, then each organisation's total,
    then each side's total. Text a spreadsheet would run as a formula is defused."""
    rows: list[list[Any]] = []
    all_categories = _("All categories")
    for block in found.organisations:
        name, code = csv_cell(block.organisation.name), csv_cell(block.organisation.code)
        side = _side_label(block.side)
        for row in block.rows:
            rows.append(
                [
                    name,
                    code,
                    side,
                    block.currency,
                    row.category_label,
                    row.budget,
                    row.released,
                    row.spent,
                    percent(row.spent_of_released),
                ]
            )
        totals = block.totals
        assert totals is not None
        rows.append(
            [
                name,
                code,
                side,
                block.currency,
                all_categories,
                totals.budget,
                totals.released,
                totals.spent,
                percent(totals.spent_of_released),
            ]
        )
    for totals in found.sides:
        rows.append(
            [
                _("All organisations of the side"),
                "",
                totals.label,
                totals.currency,
                all_categories,
                totals.budget,
                totals.released,
                totals.spent,
                percent(totals.spent_of_released),
            ]
        )
    return rows


def csv_document(header: list[str], rows: Iterable[list[Any]]) -> str:
    """A CSV document with a UTF-8 BOM (so Excel reads the encoding), like the
    transactions CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return codecs.BOM_UTF8.decode("utf-8") + out.getvalue()


def statement_csv(found: Statement) -> str:
    """The statement as CSV in the active language."""
    return csv_document(export_header(), export_rows(found))


def statement_xlsx(found: Statement, *, title: str) -> bytes:
    """The statement as an XLSX workbook in the active language: one sheet, the header in
    bold, amounts as whole numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    # Sheet titles are at most 31 characters and may not hold []:*?/\ .
    sheet.title = "".join(c for c in title if c not in "[]:*?/\\")[:31] or "Sheet1"
    sheet.append(export_header())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in export_rows(found):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
