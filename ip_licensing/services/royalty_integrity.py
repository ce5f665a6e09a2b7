"""Royalty integrity (§23): quarters whose report is overdue, reports flagged for net sales
far below the trailing mean, and simple interest on royalties paid late.

Decisions this module makes:

* **Periods.** A licence that is or was in force and has royalty terms (a rate or a
  minimum) owes a report for every calendar quarter that overlaps its term (for a terminated licence, up to the day it was terminated). The
  daily job (``royalty_overdue_run``) writes a ``RoyaltyPeriod`` for a quarter still
  unreported 30 days after it ends (``due``; first reminder) and moves it to ``overdue``
  45 days after (second reminder); a quarter it first sees after 45 days is written
  ``overdue`` at once with the one reminder. Every report writes the period of its
  quarter as ``reported`` (or moves it there), so the job never reminds of a reported
  quarter. Days are Asia/Tokyo dates (``royalty_rules``).
* **Reminders** go to the research offices of the licensee (and, once overdue, of the
  licensor) as notifications, and to both parties' partner systems as the webhook event
  ``royalty.overdue`` (its ``state`` says ``due`` for the 30-day reminder and ``overdue``
  for the 45-day one).
* **Idempotency.** The unique (licence, quarter) and the state decide: the job inserts with
  ``ON CONFLICT DO NOTHING … RETURNING`` and moves ``due`` → ``overdue`` with one
  ``UPDATE … WHERE state = 'due' … RETURNING``; only the rows a run itself wrote are
  reminded, so reruns and concurrent runs remind each period once per step. The job works
  on sets: a fixed number of queries whatever the number of licences.
* **Late interest** (``royalty_rules.late_interest``, rounded down) accrues on what a
  report posts when it is filed after its quarter's deadline, from the day after the
  deadline to the day the royalty is reported (the report is the payment: it posts the
  royalty; Asia/Tokyo days), at the policy's ``late_interest_rate``. Only the deadline and
  the filing day decide: whether the daily job has marked the quarter ``overdue`` (it may
  not have run) does not. A correction filed late pays interest on the difference it
  posts, if positive. It is posted with the royalty, in the same database transaction, as
  a linked ledger transaction ``royalty-interest:{report id}`` (once per report) split
  like royalties; the report records the days and the interest.
* **Catching up.** The job compares days, never "yesterday": a run after days it missed
  writes and reminds every period whose day has come (a quarter first seen 45 days or
  more after it ended is written ``overdue`` with the one reminder), and records the day
  the quarter became overdue (the day after its deadline), not the day it ran.
* **Anomaly flag.** A report whose net sales are less than half the mean of the licence's
  current reports of the four quarters before is flagged for fund officers (event
  ``royalty.flagged``, officers only; notification to the fund officers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from fundapp.accounts.models import Membership, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.models import Fund
from fundapp.kernel.notices import PeopleNotice, notify_people, notify_people_many, officers
from fundapp.ledger.models import Transaction
from fundapp.notifications.outbox import Event, event_record, event_record_many
from ip_licensing import royalty_rules, rules
from ip_licensing.models import (
    Licence,
    LicenceState,
    RoyaltyPeriod,
    RoyaltyPeriodState,
    RoyaltyReport,
)

REPORTING_STATES = (
    LicenceState.ACTIVE,
    LicenceState.SUSPENDED,
    LicenceState.EXPIRED,
    LicenceState.TERMINATED,
)
_PERIODS = RoyaltyPeriod._meta.db_table


# --------------------------------------------------------------------------- policy


def late_interest_rate(licence: Licence) -> Decimal:
    """The policy rate of the fund whose project an asset of the licence came from (the
    first fund otherwise); 8% a year without any fund."""
    fund = (
        Fund.objects.filter(calls__projects__results__licence_links__licence=licence)
        .order_by("pk")
        .first()
        or Fund.objects.order_by("pk").first()
    )
    return fund.late_interest_rate if fund is not None else royalty_rules.DEFAULT_LATE_INTEREST_RATE


# --------------------------------------------------------------------------- events


def period_data(period: RoyaltyPeriod, licence: Any, *, reminder: int) -> dict[str, Any]:
    """The ``royalty.overdue`` event's ``data``: the period as the API shows it."""
    return {
        "id": period.pk,
        "licence": period.licence_id,
        "reference": licence.reference,
        "quarter": period.quarter,
        "state": period.state,
        "deadline_on": period.deadline_on,
        "overdue_on": period.overdue_on,
        "days_after_quarter": reminder,
        "licensor": licence.licensor_id,
        "licensee": licence.licensee_id,
    }


