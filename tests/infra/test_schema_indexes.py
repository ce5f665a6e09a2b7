"""The migrated database holds exactly the indexes the models declare: every one of them,
and no second index where a declared one already serves the same leading column."""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db


def _database_indexes(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return {
            name: info
            for name, info in connection.introspection.get_constraints(cursor, table).items()
            if info["index"] or info["unique"]
        }


def _project_models():
    for model in apps.get_models():
        if (
            model._meta.managed
            and not model._meta.proxy
            and model._meta.app_label
            in {
                "audit",
                "notifications",
                "projects",
                "ledger",
                "accounts",
                "ip_licensing",
                "mobility",
            }
        ):
            yield model


def test_every_declared_index_and_constraint_exists_in_the_database():
    """An ``AlterField`` that drops a field's own index drops every btree index on that
    column alone; a declared partial unique index on it (``stage_one_running``) must
    survive such a migration."""
    missing = []
    for model in _project_models():
        present = _database_indexes(model._meta.db_table)
        declared = [index.name for index in model._meta.indexes] + [
            constraint.name
            for constraint in model._meta.constraints
            if getattr(constraint, "fields", None) or getattr(constraint, "expressions", None)
        ]
        missing += [f"{model._meta.db_table}.{name}" for name in declared if name not in present]
    assert missing == []


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("projects_stage", "project_id"),  # stage_number_unique (project_id, number)
        ("projects_project", "call_id"),  # project_call_state_idx (call_id, state)
        ("projects_tranche", "stage_id"),  # tranche_one_per_stage_side (stage_id, side)
        ("notifications_notification", "user_id"),  # notification_inbox (user_id, …)
    ],
)
def test_a_foreign_key_led_by_a_declared_index_has_no_index_of_its_own(table, column):
    """Every insert and state change pays for each index: a column that leads a declared
    composite index is not indexed alone as well."""
    alone = [
        name
        for name, info in _database_indexes(table).items()
        if info["columns"] == [column] and not info["unique"] and not info["primary_key"]
    ]
    leading = [
        name
        for name, info in _database_indexes(table).items()
        if info["columns"][:1] == [column] and len(info["columns"]) > 1
    ]
    assert alone == []
    assert leading


@pytest.mark.parametrize(
    ("table", "column", "name"),
    [
        ("audit_auditevent", "actor_user_id", "audit_actor_user_idx"),
        ("audit_auditevent", "actor_api_key_id", "audit_actor_api_key_idx"),
        ("projects_gateevaluation", "evaluated_by_id", "gate_evaluation_by_idx"),
        ("projects_gateevaluation", "evaluated_by_api_key_id", "gate_evaluation_by_key_idx"),
    ],
)
def test_an_actor_mostly_null_is_indexed_only_where_set(table, column, name):
    """The scheduler's audit events and snapshots have no actor: they add no index entry,
    and a lookup by actor (or the check that protects a user from deletion) still uses the
    partial index."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        (definition,) = cursor.fetchone()
        assert f"WHERE ({column} IS NOT NULL)" in definition
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT 1 FROM {table} WHERE {column} = ANY(%s)", [[1, 2]])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert name in plan
    assert [
        n
        for n, info in _database_indexes(table).items()
        if info["columns"] == [column] and n != name
    ] == []


def test_outbox_kind_has_no_pattern_index():
    """Event types are compared whole: no ``varchar_pattern_ops`` twin is kept."""
    assert [n for n in _database_indexes("notifications_outboxevent") if n.endswith("_like")] == []
    assert "outbox_kind_idx" in _database_indexes("notifications_outboxevent")
