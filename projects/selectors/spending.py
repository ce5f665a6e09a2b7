"""The fund-wide spending view (§24, RCMS-style): per project and per side, the award's
budget, what was released, what the consortium reported spent, and the state of its
latest stage report, for fund and finance officers.

- ``budget``: the award's budget lines of the side's organisations;
- ``released``: the side's disbursements of the project (payable or paid; a cancelled one
  was clawed back and is not counted);
- ``spent``: the spending lines of the project's latest stage report (the highest stage
  with a report, whatever its state: the lines are cumulative since the project started),
  of the side's organisations;
- ``spent_of_released``: spent ÷ released, rounded half up to 4 decimals (none when
  nothing was released), as the report statements show it (``spent_ratio``).

All in whole yen or won of the side. One statement computes the page (filtered, sorted
and cut in SQL) and one counts the rows, whatever the number of projects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, overload

from django.db import connection
from django.utils.translation import gettext as _

from fundapp.accounts.models import Side
from fundapp.kernel.models import localized
from projects.models import (
    BudgetLine,
    Disbursement,
    DisbursementState,
    Project,
    ProjectOrganisation,
    ReportState,
    Stage,
    StageReport,
    StatementLine,
    Tranche,
)
from projects.selectors.finance_csv import csv_cell
from projects.selectors.reports import csv_document, percent, spent_ratio

# The latest report's state, or none filed yet.
NO_REPORT = "none"
SORTS = {
    "project": "p.project_id",
    "budget": "budget",
    "released": "released",
    "spent": "spent",
    "ratio": "ratio",
}
DEFAULT_SORT = "project"


@dataclass(frozen=True)
class SpendingFilter:
    """What the reader asked for, already checked: sides within the reader's own."""

    sides: tuple[str, ...]
    call_id: int | None = None
    report_state: str = ""  # a ReportState value, NO_REPORT, or "" for any
    sort: str = DEFAULT_SORT  # a key of SORTS, "-" in front for descending


@dataclass(frozen=True)
class SpendingRow:
    project_id: int
    title_en: str
    title_ja: str
    title_ko: str
    call_id: int
    side: str
    currency: str
    budget: int
    released: int
    spent: int
    report_state: str | None

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def spent_of_released(self) -> Decimal | None:
        return spent_ratio(self.spent, self.released)

    @property
    def report_state_label(self) -> str:
        if self.report_state is None:
            return _("No report yet")
        return str(ReportState(self.report_state).label)


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        name: quote(model._meta.db_table)
        for name, model in {
            "project": Project,
            "member": ProjectOrganisation,
            "budget": BudgetLine,
            "disbursement": Disbursement,
            "tranche": Tranche,
            "report": StageReport,
            "stage": Stage,
            "line": StatementLine,
        }.items()
    }


def _query(wanted: SpendingFilter) -> tuple[str, list[Any]]:
    """The rows' statement (without order and limit) and its parameters."""
    t = _tables()
    # Only table names from the models' metadata go into the text; values are parameters.
    sql = f"""
WITH members AS (
    SELECT m.project_id, m.side, m.currency, m.organisation_id
    FROM {t["member"]} m
    WHERE m.currency <> '' AND m.side = ANY(%s)
), sides AS (
    SELECT DISTINCT project_id, side, currency FROM members
), budget AS (
    SELECT m.project_id, m.side, SUM(b.amount) AS amount
    FROM members m
    JOIN {t["project"]} p ON p.id = m.project_id
    JOIN {t["budget"]} b ON b.proposal_id = p.proposal_id
        AND b.organisation_id = m.organisation_id
    GROUP BY m.project_id, m.side
), released AS (
    SELECT tr.project_id, tr.side, SUM(d.amount) AS amount
    FROM {t["disbursement"]} d
    JOIN {t["tranche"]} tr ON tr.id = d.tranche_id
    WHERE d.state <> %s AND tr.side = ANY(%s)
    GROUP BY tr.project_id, tr.side
), latest AS (
    SELECT DISTINCT ON (r.project_id) r.project_id, r.id, r.state
    FROM {t["report"]} r
    JOIN {t["stage"]} s ON s.id = r.stage_id
    ORDER BY r.project_id, s.number DESC
), spent AS (
    SELECT l.project_id, m.side, SUM(x.spent) AS amount
    FROM latest l
    JOIN {t["line"]} x ON x.report_id = l.id
    JOIN members m ON m.project_id = l.project_id AND m.organisation_id = x.organisation_id
    GROUP BY l.project_id, m.side
), rows AS (
    SELECT p.id AS project_id, p.title_en, p.title_ja, p.title_ko, p.call_id,
        s.side, s.currency,
        COALESCE(b.amount, 0) AS budget,
        COALESCE(rl.amount, 0) AS released,
        COALESCE(sp.amount, 0) AS spent,
        l.state AS report_state,
        COALESCE(sp.amount, 0)::numeric / NULLIF(COALESCE(rl.amount, 0), 0) AS ratio
    FROM sides s
    JOIN {t["project"]} p ON p.id = s.project_id
    LEFT JOIN budget b ON b.project_id = s.project_id AND b.side = s.side
    LEFT JOIN released rl ON rl.project_id = s.project_id AND rl.side = s.side
    LEFT JOIN spent sp ON sp.project_id = s.project_id AND sp.side = s.side
    LEFT JOIN latest l ON l.project_id = s.project_id
    WHERE (%s::bigint IS NULL OR p.call_id = %s::bigint)
        AND (%s = '' OR COALESCE(l.state, %s) = %s)
)
SELECT project_id, title_en, title_ja, title_ko, call_id, side, currency, budget, released,
    spent, report_state
FROM rows p
"""  # noqa: S608 - our own table names
    params: list[Any] = [
        list(wanted.sides),
        DisbursementState.CANCELLED.value,
        list(wanted.sides),
        wanted.call_id,
        wanted.call_id,
        wanted.report_state,
        NO_REPORT,
        wanted.report_state,
    ]
    return sql, params


