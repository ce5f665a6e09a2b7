"""Gate snapshots' inputs and KPI results stored as ``json`` text instead of ``jsonb`` (§19).

A snapshot is written once and read whole; nothing queries into these two columns. Parsing
a batch's snapshots into ``jsonb`` was most of their insert's server time, where ``json``
only checks the syntax (``projects.models.JSONTextField``). Changing the type rewrites the
table (each stored document converted to its text) and resets the columns' compression,
so lz4 is set again where the server has it (as ``0011_gate_snapshot_lz4`` did), in both
directions.
"""

from django.db import migrations, models

import projects.models.projects

_COLUMNS = ("inputs", "kpi_results")


def _set_lz4() -> str:
    changes = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION lz4" for column in _COLUMNS)
    return f"""
DO $$
BEGIN
    ALTER TABLE projects_gateevaluation {changes};
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; gate snapshots keep the default compression';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("projects", "0022_merge_call_kind")]

    operations = [
        migrations.RunSQL(migrations.RunSQL.noop, reverse_sql=_set_lz4()),
        migrations.AlterField(
            model_name="gateevaluation",
            name="inputs",
            field=projects.models.projects.JSONTextField(
                help_text="Measurement ids and values used."
            ),
        ),
        migrations.AlterField(
            model_name="gateevaluation",
            name="kpi_results",
            field=projects.models.projects.JSONTextField(),
        ),
        migrations.RunSQL(_set_lz4(), reverse_sql=migrations.RunSQL.noop),
    ]
