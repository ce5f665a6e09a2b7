"""Demo stage reports (§24, §20), through the report services:

- the edge-AI project's stage-1 report: its gate falls due about now, so the report (due 14
  days before) is **overdue**; the PI has started it (a draft with a narrative, no
  spending yet), and the daily reminder job has recorded it as overdue (the
  ``report.overdue`` notification and webhook event);
- the hydrogen-tank project's stage-2 report: a **spending statement** for every budgeted
  category of every organisation (spent against the stage-1 and stage-2 releases),
  submitted to the fund officers.

Idempotent: a report that exists is left as it is, and reminders are sent once each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fundapp.accounts.models import User
from ip_licensing.services.licences import tokyo_today
from projects.models import Project, ProjectPerson, Stage, StageReport
from projects.selectors.reports import statement
from projects.services import reports as report_services

if TYPE_CHECKING:
    from .seed import SeedReport


def _project(title_en: str) -> Project | None:
    return Project.objects.filter(proposal__title_en=title_en).first()


def _pi(project: Project) -> User | None:
    person = (
        ProjectPerson.objects.filter(project=project, role="pi", user__is_active=True)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    return person.user if person is not None else None


def seed_stage_reports(report: SeedReport, *, title_overdue: str, title_statement: str) -> None:
    """The two demo reports (module docstring), then the day's reminder run."""
    made = False
    overdue = _project(title_overdue)
    if overdue is not None and (pi := _pi(overdue)) is not None:
        stage = Stage.objects.select_related("gate").get(project=overdue, number=1)
        if not StageReport.objects.filter(stage=stage).exists():
            report_services.report_open(
                project=overdue,
                stage=stage,
                actor=pi,
                narrative={
                    "en": "The macro is taped out; the field pilot starts next month.",
                    "ja": "マクロのテープアウトが完了し、来月からフィールド試験を始めます。",
                },
            )
            made = True
    spending = _project(title_statement)
    if spending is not None and (pi := _pi(spending)) is not None:
        second = Stage.objects.select_related("gate").filter(project=spending, number=2).first()
        if second is not None and not StageReport.objects.filter(stage=second).exists():
            draft = report_services.report_open(
                project=spending,
                stage=second,
                actor=pi,
                narrative={
                    "en": "Tank cycling is on plan; the port trial consumed most of the travel "
                    "budget early.",
                    "ko": "탱크 반복 시험은 계획대로 진행 중이며, 항만 시험으로 여비를 "
                    "조기에 많이 사용했습니다.",
                },
            )
            # What each organisation spent of what it was released: 60 % of each category
            # (floor), travel 95 %.
            lines = [
                {
                    "organisation": row.organisation_id,
                    "category": row.category,
                    "spent": row.released * (95 if row.category == "travel" else 60) // 100,
                }
                for row in statement(draft).rows()
            ]
            draft = report_services.statement_lines_set(report=draft, actor=pi, lines=lines)
            report_services.report_submit(report=draft, actor=pi)
            made = True
    report.made("stage reports", made)
    sent = report_services.report_reminders_send(today=tokyo_today())
    report.made("stage report reminders", any(sent.values()))
