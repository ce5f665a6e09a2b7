"""``make run`` against given servers: migrate as the owner, the children as the app (§12)."""

from pathlib import Path

from fundapp import runstack


def test_the_owner_url_goes_to_migrate_only(tmp_path: Path):
    env = {
        "DATABASE_URL": "postgres://jkfund_app:a@db.example/jkfund",
        "DATABASE_OWNER_URL": "postgres://jkfund_owner:o@db.example/jkfund",
        "REDIS_URL": "redis://redis.example:6379/0",
    }

    embedded_db, owner_url = runstack._configure_services(env, tmp_path)

    assert not embedded_db
    assert owner_url == "postgres://jkfund_owner:o@db.example/jkfund"
    # web, worker and beat get this env: the application role, and no owner credentials.
    assert env["DATABASE_URL"] == "postgres://jkfund_app:a@db.example/jkfund"
    assert "DATABASE_OWNER_URL" not in env


def test_without_an_owner_url_migrate_uses_the_given_database_url(tmp_path: Path):
    env = {"DATABASE_URL": "postgres://me@db.example/jkfund", "REDIS_URL": "redis://r:6379/0"}

    assert runstack._configure_services(env, tmp_path) == (
        False,
        "postgres://me@db.example/jkfund",
    )


def test_the_worker_consumes_the_checkpoint_queue_too():
    """``make run`` has one worker: it signs checkpoints as well as everything else (§12)."""
    worker = runstack._commands({}, "127.0.0.1", 8000)["worker"]
    queues = worker[worker.index("--queues") + 1].split(",")

    assert queues == ["celery", "audit_checkpoints", "webhooks", "engine"]
    custom = runstack._commands(
        {"AUDIT_CHECKPOINT_QUEUE": "signing", "ENGINE_QUEUE": "gates"}, "127.0.0.1", 8000
    )
    assert (
        custom["worker"][custom["worker"].index("--queues") + 1] == "celery,signing,webhooks,gates"
    )
