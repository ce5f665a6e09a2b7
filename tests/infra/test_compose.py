"""docker-compose.yml runs the production stack with settings that settings.py reads (§18)."""

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from django.conf import settings

from fundapp.dbroles import APP_ROLE, OWNER_ROLE

REPO = Path(__file__).resolve().parents[2]
INIT_SCRIPT = REPO / "deploy" / "postgres-init" / "10-roles.sh"
APP_SERVICES = ["web", "worker", "webhook-worker", "engine-worker", "beat", "checkpointer"]
REQUIRED_ENV = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_DEBUG",
    "DJANGO_SECURE",
    "DJANGO_REQUIRE_SECRET",
}


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "NAME=value" form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def interpolated(value: str) -> str:
    """As docker compose would, with every operator-supplied ``${VAR...}`` set to "secret"."""
    return re.sub(r"\$\{[^}]*\}", "secret", value)


def names_read_by_settings() -> set[str]:
    source = (REPO / "fundapp" / "settings.py").read_text()
    calls = r'(?:os\.environ\.get|os\.getenv|env_bool|env_int)\(\s*"([A-Z0-9_]+)"'
    items = r'os\.environ\[\s*"([A-Z0-9_]+)"\s*\]'
    return set(re.findall(calls, source)) | set(re.findall(items, source))


def command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def test_the_settings_scan_finds_the_known_names():
    # Guards the test below against a scan that finds nothing and so accepts everything.
    assert names_read_by_settings() >= REQUIRED_ENV


def test_all_services_exist(services):
    assert {"web", "worker", "beat", "db", "redis"} <= set(services)
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_build_from_the_repository(services, name):
    assert services[name]["build"] in (".", {"context": "."})


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_variable_is_read_by_settings(services, name):
    unknown = set(environment(services[name])) - names_read_by_settings()
    assert not unknown, f"{name} sets variables settings.py never reads: {sorted(unknown)}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_required_variables_are_present_with_production_values(services, name):
    env = environment(services[name])
    assert set(env) >= REQUIRED_ENV
    assert env["DJANGO_DEBUG"] == "0"
    assert env["DJANGO_REQUIRE_SECRET"] == "1"
    assert env["DJANGO_SECRET_KEY"].startswith("${")  # from the operator, never a literal


