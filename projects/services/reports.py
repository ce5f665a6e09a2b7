"""Stage reports (§24): the consortium writes them, an officer accepts or returns them, and
a daily job reminds the consortium before they are due and when they are overdue.

Workflow (``projects.models.reports.REPORT_WORKFLOW``): draft → submitted (the PI) →
accepted | returned (a fund officer, with a reason) → submitted again. Every change locks
the report row first, so a line entered while the PI submits is either in the submitted
statement or refused (the database refuses a line of a report that is not open).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.errors import Conflict, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.notices import page_url
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import Event, event_record_many
from fundapp.workflow import transition
from projects.events_reports import report_due_data
from projects.models import (
    REPORT_DUE_DAYS_BEFORE_GATE,
    BudgetCategory,
    GateState,
    Project,
    ProjectOrganisation,
    ProjectState,
    ReminderKind,
    ReportReminder,
    ReportState,
    Stage,
    StageReport,
    StageState,
    StatementLine,
)
from projects.permissions import (
    can_enter_lines,
    can_review_report,
    can_write_report,
    report_is_open,
    report_role,
)
from projects.selectors.reports import line_keys, report_due_on
from projects.services.notices import (
    PeopleNotice,
    notify_people,
    notify_people_many,
    officers,
    project_organisation_ids,
    project_pis,
    project_pis_many,
)
from projects.services.reminders import reminder_due, reminders_claim

NARRATIVE_MAX_LENGTH = 20_000
REASON_MAX_LENGTH = 4000
MAX_LINES = 500
LANGUAGES = ("en", "ja", "ko")

# Reminders before the due date (days), and the days left over which each is still sent
# when the job did not run on its day: the 30-day one from 30 down to 8 days before, the
# 7-day one from 7 down to 2, the 1-day one the day before and on the day itself. After the
# due date the report is overdue (once per due date).
REMINDER_WINDOWS: tuple[tuple[str, int, int], ...] = (
    (ReminderKind.DAYS_30, 8, 30),
    (ReminderKind.DAYS_7, 2, 7),
    (ReminderKind.DAYS_1, 0, 1),
)
# Stages whose report can still be owed: running, or waiting for their gate's decision.
OWING_STAGE_STATES = (StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING)


def report_url(report: StageReport) -> str:
    return report_url_of(report.project_id, report.pk)


def report_url_of(project_id: int, report_id: int | None) -> str:
    """The report's page (or the project's reports), or "" where the pages are not routed."""
    if report_id is None:
        return page_url("reports:list", project_id)
    return page_url("reports:detail", project_id, report_id)


def _person(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _narrative(problems: Problems, narrative: Mapping[str, Any]) -> dict[str, str]:
    return {
        language: inputs.text(
            problems,
            f"narrative_{language}",
            narrative.get(language, narrative.get(f"narrative_{language}")),
            max_length=NARRATIVE_MAX_LENGTH,
        )
        for language in LANGUAGES
    }


def report_open(
    *, project: Project, stage: Stage, actor: Actor, narrative: Mapping[str, Any] | None = None
) -> StageReport:
    """The PI starts the report of a stage of the project (a draft), optionally with its
    narrative.

    Refused: 403 for anyone but the project's PIs; 422 for a stage of another project;
    409 when the stage's gate is already decided, the project is not active or the stage
    already has a report (the stage row is locked, so two PIs starting it at once make
    one). Audited on the report.
    """
    role = report_role(actor, project)
    _require(can_write_report(role))
    if stage.project_id != project.pk:
        message = _("Choose a stage of this project.")
        raise ValidationFailed(message, errors={"stage": [message]})
    problems = Problems()
    texts = _narrative(problems, narrative or {})
    if problems:
        raise ValidationFailed(_("Check the narrative."), errors=problems.as_dict())
    person = _person(actor)
    assert person is not None  # PIs are people
    with transaction.atomic():
        locked = (
            Stage.objects.select_for_update(of=("self",), no_key=True)
            .select_related("gate", "project")
            .get(pk=stage.pk)
        )
        if locked.project.state != ProjectState.ACTIVE:
            raise Conflict(
                _("Only an active project's stages are reported on."), code="project_not_active"
            )
        if locked.gate.state == GateState.DECIDED:
            raise Conflict(
                _("This stage's gate has been decided; its report can no longer be started."),
                code="gate_decided",
            )
        if StageReport.objects.filter(stage=locked).exists():
            raise Conflict(_("This stage already has a report."), code="report_exists")
        now = timezone.now()
        report = StageReport.objects.create(
            project=project,
            stage=locked,
            narrative_en=texts["en"],
            narrative_ja=texts["ja"],
            narrative_ko=texts["ko"],
            created_by=person,
            created_at=now,
            updated_at=now,
        )
        audit_record(
            actor=actor,
            action="report.created",
            obj=report,
            after={"stage": locked.number, "due_on": report_due_on(locked.gate.due_on)},
        )
    return report


def _lock_open(report: StageReport) -> StageReport:
    locked = (
        StageReport.objects.select_for_update(of=("self",))
        .select_related("project", "stage", "stage__gate")
        .get(pk=report.pk)
    )
    allowed, reason = report_is_open(locked)
    if not allowed:
        raise Conflict(reason, code="report_not_open")
    return locked


def report_update(
    *,
    report: StageReport,
    actor: Actor,
    narrative: Mapping[str, Any],
    expected_version: int | None = None,
) -> StageReport:
    """The PI rewrites the narrative (the languages given; the others stay) of an open
    report. Locks the report; ``expected_version`` (when given) older than the report's
    answers 409 and changes nothing. Audited with the languages changed."""
    _require(can_write_report(report_role(actor, report.project)))
    problems = Problems()
    given = {
        language: narrative[key]
        for language in LANGUAGES
        for key in (language, f"narrative_{language}")
        if key in narrative
    }
    texts = _narrative(problems, given)
    if problems:
        raise ValidationFailed(_("Check the narrative."), errors=problems.as_dict())
    with transaction.atomic():
        locked = _lock_open(report)
        if expected_version is not None and expected_version != locked.version:
            raise Conflict(
                _("Someone else changed this report; reload it and try again."),
                code="stale_version",
            )
        changed = [
            f"narrative_{language}"
            for language in given
            if getattr(locked, f"narrative_{language}") != texts[language]
        ]
        for language in given:
            setattr(locked, f"narrative_{language}", texts[language])
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save(update_fields=[*changed, "version", "updated_at"])
        audit_record(actor=actor, action="report.updated", obj=locked, after={"changed": changed})
    return locked


@dataclass(frozen=True)
class LineInput:
    organisation_id: int
    category: str
    spent: int


def _lines(problems: Problems, raw: Any) -> list[LineInput]:
    items = inputs.item_list(problems, "lines", raw)
    if len(items) > MAX_LINES:
        problems.add("lines", _("Enter at most %(n)d lines.") % {"n": MAX_LINES})
        return []
    found: list[LineInput] = []
    seen: set[tuple[int, str]] = set()
    for index, item in enumerate(items):
        path = f"lines.{index}"
        org = inputs.integer(problems, f"{path}.organisation", item.get("organisation"), minimum=1)
        category = inputs.choice(
            problems, f"{path}.category", item.get("category"), BudgetCategory.values
        )
        spent = inputs.amount(problems, f"{path}.spent", item.get("spent"))
        if org is None or not category:
            continue
        if (org, category) in seen:
            problems.add(path, _("This organisation and category are given twice."))
            continue
        seen.add((org, category))
        found.append(LineInput(org, category, spent))
    return found


def statement_lines_set(*, report: StageReport, actor: Actor, lines: Any) -> StageReport:
    """Enter spending lines (organisation, category, spent) of an open report; a line given
    again replaces the earlier amount, lines not given stay.

    Each organisation must be a funded organisation of the consortium (422 otherwise), and
    one the actor may enter for (403: the PIs for all, other researchers and partner
    systems for their own). Amounts are whole yen or won of the organisation's side. Locks
    the report, so the lines land in the statement before it is submitted or not at all.
    Audited with every line entered.
    """
    role = report_role(actor, report.project)
    _require(can_enter_lines(role))
    problems = Problems()
    wanted = _lines(problems, lines)
    if problems:
        raise ValidationFailed(_("Check the spending lines."), errors=problems.as_dict())
    funded = dict(
        ProjectOrganisation.objects.filter(project_id=report.project_id)
        .exclude(currency="")
        .values_list("organisation_id", "currency")
    )
    for index, line in enumerate(wanted):
        if line.organisation_id not in funded:
            problems.add(
                f"lines.{index}.organisation",
                _("Choose a funded organisation of the project's consortium."),
            )
    if problems:
        raise ValidationFailed(_("Check the spending lines."), errors=problems.as_dict())
    for line in wanted:
        _require(can_enter_lines(role, line.organisation_id))
    person = _person(actor)
    key = actor if isinstance(actor, ApiKey) else None
    with transaction.atomic():
        locked = _lock_open(report)
        now = timezone.now()
        existing = {
            (row.organisation_id, row.category): row
            for row in StatementLine.objects.filter(report=locked)
        }
        creates, updates = [], []
        for line in wanted:
            row = existing.get((line.organisation_id, line.category))
            if row is None:
                creates.append(
                    StatementLine(
                        report=locked,
                        organisation_id=line.organisation_id,
                        category=line.category,
                        currency=funded[line.organisation_id],
                        spent=line.spent,
                        updated_at=now,
                        updated_by=person,
                        updated_by_api_key=key,
                    )
                )
            elif row.spent != line.spent:
                row.spent = line.spent
                row.updated_at, row.updated_by, row.updated_by_api_key = now, person, key
                updates.append(row)
        StatementLine.objects.bulk_create(creates)
        StatementLine.objects.bulk_update(
            updates, ["spent", "updated_at", "updated_by", "updated_by_api_key"]
        )
        locked.version += 1
        locked.updated_at = now
        locked.save(update_fields=["version", "updated_at"])
        audit_record(
            actor=actor,
            action="report.statement_updated",
            obj=locked,
            after={
                "lines": [
                    {"organisation": x.organisation_id, "category": x.category, "spent": x.spent}
                    for x in wanted
                ]
            },
        )
    return locked


def _check_complete(report: StageReport) -> None:
    """A report is submitted with a narrative in at least one language and a line for every
    budgeted category of every funded organisation (spent may be 0)."""
    problems = Problems()
    if not any(getattr(report, f"narrative_{language}") for language in LANGUAGES):
        problems.add("narrative_en", _("Write the narrative in at least one language."))
    entered = set(
        StatementLine.objects.filter(report=report).values_list("organisation_id", "category")
    )
    missing = sorted(line_keys(report) - entered)
    if missing:
        names = dict(
            ProjectOrganisation.objects.filter(
                project_id=report.project_id, organisation_id__in=[m[0] for m in missing]
            ).values_list("organisation_id", "organisation__code")
        )
        for org_id, category in missing:
            problems.add(
                "lines",
                _("Enter the spending of %(organisation)s on %(category)s (0 if none).")
                % {
                    "organisation": names.get(org_id, org_id),
                    "category": BudgetCategory(category).label,
                },
            )
    if problems:
        raise ValidationFailed(
            _("The report is not complete; see the fields."),
            errors=problems.as_dict(),
            code="report_incomplete",
        )


def report_submit(*, report: StageReport, actor: Actor) -> StageReport:
    """The PI submits a draft (or a returned) report: complete (``_check_complete``, 422
    otherwise), through the workflow (the report row locked, state checked, audited
    ``report.submitted``). The fund officers are told it awaits their review."""
    _require(can_write_report(report_role(actor, report.project)))
    with transaction.atomic():
        locked = _lock_open(report)
        now = timezone.now()
        locked = transition(
            locked,
            ReportState.SUBMITTED,
            actor=actor,
            action="report.submitted",
            changes={
                "submitted_at": now,
                "submitted_by": _person(actor),
                "updated_at": now,
                "version": locked.version + 1,
            },
            guard=_check_complete,
        )
        notify_people(
            users=officers(roles=[Role.FUND_OFFICER]),
            message="report.submitted",
            params={"project": locked.project_id, "stage": report.stage.number},
            url=report_url(locked),
        )
    return locked


def report_accept(*, report: StageReport, actor: Actor) -> StageReport:
    """A fund officer accepts a submitted report (409 in any other state). Locked,
    audited ``report.accepted``; the PIs are told."""
    _require(can_review_report(actor))
    with transaction.atomic():
        now = timezone.now()
        locked = transition(
            report,
            ReportState.ACCEPTED,
            actor=actor,
            action="report.accepted",
            changes={"decided_at": now, "decided_by": _person(actor), "updated_at": now},
        )
        notify_people(
            users=project_pis(locked.project),
            message="report.accepted",
            params={"project": locked.project_id, "stage": report.stage.number},
            url=report_url(locked),
        )
    return locked


def report_return(*, report: StageReport, actor: Actor, reason: Any) -> StageReport:
    """A fund officer returns a submitted report for changes, with a reason (422 without
    one; 409 in any other state). Locked, audited ``report.returned`` with the reason;
    the PIs are told. The consortium may then change it and submit it again."""
    _require(can_review_report(actor))
    problems = Problems()
    text = inputs.text(problems, "reason", reason, max_length=REASON_MAX_LENGTH, required=True)
    if problems:
        raise ValidationFailed(_("Say what must change."), errors=problems.as_dict())
    with transaction.atomic():
        now = timezone.now()
        locked = transition(
            report,
            ReportState.RETURNED,
            actor=actor,
            action="report.returned",
            changes={
                "decided_at": now,
                "decided_by": _person(actor),
                "return_reason": text,
                "updated_at": now,
            },
        )
        notify_people(
            users=project_pis(locked.project),
            message="report.returned",
            params={"project": locked.project_id, "stage": report.stage.number, "reason": text},
            url=report_url(locked),
        )
    return locked


# --------------------------------------------------------------------------- reminders


def reminder_kind(days_left: int) -> str | None:
    """Which reminder is due with ``days_left`` days to the due date (negative: past it)."""
    return reminder_due(days_left, REMINDER_WINDOWS)


@dataclass(frozen=True)
class _Owed:
    stage_id: int
    project_id: int
    number: int
    gate_day: date
    due_on: date
    report_id: int | None
    state: str | None
    kind: str


def report_reminders_send(*, today: date) -> dict[str, list[int]]:
    """Remind the consortium of every stage report still owed (none yet, a draft or
    returned), for stages of active projects that are running or wait for their gate
    decision: 30, 7 and 1 days before the due date (14 days before the gate day), and once
    overdue. ``today`` is the fund's (Asia/Tokyo) day.

    Idempotent: each (stage, due date, kind) is one ``ReportReminder`` row, inserted with
    ``ON CONFLICT DO NOTHING`` in the same transaction as its notifications, audit events
    and outbox events, so a rerun, a redelivered task or a concurrent worker sends nothing
    twice. Set-based: a fixed number of queries whatever the number of stages.
    Returns the stage ids reminded, by kind.
    """
    horizon = today + timedelta(days=REPORT_DUE_DAYS_BEFORE_GATE + 30)
    candidates = (
        Stage.objects.filter(
            project__state=ProjectState.ACTIVE,
            state__in=OWING_STAGE_STATES,
            gate__state__in=(GateState.PENDING, GateState.EVALUATED),
            gate__due_on__lte=horizon,
        )
        .exclude(report__state__in=(ReportState.SUBMITTED, ReportState.ACCEPTED))
        .order_by("pk")
        .values_list("pk", "project_id", "number", "gate__due_on", "report__pk", "report__state")
    )
    owed: list[_Owed] = []
    for stage_id, project_id, number, gate_day, report_id, state in candidates:
        due_on = report_due_on(gate_day)
        kind = reminder_kind((due_on - today).days)
        if kind is not None:
            owed.append(
                _Owed(stage_id, project_id, number, gate_day, due_on, report_id, state, kind)
            )
    sent: dict[str, list[int]] = {str(k): [] for k in ReminderKind.values}
    if not owed:
        return sent
    with transaction.atomic():
        inserted = reminders_claim(
            ReportReminder,
            owner="stage",
            owed=[(o.stage_id, o.due_on, o.kind) for o in owed],
        )
        new = [o for o in owed if (o.stage_id, o.due_on, o.kind) in inserted]
        if not new:
            return sent
        _tell(new, today)
    for o in new:
        sent[o.kind].append(o.stage_id)
    return sent


def _tell(new: Iterable[_Owed], today: date) -> None:
    """Notifications, audit and outbox events of the reminders just recorded: four
    queries (PIs, fund officers, organisations, and the inserts) whatever their number."""
    new = list(new)
    project_ids = sorted({o.project_id for o in new})
    pis = project_pis_many(project_ids)
    overdue = [o for o in new if o.kind == ReminderKind.OVERDUE]
    fund_officers = officers(roles=[Role.FUND_OFFICER]) if overdue else []
    notices = []
    for o in new:
        late = o.kind == ReminderKind.OVERDUE
        notices.append(
            PeopleNotice(
                users=[*pis[o.project_id], *(fund_officers if late else [])],
                message="report.overdue" if late else "report.due",
                params={"project": o.project_id, "stage": o.number, "due": o.due_on.isoformat()},
                url=report_url_of(o.project_id, o.report_id),
            )
        )
    notify_people_many(notices)
    audit_record_many(
        [
            AuditEntry(
                actor=None,
                action="report.overdue"
                if o.kind == ReminderKind.OVERDUE
                else "report.reminder_sent",
                object_type=Project._meta.label_lower,
                object_id=o.project_id,
                after={"stage": o.number, "due_on": o.due_on, "reminder": o.kind},
            )
            for o in new
        ]
    )
    if overdue:
        organisations = project_organisation_ids([o.project_id for o in overdue])
        event_record_many(
            [
                Event(
                    kind="report.overdue",
                    obj=Stage(pk=o.stage_id),
                    organisation_ids=organisations[o.project_id],
                    payload=report_due_data(
                        project_id=o.project_id,
                        stage_id=o.stage_id,
                        stage_number=o.number,
                        gate_day=o.gate_day,
                        due_on=o.due_on,
                        days_overdue=(today - o.due_on).days,
                        report_id=o.report_id,
                        state=o.state,
                    ),
                )
                for o in overdue
            ]
        )
