"""Settings for the Japan–Korea Joint R&D Fund platform.

Everything comes from the environment. With no DATABASE_URL / CELERY_BROKER_URL the
launcher (``fundapp.embedded``) starts a real PostgreSQL and Redis under ``var/`` and
exports their URLs before Django starts, so the same code paths run everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from csp import constants as csp_constants
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("DJANGO_REQUIRE_SECRET", False):
        raise RuntimeError("DJANGO_SECRET_KEY must be set in production")
    SECRET_KEY = "insecure-development-key-change-me-" + "x" * 20  # noqa: S105
ALLOWED_HOSTS = [
    h
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(
        ","
    )
    if h
]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "pgtrigger",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "fundapp.accounts",
    "fundapp.audit",
    "fundapp.notifications",
    "fundapp.ledger",
    "fundapp.screening",
    "fundapp.kernel",
    "fundapp.api",
    "projects",
    "ip_licensing",
    "mobility",
    "fundapp.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "fundapp.csp.PageCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "fundapp.audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "fundapp.accounts.middleware.UserLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "fundapp.api.middleware.MethodNotAllowedMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "fundapp.outage.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "fundapp.urls"
WSGI_APPLICATION = "fundapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fundapp.accounts.context_processors.navigation",
                "fundapp.notifications.context_processors.unread_count",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jkfund"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# The hottest reads (fundapp.prepared) are prepared statements; Django's own cursors never
# are. "none" turns them back into plain statements (behind a transaction-pooling proxy).
_prepare_threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "1").strip().lower()
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    None if _prepare_threshold in ("", "none") else int(_prepare_threshold)
)
# Only prepared statements (fundapp.prepared) have a plan cache: "force_generic_plan" plans
# each once per connection; "auto" is PostgreSQL's default (plan each execution until a
# generic plan looks as good). Measured on the §19 benchmarks, the generic plans win.
_plan_cache_mode = os.environ.get("DATABASE_PLAN_CACHE_MODE", "force_generic_plan").strip().lower()
if _plan_cache_mode != "auto":
    DATABASES["default"]["OPTIONS"].setdefault("options", f"-c plan_cache_mode={_plan_cache_mode}")
DATABASES["default"].setdefault("TEST", {})
DATABASES["default"]["TEST"]["NAME"] = os.environ.get("DATABASE_TEST_NAME", "test_jkfund")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_url_after(url: str, offset: int = 1) -> str:
    """``url`` moved ``offset`` Redis databases after its own."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + offset
    return urlunsplit(parts._replace(path=f"/{database}"))


def redis_url_of_test_worker(url: str, worker: str) -> str:
    """``url`` moved to the Redis database ``N + 1`` after its own, for pytest-xdist's ``gwN``."""
    return redis_url_after(url, int(worker.removeprefix("gw")) + 1)


# Parallel tests (pytest-xdist): every worker process empties its Redis database before each
# test (tests/conftest.py), so each worker gets a database of its own for the cache, the
# throttle counters, the broker and the results. The environment is rewritten once, so the
# Celery workers and commands a test starts inherit the worker's database.
_TEST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _TEST_WORKER and os.environ.get("JKFUND_REDIS_TEST_WORKER") != _TEST_WORKER:
    REDIS_URL = redis_url_of_test_worker(REDIS_URL, _TEST_WORKER)
    for _name in ("REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ[_name] = REDIS_URL
    os.environ["JKFUND_REDIS_TEST_WORKER"] = _TEST_WORKER
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "jkfund"),
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

# guardian: object permissions live in direct-foreign-key models; no anonymous user row.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "jkfund_language"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Asia/Tokyo"  # shown times; storage is UTC

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Attachments live outside the web root and are served only by a permission-checked view.
PRIVATE_MEDIA_ROOT = Path(os.environ.get("PRIVATE_MEDIA_ROOT", BASE_DIR / "var" / "private"))
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS_PER_PROPOSAL = 10
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Absolute links in e-mails point here.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "fund@jk-fund.example")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

