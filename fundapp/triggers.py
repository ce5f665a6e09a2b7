"""Database triggers shared by the apps whose rows are the record (§9, §12)."""

from __future__ import annotations

import pgtrigger


def refuse_truncate(name: str) -> pgtrigger.Trigger:
    """A statement-level trigger that refuses TRUNCATE on its table.

    Row-level UPDATE/DELETE protection never sees a TRUNCATE, which empties a table without
    touching a row; this closes that gap for the table owner too (the application role has
    no TRUNCATE privilege at all). Only someone who can disable the table's triggers, i.e.
    its owner, gets past it, and that leaves the chain checkpoints to name the loss.
    """
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.Before,
        operation=pgtrigger.Truncate,
        level=pgtrigger.Statement,
        func="""
            RAISE EXCEPTION 'table % is append-only: TRUNCATE is refused', TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        """,
    )
