"""The published schema is exact (§14): a schemathesis run with every check and the
stateful phase against a live server holding the demo data finds nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schemathesis
from schemathesis.engine import Status, events

from fundapp.accounts.models import Organisation, Side
from fundapp.accounts.services import api_key_issue
from fundapp.api.throttling import ClientRateThrottle
from fundapp.demo.seed import seed_all

CONFIG = Path(__file__).with_name("schemathesis.toml")

OFFICE_SCOPES = [
    "proposals:read",
    "proposals:write",
    "projects:read",
    "kpi:write",
    "gates:read",
    "gates:write",
    "licences:read",
    "licences:check",
    "royalties:write",
    "webhooks:manage",
]
AGENCY_SCOPES = ["payments:write", "ledger:read", "projects:read"]

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def keys(monkeypatch) -> None:
    """The demo world; a research office's key (Tokyo) and the Japanese agency's key."""
    seed_all(with_logins=False)
    office = Organisation.objects.get(code="JP-TKY-01")
    agency = Organisation.objects.create(
        code="JP-AGY-01",
        name_en="Japan Research Agency",
        name_ja="日本研究機構",
        name_ko="일본 연구 기구",
        country="JP",
        kind=Organisation.Kind.AGENCY,
        side=Side.JP,
    )
    _, office_key = api_key_issue(
        organisation=office, name="schemathesis", scopes=OFFICE_SCOPES, expires_at=None, actor=None
    )
    _, agency_key = api_key_issue(
        organisation=agency, name="schemathesis", scopes=AGENCY_SCOPES, expires_at=None, actor=None
    )
    monkeypatch.setenv("JKF_OFFICE_KEY", office_key)
    monkeypatch.setenv("JKF_AGENCY_KEY", agency_key)
    # The run sends a few thousand requests a minute; the rate limit has tests of its own.
    monkeypatch.setattr(ClientRateThrottle, "rate", "1000000/min", raising=False)


def run_schemathesis(base_url: str) -> tuple[int, list[str], float]:
    """Run every phase; return (cases, failures as text, seconds)."""
    config = schemathesis.Config.from_path(CONFIG)
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json", config=config)
    started = time.monotonic()
    cases = 0
    failures: list[str] = []
    phase_started = started
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted):
            phase_started = time.monotonic()
        elif isinstance(event, events.PhaseFinished):
            print(
                f"schemathesis phase {event.phase.name}: {time.monotonic() - phase_started:.0f} s"
            )
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases += len(recorder.cases)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        response = recorder.find_response(case_id=case_id)
                        status = response.status_code if response is not None else None
                        failures.append(
                            f"{event.phase.value} {recorder.label} [{check.name}] ({status}) "
                            f"{failure.title}: {failure.message}\n"
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            failures.append(f"error in {event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
    return cases, failures, time.monotonic() - started


def test_schemathesis_finds_nothing(live_server, keys):
    cases, failures, seconds = run_schemathesis(live_server.url)

    print(f"schemathesis: {cases} cases, {len(failures)} failures, {seconds:.0f} s")
    assert cases > 500
    assert not failures, "\n\n".join(dict.fromkeys(failures))