# Celery. The broker defaults to the Redis database after the cache's (§17: a flushed or
# full cache never takes queued work with it); the test launcher sets it explicitly.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or redis_url_after(REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Tokyo"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Audit checkpoints (§12): the signing key is read only by the checkpoint job; the
# public key alone verifies. The log is append-only; ship it off the machine.
AUDIT_CHECKPOINT_KEY_FILE = Path(
    os.environ.get("AUDIT_CHECKPOINT_KEY_FILE", BASE_DIR / "var" / "audit" / "checkpoint.key")
)
AUDIT_CHECKPOINT_PUBLIC_KEY_FILE = Path(
    os.environ.get(
        "AUDIT_CHECKPOINT_PUBLIC_KEY_FILE", BASE_DIR / "var" / "audit" / "checkpoint.pub"
    )
)
AUDIT_CHECKPOINT_LOG = Path(
    os.environ.get("AUDIT_CHECKPOINT_LOG", BASE_DIR / "var" / "audit" / "checkpoints.jsonl")
)
# The checkpoint task runs on a queue of its own, consumed in a deployment by the one worker
# that mounts the private key (docker-compose.yml: ``checkpointer``); ``make run``'s worker
# consumes both queues.
AUDIT_CHECKPOINT_QUEUE = os.environ.get("AUDIT_CHECKPOINT_QUEUE", "audit_checkpoints")
# Webhook delivery (§13.3) runs on its own queue so slow receivers never delay other work.
WEBHOOKS_QUEUE = os.environ.get("WEBHOOKS_QUEUE", "webhooks")
# Gate evaluation (§8, §19) runs on its own queue: its batches are CPU-bound (the rule in
# Python, the aggregating statements), so a deployment gives them a worker with one process
# per core (docker-compose.yml: ``engine-worker``, ``--concurrency auto``), and the daily
# run over thousands of gates never holds the processes that send e-mails and post
# releases. More processes than cores only add switching: 4 on 2 cores took ~18 % longer
# for the same batches (median 6.78 s against 5.72 s; bench/README.md).
ENGINE_QUEUE = os.environ.get("ENGINE_QUEUE", "engine")
CELERY_TASK_ROUTES = {
    "projects.evaluate_gates_batch": {"queue": ENGINE_QUEUE},
    "projects.evaluate_gate": {"queue": ENGINE_QUEUE},
    "fundapp.audit.checkpoint": {"queue": AUDIT_CHECKPOINT_QUEUE},
    "notifications.deliver_webhook": {"queue": WEBHOOKS_QUEUE},
    "notifications.fan_out_webhooks": {"queue": WEBHOOKS_QUEUE},
    "notifications.reconcile_webhooks": {"queue": WEBHOOKS_QUEUE},
}
# Webhooks: http:// and 127.0.0.1 receivers are refused unless this is on: by default only
# with DEBUG (``make run``'s demo receiver, §20), never in production; the tests turn it on.
WEBHOOKS_ALLOW_LOOPBACK = env_bool("WEBHOOKS_ALLOW_LOOPBACK", DEBUG)
# The demo's webhook receiver (``make run``, ``fundapp.demo.receiver``): seed_demo subscribes
# one partner organisation to it and writes the signing secret where the receiver reads it.
DEMO_VAR_DIR = Path(os.environ.get("JKFUND_VAR_DIR") or BASE_DIR / "var")
DEMO_WEBHOOK_PORT = int(os.environ.get("DEMO_WEBHOOK_PORT", "8099"))
DEMO_WEBHOOK_URL = os.environ.get(
    "DEMO_WEBHOOK_URL", f"http://127.0.0.1:{DEMO_WEBHOOK_PORT}/webhooks"
)
DEMO_WEBHOOK_SECRET_FILE = Path(
    os.environ.get("DEMO_WEBHOOK_SECRET_FILE", DEMO_VAR_DIR / "demo-webhook-secret")
)
DEMO_WEBHOOK_LOG = Path(
    os.environ.get("DEMO_WEBHOOK_LOG", DEMO_VAR_DIR / "demo-webhook-events.log")
)
WEBHOOKS_TIMEOUT_SECONDS = 10.0
WEBHOOKS_USER_AGENT = "JK-Joint-RD-Fund-Webhooks/1 (Japan-Korea Joint R&D Fund)"

# REST framework
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "fundapp.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "fundapp.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "fundapp.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "fundapp.api.errors.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["fundapp.api.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"client": os.environ.get("API_RATE_LIMIT", "600/min")},
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON only (§14); the one upload view (proposal attachments) adds multipart itself.
    "DEFAULT_PARSER_CLASSES": ["fundapp.api.parsers.JSONParser"],
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Japan–Korea Joint R&D Fund API",
    "DESCRIPTION": "Partner-system API: calls, proposals, projects, gates, tranches, licences.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SECURITY": [{"bearerAuth": []}],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "fundapp.api.schema.postprocess_problems",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrganisationKindEnum": "fundapp.accounts.models.Organisation.Kind",
        "ProposalStateEnum": "projects.models.proposals.ProposalState",
        "CallStateEnum": "projects.models.calls.CallState",
        "CallKindEnum": "projects.models.calls.CallKind",
        "AttachmentKindEnum": "projects.models.proposals.Attachment.Kind",
        "ProjectStateEnum": "projects.models.projects.ProjectState",
        "GateStateEnum": "projects.models.projects.GateState",
        "GateDecisionKindEnum": "projects.models.projects.GateDecisionKind",
        "LedgerCurrencyEnum": "fundapp.ledger.models.Currency",
        "AssignmentStateEnum": "projects.models.reviews.AssignmentState",
        "AwardDecisionStateEnum": "projects.models.reviews.DecisionState",
        "AwardOutcomeEnum": "projects.models.reviews.AwardOutcome",
        "RecommendationEnum": "projects.models.reviews.Recommendation",
        "GateOutcomeEnum": "projects.models.projects.GateOutcome",
        "VisitAwardOutcomeEnum": ["awarded", "rejected"],
        "AssetKindEnum": "ip_licensing.models.assets.AssetKind",
        "ObligationKindEnum": "ip_licensing.models.obligations.ObligationKind",
        "ObligationStateEnum": "ip_licensing.models.obligations.ObligationState",
        "LicenceStateEnum": "ip_licensing.models.licences.LicenceState",
        "SublicenceConsentStateEnum": "ip_licensing.models.sublicences.ConsentState",
        "DeliverableKindEnum": "projects.models.deliverables.DeliverableKind",
        "DeliverableStateEnum": "projects.models.deliverables.DeliverableState",
    },
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG and env_bool("DJANGO_SECURE", False):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy of every page (§17, django-csp; fundapp.csp skips the JSON API):
# this origin only, no inline script or style, no eval, never framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
