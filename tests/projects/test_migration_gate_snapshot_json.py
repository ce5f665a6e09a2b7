"""Migration 0023: gate snapshots' ``inputs`` and ``kpi_results`` from ``jsonb`` to ``json``.

The migration's SQL (as ``sqlmigrate`` would print it) runs over an owner connection, in a
transaction rolled back at the end, on the table set back to its ``jsonb`` columns with a
snapshot stored as they held it: the documents keep their content and lz4 stays set, both
ways.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from tests.factories.gates import build_project

pytestmark = pytest.mark.django_db(transaction=True)

MIGRATION = ("projects", "0023_gate_snapshot_json")

# A snapshot as stored before: per-KPI arrays with ISO 8601 times, in ``jsonb``.
INPUTS = {
    "kpis": [
        {
            "id": 3,
            "code": "K",
            "measurements": {
                "ids": [7, 9],
                "values": ["1.500000", "2.000000"],
                "measured_at": ["2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00.5+00:00"],
            },
            "excluded": [
                {
                    "id": 8,
                    "value": "9.000000",
                    "measured_at": "2026-03-01T12:00:00+00:00",
                    "reason": "rejected",
                }
            ],
        }
    ]
}
KPI_RESULTS = [{"kpi_id": 3, "code": "K", "value": "2.000000", "measurement_ids": [7, 9]}]


def _migration_sql(*, backwards: bool) -> list[str]:
    loader = MigrationLoader(connection, replace_migrations=False)
    # As ``sqlmigrate`` collects it (django-stubs do not declare ``collect_sql``).
    statements: list[str] = loader.collect_sql(  # type: ignore[attr-defined]
        [(loader.graph.nodes[MIGRATION], backwards)]
    )
    return statements


def _columns(cursor) -> list[tuple[str, str, str]]:
    cursor.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attcompression::text "
        "FROM pg_attribute WHERE attrelid = 'projects_gateevaluation'::regclass "
        "AND attname IN ('inputs', 'kpi_results') ORDER BY attname"
    )
    return cursor.fetchall()


def test_the_migration_keeps_stored_snapshots_and_their_lz4_compression(owner_cursor):
    gate = build_project().gates[0]
    forwards, backwards = _migration_sql(backwards=False), _migration_sql(backwards=True)

    with owner_cursor() as cursor:
        assert _columns(cursor) == [("inputs", "json", "l"), ("kpi_results", "json", "l")]
        for statement in backwards:
            cursor.execute(statement)
        assert _columns(cursor) == [("inputs", "jsonb", "l"), ("kpi_results", "jsonb", "l")]
        # The foreign keys checked now: a deferred check would keep ALTER TABLE waiting.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "INSERT INTO projects_gateevaluation (gate_id, round, evaluated_at, as_of, "
            "window_start, cutoff, score, outcome, plan_version, policy, inputs, kpi_results, "
            "anomaly_flags) VALUES (%s, 1, now(), '2026-07-01', now(), now(), 0, 'fail', 1, "
            "'{}', %s::jsonb, %s::jsonb, '[]') RETURNING id",
            [gate.pk, json.dumps(INPUTS), json.dumps(KPI_RESULTS)],
        )
        (stored,) = cursor.fetchone()

        for statement in forwards:
            cursor.execute(statement)

        assert _columns(cursor) == [("inputs", "json", "l"), ("kpi_results", "json", "l")]
        cursor.execute(
            "SELECT inputs::text, kpi_results::text FROM projects_gateevaluation WHERE id = %s",
            [stored],
        )
        inputs, kpi_results = cursor.fetchone()
        assert (json.loads(inputs), json.loads(kpi_results)) == (INPUTS, KPI_RESULTS)
        cursor.connection.rollback()
