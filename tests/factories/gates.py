"""A running project built directly with the models, independent of the award services."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from guardian.shortcuts import assign_perm

from fundapp.accounts.models import ApiKey, Role, User, hash_secret
from projects.models import (
    KPI,
    Call,
    Gate,
    Measurement,
    MeasurementEvidence,
    MeasurementSource,
    Project,
    ProjectPerson,
    Proposal,
    ProposalState,
    Stage,
    StageState,
)
from projects.rules.gates import GATE_TIMEZONE
from tests.factories import CallFactory, UserFactory, add_leads, jp_org, kr_org, member_of

_keys = itertools.count(1)


@dataclass
class Built:
    project: Project
    call: Call
    stages: list[Stage]
    gates: list[Gate]
    kpis: dict[str, KPI]
    researcher: User  # a named person of the JP organisation
    researcher_kr: User
    office: User  # the JP organisation's research office: sees the project, is not named
    stranger: User  # a researcher of another organisation
    officer: User
    officer_kr: User
    extra: dict[str, Any] = field(default_factory=dict)


def tokyo(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=GATE_TIMEZONE)


def api_key(organisation, scopes: list[str]) -> ApiKey:
    n = next(_keys)
    return ApiKey.objects.create(
        organisation=organisation,
        name=f"key {n}",
        key_id=f"k{n:010d}",
        secret_hash=hash_secret(f"secret-{n}"),
        scopes=scopes,
    )


def build_project(
    *,
    started_on: date = date(2026, 1, 5),
    gate_day: date = date(2026, 6, 30),
    second_gate_day: date = date(2026, 12, 31),
    call: Call | None = None,
    kpis: list[dict[str, Any]] | None = None,
    first_stage_state: str = StageState.ACTIVE,
) -> Built:
    call = call or CallFactory.create()
    jp, kr = jp_org(), kr_org()
    researcher, researcher_kr = member_of(jp), member_of(kr)
    office = member_of(jp, research_office=True)
    stranger = member_of(jp_org())
    proposal = Proposal.objects.create(
        call=call, state=ProposalState.AWARDED, title_en="Edge AI accelerators"
    )
    project = Project.objects.create(
        proposal=proposal, call=call, title_en="Edge AI accelerators", started_on=started_on
    )
    add_leads(project, jp, kr)
    for person, org in ((researcher, jp), (researcher_kr, kr)):
        ProjectPerson.objects.create(
            project=project, organisation=org, user=person, role="pi", effort_percent=30
        )
        assign_perm("view_project", person, project)
    stage1 = Stage.objects.create(
        project=project,
        number=1,
        title="Stage 1",
        months=6,
        state=first_stage_state,
        started_on=started_on,
    )
    stage2 = Stage.objects.create(project=project, number=2, title="Stage 2", months=6)
    gate1 = Gate.objects.create(stage=stage1, due_on=gate_day)
    gate2 = Gate.objects.create(stage=stage2, due_on=second_gate_day)
    project.current_stage = stage1
    project.save(update_fields=["current_stage"])
    specs = kpis or [
        {"code": "K1A", "mandatory": True, "weight": "1"},
        {"code": "K1B", "mandatory": False, "weight": "2"},
    ]
    made = {}
    for spec in specs:
        data = {
            "name_en": f"KPI {spec['code']}",
            "unit": "TOPS/W",
            "direction": "higher_is_better",
            "baseline": "10",
            "target": "20",
            "aggregation": "latest",
            **spec,
        }
        for name in ("baseline", "target", "weight"):
            data[name] = Decimal(str(data[name]))
        made[spec["code"]] = KPI.objects.create(project=project, stage=stage1, **data)
    made["K2A"] = KPI.objects.create(
        project=project,
        stage=stage2,
        code="K2A",
        name_en="KPI K2A",
        direction="higher_is_better",
        baseline=Decimal("20"),
        target=Decimal("30"),
        weight=Decimal("1"),
        mandatory=True,
        aggregation="latest",
    )
    return Built(
        project=project,
        call=call,
        stages=[stage1, stage2],
        gates=[gate1, gate2],
        kpis=made,
        researcher=researcher,
        researcher_kr=researcher_kr,
        office=office,
        stranger=stranger,
        officer=UserFactory.create(role=Role.FUND_OFFICER, side="JP"),
        officer_kr=UserFactory.create(role=Role.FUND_OFFICER, side="KR"),
        extra={"jp": jp, "kr": kr},
    )


def measure(
    kpi: KPI, value: str, at: datetime, *, by: User | None = None, evidence: bool | int = False
) -> Measurement:
    """A measurement row written directly (the service is tested on its own); with
    ``evidence`` (``True`` or a number of files), it carries evidence file rows (no file is
    stored)."""
    measurement = Measurement.objects.create(
        project=kpi.project,
        kpi=kpi,
        value=Decimal(value),
        measured_at=at,
        source=MeasurementSource.BROWSER,
        created_by=by,
    )
    evidence_rows(measurement, int(evidence))
    return measurement


def evidence_rows(measurement: Measurement, count: int = 1) -> list[MeasurementEvidence]:
    """``count`` evidence file rows of a measurement, each with its own hash (no file)."""
    return MeasurementEvidence.objects.bulk_create(
        [
            MeasurementEvidence(
                measurement=measurement,
                name=f"report-{n}.pdf",
                storage=f"evidence/{measurement.pk}-{n}.pdf",
                content_type="application/pdf",
                size=100 + n,
                sha256=hashlib.sha256(f"{measurement.pk}:{n}".encode()).hexdigest(),
            )
            for n in range(1, count + 1)
        ]
    )
