from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from django.db import connection

from fundapp.audit.checkpoints import keygen


@pytest.fixture
def owner_cursor() -> Callable[[], AbstractContextManager[Any]]:
    """``with owner_cursor() as cursor:`` a DB-API cursor with the tables' owner's rights.

    The tests connect as the owner here, so it is Django's own connection; use it in
    ``transaction=True`` tests, as with a separate owner connection that sees only
    committed rows.
    """

    @contextmanager
    def open_cursor() -> Iterator[Any]:
        with connection.cursor() as cursor:
            yield cursor

    return open_cursor


@pytest.fixture(autouse=True)
def checkpoint_files(settings, tmp_path):
    """A fresh checkpoint key pair and log per test, never the developer's under var/."""
    private_path, public_path = keygen(tmp_path / "keys")
    settings.AUDIT_CHECKPOINT_KEY_FILE = private_path
    settings.AUDIT_CHECKPOINT_PUBLIC_KEY_FILE = public_path
    settings.AUDIT_CHECKPOINT_LOG = tmp_path / "log" / "checkpoints.jsonl"
    return settings