@pytest.mark.parametrize("name", APP_SERVICES)
def test_urls_point_at_the_compose_servers(services, name):
    env = {key: interpolated(value) for key, value in environment(services[name]).items()}
    database = urlparse(env["DATABASE_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert database.hostname == "db"
    assert database.path == "/" + services["db"]["environment"]["POSTGRES_DB"]
    # The application role (§12), neither the cluster's superuser nor the tables' owner.
    assert database.username == APP_ROLE
    assert database.username != services["db"]["environment"]["POSTGRES_USER"]
    for key in ("REDIS_URL", "CELERY_BROKER_URL"):
        url = urlparse(env[key])
        assert (url.scheme, url.hostname) == ("redis", "redis"), key


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_their_servers(services, name):
    assert {"db", "redis"} <= set(services[name]["depends_on"])


def test_commands_run_web_worker_and_beat(services):
    assert command(services["web"]).startswith("gunicorn fundapp.wsgi")
    assert command(services["worker"]).startswith("celery -A fundapp worker")
    beat = command(services["beat"])
    assert beat.startswith("celery -A fundapp beat")
    assert "django_celery_beat.schedulers:DatabaseScheduler" in beat


def test_dockerfile_installs_collects_static_and_serves_with_gunicorn():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    assert '"gunicorn", "fundapp.wsgi"' in dockerfile
    assert re.search(r"^USER (?!root)", dockerfile, re.M)


def test_the_database_creates_both_roles_on_its_first_start(services):
    db = services["db"]
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert INIT_SCRIPT.stat().st_mode & 0o111, "the postgres image runs only executable .sh"
    script = INIT_SCRIPT.read_text()
    assert "CREATE ROLE %I LOGIN NOSUPERUSER" in script
    assert OWNER_ROLE in script and APP_ROLE in script
    env = environment(db)
    assert env["POSTGRES_USER"] not in {OWNER_ROLE, APP_ROLE}  # the superuser is neither
    for name in ("POSTGRES_PASSWORD", "DATABASE_OWNER_PASSWORD", "DATABASE_APP_PASSWORD"):
        assert env[name].startswith("${"), name  # from the operator, never a literal
    assert env["POSTGRES_USER"] in command({"command": db["healthcheck"]["test"]})


def test_only_the_migrate_service_connects_as_the_owner(services):
    migrate = services["migrate"]
    assert command(migrate) == "python manage.py migrate --noinput"
    assert migrate["restart"] == "no"
    url = urlparse(interpolated(environment(migrate)["DATABASE_URL"]))
    assert (url.username, url.hostname, url.path) == (OWNER_ROLE, "db", "/jkfund")
    # Apart from the database URL, migrate runs with the settings of the app services.
    rest = {k: v for k, v in environment(migrate).items() if k != "DATABASE_URL"}
    assert rest == {k: v for k, v in environment(services["web"]).items() if k != "DATABASE_URL"}
    for name, service in services.items():
        if name in {"migrate", "db"}:
            continue
        values = " ".join(environment(service).values())
        assert OWNER_ROLE not in values and "DATABASE_OWNER_PASSWORD" not in values, name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_start_after_the_migration(services, name):
    assert services[name]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def volume_mounts(service: dict) -> dict[str, str]:
    """Container path → "volume" or "volume:ro" for each named volume the service mounts."""
    mounts = {}
    for item in service.get("volumes", []):
        source, target, *mode = item.split(":")
        mounts[target] = source + (":" + mode[0] if mode else "")
    return mounts


def test_only_the_checkpointer_holds_the_signing_key(services):
    """§12: the app processes cannot read the checkpoint key back; one worker signs."""
    checkpointer = services["checkpointer"]
    key_file = environment(checkpointer)["AUDIT_CHECKPOINT_KEY_FILE"]
    key_dir = str(Path(key_file).parent)
    assert volume_mounts(checkpointer)[key_dir] == "audit-key"
    assert "audit-key" in yaml.safe_load((REPO / "docker-compose.yml").read_text())["volumes"]
    for name, service in services.items():
        if name == "checkpointer":
            continue
        mounted = {source.split(":")[0] for source in volume_mounts(service).values()}
        assert "audit-key" not in mounted, name
        assert "AUDIT_CHECKPOINT_KEY_FILE" not in environment(service), name
    # The public key and the log: written by the checkpointer, read-only elsewhere.
    public = str(Path(environment(checkpointer)["AUDIT_CHECKPOINT_PUBLIC_KEY_FILE"]).parent)
    assert volume_mounts(checkpointer)[public] == "audit-public"
    for name in ("web", "worker", "beat"):
        assert volume_mounts(services[name])[public] == "audit-public:ro", name
        assert environment(services[name])["AUDIT_CHECKPOINT_LOG"].startswith(public + "/")


def test_checkpoints_have_a_queue_only_the_checkpointer_consumes(services):
    queue = environment(services["web"])["AUDIT_CHECKPOINT_QUEUE"]
    signer = command(services["checkpointer"])
    assert "audit_keygen --if-missing" in signer  # the key pair on its first start
    assert re.search(rf"celery -A fundapp worker .*--queues {queue} --concurrency 1\b", signer)
    worker = command(services["worker"])
    queues = worker.split("--queues ", 1)[1].split()[0].split(",")
    assert queues == ["celery"] and queue not in queues
    assert "--queues" not in command(services["beat"])


def queues_of(service: dict) -> list[str]:
    cmd = command(service)
    return cmd.split("--queues ", 1)[1].split()[0].split(",") if "--queues " in cmd else []


def test_each_routed_queue_has_workers_of_its_own(services):
    """Webhooks and the gate engine (§13.3, §19) each have the one service that consumes
    them; the default worker consumes neither."""
    consumers: dict[str, list[str]] = {}
    for name, service in services.items():
        for queue in queues_of(service):
            consumers.setdefault(queue, []).append(name)

    assert consumers[settings.WEBHOOKS_QUEUE] == ["webhook-worker"]
    assert consumers[settings.ENGINE_QUEUE] == ["engine-worker"]
    assert consumers["celery"] == ["worker"]
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed <= set(consumers), f"no service consumes {routed - set(consumers)}"


def test_the_engine_worker_runs_one_process_per_core_by_default(services):
    """The gate batches are CPU-bound (§19): Celery's ``auto`` sizes the pool to the cores
    the container may use; the operator can still set a number."""
    engine = command(services["engine-worker"])
    assert re.search(r"--concurrency \$\{ENGINE_WORKER_CONCURRENCY:-auto\}(\s|$)", engine), engine
    assert "--hostname engine@%h" in engine


def test_dockerfile_creates_the_audit_directories_for_the_volumes():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "var/audit var/audit-key" in dockerfile
    assert "chmod 0700 var/audit-key" in dockerfile
