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


# pgtrigger's ``pgtrigger.ignore`` works through a setting any session may SET, which would
# let the application role switch off the append-only and TRUNCATE triggers by name. This
# version honours the setting only for members of the function's owner (the role that owns
# the tables and could disable the triggers anyway); for everyone else every trigger fires.
_HARDENED_MARK = "jkfund: pgtrigger.ignore for the owner only, without a subtransaction"
# It runs first in every pgtrigger trigger, on every row. The setting is read with
# ``current_setting(…, true)`` (NULL when never set, '' once reset) rather than in a block
# with an EXCEPTION clause, which would open a subtransaction per row; the owner is looked
# up only when the setting names triggers.
_HARDENED_IGNORE = """
CREATE OR REPLACE FUNCTION {name}(trigger_name NAME) RETURNS BOOLEAN AS $$
    DECLARE
        _pgtrigger_ignore TEXT[];
    BEGIN
        -- jkfund: pgtrigger.ignore for the owner only, without a subtransaction
        _pgtrigger_ignore := NULLIF(current_setting('pgtrigger.ignore', true), '')::TEXT[];
        IF _pgtrigger_ignore IS NULL THEN
            RETURN FALSE;
        END IF;
        IF NOT pg_has_role(
            current_user,
            (SELECT proowner FROM pg_proc WHERE oid = '{name}(name)'::regprocedure),
            'MEMBER'
        ) THEN
            RETURN FALSE;
        END IF;
        RETURN trigger_name = ANY(_pgtrigger_ignore);
    END;
$$ LANGUAGE plpgsql;
"""


def harden_trigger_ignore(using: str = "default", **kwargs: object) -> None:
    """post_migrate receiver: (re)install the owner-only ``_pgtrigger_should_ignore``.

    Every pgtrigger migration re-creates pgtrigger's version, so this runs after each
    ``migrate`` (as the owner). Elsewhere (the test flush, as the app role) it finds the
    function hardened already and changes nothing.
    """
    from django.db import connections
    from pgtrigger import core

    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    name = core._ignore_func_name()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT prosrc, pg_has_role(current_user, proowner, 'MEMBER') FROM pg_proc "
            "WHERE oid = to_regprocedure(%s)",
            [f"{name}(name)"],
        )
        row = cursor.fetchone()
        if row is None or _HARDENED_MARK in row[0] or not row[1]:
            return
        # The name is pgtrigger's own (schema from settings), never user input.
        cursor.execute(_HARDENED_IGNORE.format(name=name))
