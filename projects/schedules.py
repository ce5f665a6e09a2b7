"""Beat schedules, kept in django-celery-beat's tables so officers see them in admin (§16).

``SCHEDULES`` is the one list of periodic work; adding a periodic task is one line.
``ensure_schedules()`` makes the database match it and runs after every ``migrate``
(``ProjectsConfig.ready`` connects it to ``post_migrate``). It is idempotent: a second run
changes nothing. The schedule and task name come from this table and are put back if
edited in admin; whether a task is enabled is the operator's call and survives deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import DEFAULT_DB_ALIAS, transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Every:
    """An interval: every ``minutes`` minutes."""

    minutes: int


@dataclass(frozen=True)
class DailyAt:
    """Once a day at hour:minute in ``timezone``."""

    hour: int
    minute: int
    timezone: str = "Asia/Tokyo"


@dataclass(frozen=True)
class Schedule:
    task: str  # the registered Celery task name, also the PeriodicTask's name
    when: Every | DailyAt
    description: str


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        "projects.open_and_close_calls",
        Every(minutes=5),
        "Open and close calls by their dates (§4).",
    ),
    Schedule(
        "projects.reconcile_pending",
        Every(minutes=1),
        "Re-enqueue tranche releases the database says are still pending (§16).",
    ),
    Schedule(
        "projects.reconcile_imports",
        Every(minutes=5),
        "Re-enqueue measurement imports a lost broker message left queued (§16, §17).",
    ),
    Schedule(
        "projects.tidy_transaction_exports",
        Every(minutes=15),
        "Delete expired transaction export files, give up stuck exports and re-enqueue lost ones (§15, §16).",
    ),
    Schedule(
        "projects.expire_evidence_uploads",
        Every(minutes=60),
        "Delete evidence files uploaded ahead of a measurement that no measurement took within 24 hours (§14, §22).",
    ),
    Schedule(
        "projects.evaluate_due_gates",
        Every(minutes=15),
        "Evaluate every gate past its day that has no decision yet (§8, §16).",
    ),
    Schedule(
        "notifications.reconcile_notification_emails",
        Every(minutes=10),
        "Re-enqueue notification e-mails a lost broker message left unsent; give up after 24 hours (§13, §16).",
    ),
    Schedule(
        "notifications.reconcile_webhooks",
        Every(minutes=1),
        "Fan recent outbox events out to webhook subscriptions and re-enqueue deliveries that are due (§13.3, §16).",
    ),
    Schedule(
        "api.purge_idempotency_records",
        DailyAt(hour=3, minute=30),
        "Forget idempotency keys older than 30 days (§14).",
    ),
    Schedule(
        "ip_licensing.activate_and_expire_licences",
        DailyAt(hour=0, minute=5),
        "Activate licences whose term has started and expire those past their end date (§10.3, §16).",
    ),
    Schedule(
        "ip_licensing.licence_expiry_reminders",
        DailyAt(hour=0, minute=15),
        "Remind licence parties 30 and 7 days before the end of the term (§13, §16).",
    ),
    Schedule(
        "ip_licensing.obligations_mark_due",
        DailyAt(hour=0, minute=10),
        "Make licence obligations overdue the day after their due date (cure notice) and breached when the cure period is over (§23, §16).",
    ),
    Schedule(
        "ip_licensing.royalty_overdue_reports",
        DailyAt(hour=0, minute=25),
        "Remind licensees of royalty reports 30 days after the quarter and mark them overdue after 45 (§23, §16).",
    ),
    Schedule(
        "projects.stage_report_reminders",
        DailyAt(hour=0, minute=10),
        "Remind consortia of stage reports due in 30, 7 and 1 days, and of overdue ones (§24, §16).",
    ),
    Schedule(
        "projects.deliverable_reminders",
        DailyAt(hour=0, minute=20),
        "Remind PIs of deliverables due in 7 and 1 days, and of overdue ones (§24, §16).",
    ),
    Schedule(
        "mobility.release_stipends",
        DailyAt(hour=0, minute=20),
        "Release the monthly stipends of active visits due today, each visit-month once (§25, §16).",
    ),
    Schedule(
        "fundapp.audit.seal_chain",
        Every(minutes=1),
        "Link committed audit events into the chain (§12).",
    ),
    Schedule(
        "fundapp.audit.checkpoint",
        Every(minutes=60),
        "Sign the head of the audit chain as a checkpoint (§12).",
    ),
)


def _interval(when: Every, using: str) -> IntervalSchedule:
    rows = IntervalSchedule.objects.using(using)
    # The table has no unique constraint: reuse the oldest matching row.
    found = rows.filter(every=when.minutes, period=IntervalSchedule.MINUTES).order_by("id").first()
    return found or rows.create(every=when.minutes, period=IntervalSchedule.MINUTES)


def _crontab(when: DailyAt, using: str) -> CrontabSchedule:
    rows = CrontabSchedule.objects.using(using)
    fields = {
        "minute": str(when.minute),
        "hour": str(when.hour),
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": ZoneInfo(when.timezone),
    }
    return rows.filter(**fields).order_by("id").first() or rows.create(**fields)


def ensure_schedules(*, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Create or correct one PeriodicTask per entry of SCHEDULES; return the names changed."""
    changed: list[str] = []
    with transaction.atomic(using=using):
        for schedule in SCHEDULES:
            interval = _interval(schedule.when, using) if isinstance(schedule.when, Every) else None
            crontab = _crontab(schedule.when, using) if isinstance(schedule.when, DailyAt) else None
            wanted = {
                "task": schedule.task,
                "interval_id": interval.pk if interval else None,
                "crontab_id": crontab.pk if crontab else None,
                "solar_id": None,
                "clocked_id": None,
                "description": schedule.description,
            }
            task = PeriodicTask.objects.using(using).filter(name=schedule.task).first()
            if task is None:
                PeriodicTask.objects.using(using).create(name=schedule.task, enabled=True, **wanted)
                changed.append(schedule.task)
                continue
            differs = [name for name, value in wanted.items() if getattr(task, name) != value]
            if differs:
                for name in differs:
                    setattr(task, name, wanted[name])
                task.save(using=using)
                changed.append(schedule.task)
    return changed


def ensure_schedules_after_migrate(
    sender, *, using: str = DEFAULT_DB_ALIAS, apps=None, **kwargs
) -> None:
    """post_migrate receiver: skip while django-celery-beat's tables are not there yet."""
    if apps is not None:
        try:
            apps.get_model("django_celery_beat", "PeriodicTask")
            apps.get_model("django_celery_beat", "CrontabSchedule")
        except LookupError:
            return
    ensure_schedules(using=using)
