"""6. Audited writes by 8 concurrent writers: measurements recorded through
``projects.services.measurements.measurement_record`` (which locks the project and writes
an audit event) against the same calls with the audit event left out (``audit_record``
replaced by a no-op in the baseline's processes). Each writer reports for its own
projects, so only the audit trail is shared between them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from bench import db, world
from bench.core import Row, counting, n, parallel
from fundapp.accounts.models import User
from projects.models import KPI

FULL_WRITES = 10_000
WRITERS = 8
PROJECTS_PER_WRITER = 4


def _write(job: tuple[list[int], int, int, bool]) -> int:
    from projects.services import measurements as svc

    kpi_ids, count, officer_id, audited = job
    if not audited:
        # This process only: the baseline. The service ignores what audit_record returns.
        svc.audit_record = lambda **kwargs: None  # type: ignore[assignment]
    officer = User.objects.get(pk=officer_id)
    kpis = list(KPI.objects.select_related("project").filter(pk__in=kpi_ids))
    when = timezone.now() - timedelta(hours=1)
    with counting() as counter:
        for i in range(count):
            svc.measurement_record(
                kpi=kpis[i % len(kpis)],
                actor=officer,
                value=Decimal(1200 + i % 700) / 100,
                measured_at=when,
                note="bench",
                source="api",
            )
    return counter.count


def run(scale: float, repeat: int) -> Row:
    writes = n(scale, FULL_WRITES, WRITERS)
    db.fresh()
    base = world.make_base(jp_pool=10**12, kr_pool=10**12)
    projects = world.make_projects(base, WRITERS * PROJECTS_PER_WRITER, kpis_per_stage=2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    per_writer = [writes // WRITERS + (1 if w < writes % WRITERS else 0) for w in range(WRITERS)]

    def jobs(audited: bool) -> list:
        return [
            (
                [k for pid in projects.ids[w::WRITERS] for k in projects.kpis[pid]],
                per_writer[w],
                base.officer_jp.pk,
                audited,
            )
            for w in range(WRITERS)
        ]

    project_times, baseline_times, queries = [], [], 0
    for _ in range(repeat):
        seconds, _q = parallel(_write, jobs(False))
        baseline_times.append(seconds)
        seconds, queries = parallel(_write, jobs(True))
        project_times.append(seconds)
    return Row(
        name=f"Audited writes by {WRITERS} concurrent writers (`measurement_record`)",
        size=f"{writes:,} measurements",
        project=project_times,
        baseline=baseline_times,
        queries=f"{queries / writes:.1f} per write",
        notes=[
            f"{writes / project_times[-1]:,.0f} audited writes/s vs "
            f"{writes / baseline_times[-1]:,.0f} unaudited/s"
        ],
        scale=scale,
    )
