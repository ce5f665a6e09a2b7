from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import psycopg
import pytest

from tests import database


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_use_migrations,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """The test database owned and migrated by ``jkfund_owner``; tests run as ``jkfund_app``.

    See ``tests/database.py``. xdist-safe: each worker has its own database (pytest-django's
    suffix) and role creation is serialised on the server.
    """
    from django.conf import settings
    from django.db import connections
    from django.db.backends.postgresql.operations import DatabaseOperations
    from django.test.utils import setup_databases

    assert django_db_use_migrations, "the triggers and grants come from the migrations"
    params = settings.DATABASES["default"]
    admin_url = database.url_of(params)
    name = params["TEST"]["NAME"]
    roles = database.roles_for(params)
    keep = django_db_keepdb and not django_db_createdb
    owner_url = database.create_test_database(admin_url, name, roles, keep=keep)

    def connect_as(user: str, password: str | None) -> None:
        for target in (params, connections["default"].settings_dict):
            target["USER"] = user
            target["PASSWORD"] = password or ""
        connections["default"].close()

    connect_as(roles.owner, roles.owner_password)
    with django_db_blocker.unblock():
        # keepdb: the database exists already (we created it); Django only migrates it.
        setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            # Django only asks `alias in aliases`; the stubs want the test runner's dict.
            aliases={"default"},  # type: ignore[arg-type]
            serialized_aliases=set(),
            keepdb=True,
        )
    connect_as(roles.app, roles.app_password)
    request.config.stash[_OWNER_URL] = owner_url
    request.config.stash[_ADMIN_URL] = admin_url

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        database.flush_as_owner(owner_url, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield
    with django_db_blocker.unblock():
        connections.close_all()
    if not keep:
        try:
            database.drop_test_database(admin_url, name)
        except psycopg.Error as exc:
            request.node.warn(pytest.PytestWarning(f"could not drop the test database: {exc!r}"))


_OWNER_URL = pytest.StashKey[str]()
_ADMIN_URL = pytest.StashKey[str]()


@pytest.fixture
def database_admin_url(request, django_db_setup) -> str:
    """The server's superuser (``DATABASE_URL`` as given), for tests of role setup itself."""
    return request.config.stash[_ADMIN_URL]


@pytest.fixture
def owner_cursor(request, django_db_setup) -> Callable[[], AbstractContextManager]:
    """``with owner_cursor() as cursor:`` a DB-API cursor as the tables' owner.

    It is a separate connection: it sees only committed rows (use ``transactional_db``
    when the test's own writes must be visible to it) and commits on leaving the block.
    """
    owner_url = request.config.stash[_OWNER_URL]

    @contextmanager
    def open_cursor() -> Iterator[psycopg.Cursor]:
        with database.owner_connection(owner_url) as conn, conn.cursor() as cursor:
            yield cursor

    return open_cursor


@pytest.fixture(scope="session", autouse=True)
def _test_event_types():
    """The suite's own audit actions (``test.one`` …), registered like any domain's."""
    from fundapp.kernel.events import event_types_registered
    from tests.events import TEST_EVENT_TYPES

    with event_types_registered(*TEST_EVENT_TYPES):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached pages live in Redis; each test starts clean."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language, whichever test the process ran before it.

    A request through LocaleMiddleware leaves its language active in the thread; in a
    parallel run the next test in that process is a different one each time.
    """
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.2 s a person; tests that check login still use real hashing paths."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
