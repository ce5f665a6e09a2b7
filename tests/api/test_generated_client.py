"""A client generated from /api/schema/ by openapi-python-client imports and completes the
§21 journey unchanged (§14)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fundapp.accounts.models import Organisation, Side
from fundapp.accounts.services import api_key_issue
from fundapp.demo.seed import seed_all
from ip_licensing.models import Licence, LicenceState
from projects.models import Disbursement, DisbursementState, Project, ProjectState

pytestmark = [pytest.mark.django_db(transaction=True)]

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "jkfund_client"
CONFIG = """\
project_name_override: jkfund-client
package_name_override: jkfund_client
post_hooks: []
content_type_overrides:
  application/pdf: application/octet-stream
"""


@pytest.fixture
def generated(tmp_path, monkeypatch) -> Any:
    """The package generated from the published schema, importable as ``jkfund_client``."""
    schema = Client().get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    (tmp_path / "config.yaml").write_text(CONFIG)
    result = subprocess.run(  # noqa: S603 - our own venv's generator on our own schema
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        monkeypatch.delitem(sys.modules, name)
    package = importlib.import_module(PACKAGE)
    for module in pkgutil.walk_packages(package.__path__, prefix=f"{PACKAGE}."):
        importlib.import_module(module.name)
    return package


def _key(org: Organisation, scopes: list[str]) -> str:
    _, full_key = api_key_issue(
        organisation=org, name="generated client", scopes=scopes, expires_at=None, actor=None
    )
    return full_key


def test_the_generated_client_completes_the_journey(live_server, generated):
    # Given the demo world, a research office's key and its side's agency's key
    seed_all(with_logins=False)
    project = Project.objects.filter(
        state=ProjectState.ACTIVE, current_stage__number=1, current_stage__state="active"
    ).get(title_en__startswith="Ultra-low-power edge AI")
    participant = project.organisations.select_related("organisation").filter(side=Side.JP).first()
    assert participant is not None
    office = participant.organisation
    payable = Disbursement.objects.filter(state=DisbursementState.PAYABLE).first()
    assert payable is not None
    side = payable.tranche.side
    agency = Organisation.objects.create(
        code=f"{side}-AGY-01",
        name_en="Agency",
        name_ja="機構",
        name_ko="기구",
        country=side,
        kind=Organisation.Kind.AGENCY,
        side=side,
    )
    licence = Licence.objects.filter(state=LicenceState.ACTIVE).first()
    assert licence is not None

    from jkfund_client import AuthenticatedClient  # type: ignore[import-not-found]
    from jkfund_client.api.v1 import (  # type: ignore[import-not-found]
        v1_disbursements_confirm_create,
        v1_gates_evaluate_create,
        v1_gates_retrieve,
        v1_kpis_list,
        v1_licences_check_create,
        v1_measurements_create,
        v1_projects_list,
        v1_projects_retrieve,
        v1_stages_list,
        v1_tranches_list,
    )
    from jkfund_client.models import (  # type: ignore[import-not-found]
        DisbursementConfirmRequest,
        LicenceCheckBatchRequest,
        LicenceCheckRequest,
        MeasurementCreateRequest,
        PurposeEnum,
    )

    scopes = ["projects:read", "kpi:write", "gates:read", "gates:write", "licences:check"]
    client = AuthenticatedClient(base_url=live_server.url, token=_key(office, scopes))
    finance = AuthenticatedClient(
        base_url=live_server.url, token=_key(agency, ["payments:write", "projects:read"])
    )

    # When the partner system walks §21 through the generated client
    projects = v1_projects_list.sync(client=client)
    assert project.pk in [p.id for p in projects.results]

    detail = v1_projects_retrieve.sync(id=project.pk, client=client)
    stage = next(s for s in detail.stages if s.number == 1)
    stages = v1_stages_list.sync(client=client, project=project.pk)
    assert stage.id in [s.id for s in stages.results]
    kpis = v1_kpis_list.sync(client=client, stage=stage.id)
    assert kpis.results
    kpi = kpis.results[0]

    body = MeasurementCreateRequest(
        kpi=kpi.id,
        value=str(kpi.target),
        measured_at=(timezone.now() - timedelta(minutes=5)).isoformat(),
        note="generated client",
    )
    key = str(uuid.uuid4())
    first = v1_measurements_create.sync_detailed(client=client, body=body, idempotency_key=key)
    again = v1_measurements_create.sync_detailed(client=client, body=body, idempotency_key=key)
    assert first.status_code == 201, first.content
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.content) == json.loads(first.content)
    assert again.parsed.id == first.parsed.id

    gate = v1_gates_retrieve.sync(id=stage.gate.id, client=client)
    assert gate.id == stage.gate.id
    evaluated = v1_gates_evaluate_create.sync_detailed(id=gate.id, client=client)
    assert evaluated.status_code == 200, evaluated.content
    assert evaluated.parsed.latest_evaluation.outcome in ("pass", "conditional", "fail")

    tranches = v1_tranches_list.sync(client=client, project=project.pk)
    assert tranches.results
    assert {t.project for t in tranches.results} == {project.pk}
    confirmed = v1_disbursements_confirm_create.sync_detailed(
        id=payable.pk,
        client=finance,
        body=DisbursementConfirmRequest(paid_on=timezone.localdate(), reference="GEN-CLIENT-0001"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert confirmed.status_code == 200, confirmed.content

    check = LicenceCheckRequest(
        asset=licence.assets.values_list("pk", flat=True)[0],
        licensee=licence.licensee.code,
        field=licence.fields_of_use[0],
        purpose=PurposeEnum(licence.purposes[0]),
        territory=licence.territories[0],
        on=timezone.localdate(),
    )
    single = v1_licences_check_create.sync_detailed(client=client, body=check)
    batch = v1_licences_check_create.sync_detailed(
        client=client, body=LicenceCheckBatchRequest(checks=[check, check])
    )

    # Then every answer parsed into the generated models
    assert single.status_code == 200, single.content
    assert single.parsed.decision in ("allow", "deny")
    assert batch.status_code == 200, batch.content
    assert [r.decision for r in batch.parsed.results] == [single.parsed.decision] * 2