def _order(sort: str) -> str:
    descending = sort.startswith("-")
    column = SORTS.get(sort.lstrip("-"), SORTS[DEFAULT_SORT])
    direction = "DESC NULLS LAST" if descending else "ASC NULLS LAST"
    # Ties (and the two sides of a project) in a stable order: project, then JP before KR.
    return f"ORDER BY {column} {direction}, p.project_id, p.side"


class SpendingRows:
    """The rows of a filter, read lazily for Django's ``Paginator``: ``count()`` is one
    query, a slice another (sorted and cut in SQL)."""

    def __init__(self, wanted: SpendingFilter) -> None:
        self.wanted = wanted
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            if not self.wanted.sides:
                self._count = 0
            else:
                sql, params = _query(self.wanted)
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT count(*) FROM ({sql}) AS counted", params)  # noqa: S608
                    self._count = int(cursor.fetchone()[0])
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[SpendingRow]:
        return iter(self._read())

    @overload
    def __getitem__(self, index: int) -> SpendingRow: ...

    @overload
    def __getitem__(self, index: slice) -> list[SpendingRow]: ...

    def __getitem__(self, index: int | slice) -> SpendingRow | list[SpendingRow]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        start = index.start or 0
        stop = index.stop
        return self._read(offset=start, limit=None if stop is None else stop - start)

    def _read(self, *, offset: int = 0, limit: int | None = None) -> list[SpendingRow]:
        if not self.wanted.sides or (limit is not None and limit <= 0):
            return []
        sql, params = _query(self.wanted)
        sql = f"{sql} {_order(self.wanted.sort)} OFFSET %s"
        params = [*params, offset]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [
                SpendingRow(
                    project_id=row[0],
                    title_en=row[1],
                    title_ja=row[2],
                    title_ko=row[3],
                    call_id=row[4],
                    side=row[5],
                    currency=row[6],
                    budget=int(row[7]),
                    released=int(row[8]),
                    spent=int(row[9]),
                    report_state=row[10],
                )
                for row in cursor.fetchall()
            ]

    def all(self) -> list[SpendingRow]:
        return self._read()


def spending_rows(wanted: SpendingFilter) -> SpendingRows:
    return SpendingRows(wanted)


# --------------------------------------------------------------------------- export


def spending_header() -> list[str]:
    """The export's column names, in the active language."""
    return [
        _("Project"),
        _("Project number"),
        _("Side"),
        _("Currency"),
        _("Budget"),
        _("Released"),
        _("Spent"),
        _("Spent of released (%)"),
        _("Latest report"),
    ]


def spending_csv(rows: Sequence[SpendingRow]) -> str:
    """The rows as CSV in the active language (with a BOM), as the report statements are
    exported. Text a spreadsheet would run as a formula is defused."""
    return csv_document(
        spending_header(),
        (
            [
                csv_cell(row.title),
                row.project_id,
                str(Side(row.side).label) if row.side in Side.values else row.side,
                row.currency,
                row.budget,
                row.released,
                row.spent,
                percent(row.spent_of_released),
                row.report_state_label,
            ]
            for row in rows
        ),
    )


__all__ = [
    "NO_REPORT",
    "SORTS",
    "SpendingFilter",
    "SpendingRow",
    "SpendingRows",
    "spending_csv",
    "spending_header",
    "spending_rows",
]