def report_flag_data(report: RoyaltyReport, licence: Licence) -> dict[str, Any]:
    return {
        "id": report.pk,
        "licence": licence.pk,
        "reference": licence.reference,
        "quarter": report.quarter,
        "net_sales": report.net_sales,
        "trailing_mean": report.trailing_mean,
        "currency": licence.currency,
    }


# --------------------------------------------------------------------------- reports


@dataclass
class ReportIntegrity:
    """What royalty integrity adds to a report being written: its immutable fields."""

    fields: dict[str, Any] = field(default_factory=dict)


def report_integrity(
    *,
    licence: Licence,
    quarter: str,
    net_sales: int,
    amount: int,
    report_id: int,
    post: Callable[[int, str, str], Transaction],
) -> ReportIntegrity:
    """Late interest on ``amount`` (what the report posts) and the anomaly flag, for a
    report about to be written under the licence's row lock. Posts the interest through
    ``post(amount, reference, memo)`` (the royalty's own posting, split like royalties)."""
    parsed = rules.parse_quarter(quarter)
    # The due date and the filing day alone decide: whether the daily job has marked the
    # quarter overdue yet (it may not have run, or ran before the day passed) does not.
    days = royalty_rules.days_late(royalty_rules.report_deadline(parsed), today_in_tokyo())
    interest = royalty_rules.late_interest(amount, late_interest_rate(licence), days)
    interest_txn = None
    if interest:
        interest_txn = post(
            interest,
            f"royalty-interest:{report_id}",
            f"Late interest {licence.reference} {quarter} ({days} days)",
        )
    previous = list(
        RoyaltyReport.objects.filter(
            licence=licence,
            quarter__in=royalty_rules.quarters_before(parsed),
            superseded_by__isnull=True,
        ).values_list("net_sales", flat=True)
    )
    mean = royalty_rules.trailing_mean(previous)
    return ReportIntegrity(
        fields={
            "late_days": days if amount > 0 else 0,
            "late_interest": interest,
            "interest_transaction": interest_txn,
            "trailing_mean": None if mean is None else mean.numerator // mean.denominator,
            "flagged": royalty_rules.sales_anomaly(net_sales, previous),
        }
    )


def report_recorded(*, report: RoyaltyReport, licence: Licence, actor: Actor) -> None:
    """In the report's transaction: its quarter's period becomes ``reported`` (written so
    if the job has not seen it yet), and a flagged report is put before the officers."""
    parsed = rules.parse_quarter(report.quarter)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_PERIODS} (licence_id, quarter, deadline_on, state, reported_at, "  # noqa: S608 - our own table
            "created_at) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (licence_id, quarter) DO NOTHING",
            [
                licence.pk,
                report.quarter,
                royalty_rules.report_deadline(parsed),
                RoyaltyPeriodState.REPORTED,
                now,
                now,
            ],
        )
    period = (
        RoyaltyPeriod.objects.select_for_update(of=("self",))
        .filter(licence=licence, quarter=report.quarter)
        .first()
    )
    if period is not None and period.state != RoyaltyPeriodState.REPORTED:
        before = period.state
        RoyaltyPeriod.workflow.move(period, RoyaltyPeriodState.REPORTED, actor=actor)
        period.reported_at = now
        period.save(update_fields=["state", "reported_at"])
        audit_record(
            actor=actor,
            action="royalty_period.reported",
            obj=period,
            before={"state": before},
            after={"state": period.state, "report": report.pk},
        )
    if report.flagged:
        audit_record(
            actor=None,
            action="royalty_report.flagged",
            obj=report,
            after={"net_sales": report.net_sales, "trailing_mean": report.trailing_mean},
        )
        event_record(
            kind="royalty.flagged",
            obj=report,
            organisation_ids=[],
            payload=report_flag_data(report, licence),
        )
        notify_people(
            users=officers(roles=["fund_officer"]),
            message="royalty.flagged",
            params={
                "licence": licence.pk,
                "quarter": report.quarter,
                "net_sales": report.net_sales,
                "mean": report.trailing_mean or 0,
                "currency": licence.currency,
            },
            url=f"/ip/licences/{licence.pk}/",
        )


