"""Gate snapshots' JSON compressed with lz4 where the server has it (§19).

A snapshot holds every counted measurement of its window; PostgreSQL compresses such values
when it stores them, with pglz by default, which costs more than writing the row itself.
lz4 compresses several times faster at a similar ratio. A server built without lz4 keeps
pglz (the statement is skipped); rows already stored keep their compression.
"""

from django.db import migrations

_COLUMNS = ("inputs", "kpi_results")


def _set(method: str) -> str:
    changes = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in _COLUMNS)
    return f"""
DO $$
BEGIN
    ALTER TABLE projects_gateevaluation {changes};
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; gate snapshots keep the default compression';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("projects", "0010_review_assignment_state_enforced")]

    operations = [migrations.RunSQL(_set("lz4"), reverse_sql=_set("pglz"))]
