import ast
import importlib
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import pytest

from tests import database


@pytest.fixture(scope="session", autouse=True)
def _ast_parse_one_thread_at_a_time() -> Iterator[None]:
    """Let one thread at a time parse Python source, for the whole run.

    Python 3.11 keeps the AST constructor's recursion counter per interpreter, not per
    thread (CPython gh-106905). Hypothesis parses a lambda's source to name a strategy built
    with it, and tests that draw from strategies on several threads at once (the schemathesis
    run's two workers) can then fail with "SystemError: AST constructor recursion depth
    mismatch".
    """
    parse = ast.parse
    lock = threading.Lock()

    def parse_locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    ast.parse = parse_locked  # type: ignore[assignment]
    try:
        yield
    finally:
        ast.parse = parse


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


@pytest.fixture
def one_rate_window(monkeypatch):
    """The rate limit's clock held in the middle of one fixed window (§14), so a test that
    sends a few requests against a small limit never sees them split across two windows
    on a slow machine. Retry-After then reads 30 seconds."""
    from fundapp.api.throttling import ClientRateThrottle

    middle = (int(time.time()) // 60) * 60 + 30.0
    monkeypatch.setattr(ClientRateThrottle, "timer", lambda self: middle)
    return middle


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


# Named fixtures that test modules apply with ``pytestmark = pytest.mark.usefixtures(...)``.


@pytest.fixture
def private_media(settings, tmp_path):
    """Attachments, evidence and imports go to a per-test directory outside the web root."""
    root = tmp_path / "private"
    settings.PRIVATE_MEDIA_ROOT = root
    return root


@pytest.fixture
def loopback_webhooks(settings):
    """Webhook receivers on http://127.0.0.1 are allowed (the tests' and the demo's)."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


@pytest.fixture
def axes_off(settings):
    """Sign-in lockouts off: the role and permission matrices log in many times."""
    settings.AXES_ENABLED = False


@pytest.fixture
def eager_celery():
    """Tasks enqueued after commit run inline, so a test sees the release it caused."""
    from fundapp.celery import app as celery_app

    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


def _routes_wired(*names: tuple[Any, ...]) -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        for name, *args in names:
            reverse(name, args=args or None)
    except NoReverseMatch:
        return False
    return True


@pytest.fixture
def pages_urls(settings):
    """The project, finance and portfolio pages' routes are present."""
    from django.urls import clear_url_caches

    wired = (
        ("projects:list",),
        ("finance:accounts",),
        ("portfolio:dashboard",),
        ("measurements:list", 1),
    )
    if not _routes_wired(*wired):
        settings.ROOT_URLCONF = "tests.projects.views.urls_pages"
        clear_url_caches()
    yield
    clear_url_caches()


@pytest.fixture
def review_urls(settings):
    """The review routes are present."""
    from django.urls import clear_url_caches

    if not _routes_wired(("reviews:queue",), ("award-decision-list",)):
        settings.ROOT_URLCONF = "tests.projects.views.urls_review"
        clear_url_caches()
    yield
    clear_url_caches()


@pytest.fixture
def no_automatic_decision(monkeypatch):
    """Keep gate_evaluate to its own rows: the Engine's decision is tested on its side."""
    calls: list = []

    def fake_decide(items, *, fund_officers=None):
        calls.extend(item.evaluation for item in items)
        return {}

    monkeypatch.setattr("projects.services.gates.gates_decide_automatically", fake_decide)
    return calls


@pytest.fixture
def upfront_posts(monkeypatch):
    """Record each ``royalty_post_upfront`` call the licence services make on activation
    and mark the fee posted, in place of the royalties service's ledger posting (its own
    tests pin that), so these tests pin the hook alone. Stands in for the whole module where it is missing."""
    calls: list[int] = []

    def royalty_post_upfront(*, licence, actor=None):
        from ip_licensing.models import Licence

        calls.append(licence.pk)
        Licence.objects.filter(pk=licence.pk).update(upfront_posted=True)

    try:
        module = importlib.import_module("ip_licensing.services.royalties")
    except ModuleNotFoundError:
        module = types.ModuleType("ip_licensing.services.royalties")
        monkeypatch.setitem(sys.modules, "ip_licensing.services.royalties", module)
    monkeypatch.setattr(module, "royalty_post_upfront", royalty_post_upfront, raising=False)
    return calls