# --------------------------------------------------------------------------- the daily job


def _term_end(end_on: date, state: str, ended_at: Any) -> date:
    if state == LicenceState.TERMINATED and ended_at is not None:
        return min(end_on, rules.today_in_tokyo(ended_at))
    return end_on


def _wanted_periods(today: date) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """The periods the job should write today (three queries): every quarter of a
    reporting licence whose first reminder day has come, neither reported nor written."""
    earliest_start = today - timedelta(days=royalty_rules.REMINDER_DAYS)
    in_scope = Licence.objects.filter(
        state__in=REPORTING_STATES, start_on__lte=earliest_start
    ).exclude(royalty_rate=0, minimum_annual_royalty=0)
    licences: dict[int, dict[str, Any]] = {
        row["pk"]: dict(row)
        for row in in_scope.values(
            "pk",
            "reference",
            "start_on",
            "end_on",
            "state",
            "ended_at",
            "licensor_id",
            "licensee_id",
        )
    }
    known = set(
        RoyaltyPeriod.objects.filter(licence__in=in_scope).values_list("licence_id", "quarter")
    ) | set(
        RoyaltyReport.objects.filter(licence__in=in_scope)
        .values_list("licence_id", "quarter")
        .distinct()
    )
    now = timezone.now()
    wanted = []
    for pk, row in licences.items():
        last = min(_term_end(row["end_on"], row["state"], row["ended_at"]), today)
        for quarter in royalty_rules.quarters_between(row["start_on"], last):
            label = rules.format_quarter(*quarter)
            if (pk, label) in known or royalty_rules.reminder_day(quarter) > today:
                continue
            overdue = royalty_rules.overdue_day(quarter) <= today
            wanted.append(
                {
                    "licence_id": pk,
                    "quarter": label,
                    "deadline_on": royalty_rules.report_deadline(quarter).isoformat(),
                    "state": RoyaltyPeriodState.OVERDUE if overdue else RoyaltyPeriodState.DUE,
                    "reminded_30_at": None if overdue else now.isoformat(),
                    "reminded_45_at": now.isoformat() if overdue else None,
                    "overdue_on": royalty_rules.overdue_day(quarter).isoformat()
                    if overdue
                    else None,
                    "created_at": now.isoformat(),
                }
            )
    return wanted, licences


_INSERT_SQL = f"""INSERT INTO {_PERIODS} (licence_id, quarter, deadline_on, state,
                                reminded_30_at, reminded_45_at, overdue_on, created_at)
SELECT r.licence_id, r.quarter, r.deadline_on, r.state, r.reminded_30_at, r.reminded_45_at,
       r.overdue_on, r.created_at
  FROM jsonb_to_recordset(%s::jsonb) AS r(
       licence_id bigint, quarter text, deadline_on date, state text,
       reminded_30_at timestamptz, reminded_45_at timestamptz, overdue_on date,
       created_at timestamptz)
ON CONFLICT (licence_id, quarter) DO NOTHING
RETURNING id"""  # noqa: S608 - our own table

# Overdue since the day after the deadline, whichever day the job runs.
_OVERDUE_SQL = f"""UPDATE {_PERIODS}
   SET state = %s, reminded_45_at = %s, overdue_on = deadline_on + 1
 WHERE state = %s AND deadline_on < %s
RETURNING id"""  # noqa: S608 - our own table


def royalty_overdue_run(*, today: date | None = None) -> dict[str, list[int]]:
    """The daily job: remind of reports due 30 days after their quarter ended and make
    those still missing 45 days after ``overdue`` (see the module docstring).

    Guarantees: idempotent and safe under concurrent runs (the unique period and the state
    decide which run writes, and only that run reminds); each run in one transaction; a
    fixed number of queries whatever the number of licences and periods; every written
    period audited (``royalty_period.due`` / ``royalty_period.overdue``), evented
    (``royalty.overdue``) and notified in the same transaction. Returns the ids of the
    periods reminded at 30 days (``"30"``) and made overdue (``"45"``).
    """
    today = today or today_in_tokyo()
    now = timezone.now()
    with transaction.atomic():
        wanted, _licences = _wanted_periods(today)
        inserted: list[int] = []
        if wanted:
            with connection.cursor() as cursor:
                cursor.execute(_INSERT_SQL, [json.dumps(wanted)])
                inserted = [row[0] for row in cursor.fetchall()]
        with connection.cursor() as cursor:
            cursor.execute(
                _OVERDUE_SQL,
                [RoyaltyPeriodState.OVERDUE, now, RoyaltyPeriodState.DUE, today],
            )
            moved = [row[0] for row in cursor.fetchall()]
        periods = list(
            RoyaltyPeriod.objects.filter(pk__in=[*inserted, *moved])
            .select_related("licence")
            .order_by("pk")
        )
        _remind(periods)
    return {
        "30": [p.pk for p in periods if p.state == RoyaltyPeriodState.DUE],
        "45": [p.pk for p in periods if p.state == RoyaltyPeriodState.OVERDUE],
    }


def research_offices(organisation_ids: Iterable[int]) -> dict[int, list[User]]:
    """The research offices' active people of each organisation (one query)."""
    found: dict[int, list[User]] = {}
    for membership in (
        Membership.objects.filter(
            organisation_id__in=sorted(set(organisation_ids)),
            research_office=True,
            user__is_active=True,
        )
        .select_related("user")
        .order_by("user_id")
    ):
        found.setdefault(membership.organisation_id, []).append(membership.user)
    return found


def _remind(periods: list[RoyaltyPeriod]) -> None:
    if not periods:
        return
    offices = research_offices(
        org
        for period in periods
        for org in (period.licence.licensor_id, period.licence.licensee_id)
    )
    audits, events, notices = [], [], []
    for period in periods:
        licence = period.licence
        overdue = period.state == RoyaltyPeriodState.OVERDUE
        reminder = royalty_rules.DEADLINE_DAYS if overdue else royalty_rules.REMINDER_DAYS
        audits.append(
            AuditEntry(
                actor=None,
                action="royalty_period.overdue" if overdue else "royalty_period.due",
                obj=period,
                after={"state": period.state, "quarter": period.quarter, "licence": licence.pk},
            )
        )
        events.append(
            Event(
                kind="royalty.overdue",
                obj=period,
                organisation_ids=[licence.licensor_id, licence.licensee_id],
                payload=period_data(period, licence, reminder=reminder),
            )
        )
        people = list(offices.get(licence.licensee_id, []))
        if overdue:
            people += offices.get(licence.licensor_id, [])
        notices.append(
            PeopleNotice(
                users=people,
                message="royalty.overdue" if overdue else "royalty.report_due",
                params={
                    "licence": licence.pk,
                    "quarter": period.quarter,
                    "deadline": period.deadline_on.isoformat(),
                },
                url=f"/ip/licences/{licence.pk}/",
            )
        )
    audit_record_many(audits)
    event_record_many(events)
    notify_people_many(notices)


__all__ = [
    "ReportIntegrity",
    "late_interest_rate",
    "period_data",
    "report_integrity",
    "report_recorded",
    "royalty_overdue_run",
]
