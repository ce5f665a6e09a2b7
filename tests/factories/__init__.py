"""Shared factories for the kernel and projects. Area-specific ones live beside their tests.

Call them as ``UserFactory.create(...)``, which mypy types as the model (a ``User``);
``UserFactory(...)`` does the same at run time but mypy types it as the factory."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from fundapp.accounts.models import Membership, Organisation, Role, User
from projects.models import (
    KPI,
    Call,
    CallState,
    Fund,
    Gate,
    Measurement,
    MeasurementSource,
    Project,
    ProjectOrganisation,
    ProjectPerson,
    Proposal,
    ProposalState,
    ResearchArea,
    Stage,
    StageState,
    Tranche,
)


class OrganisationFactory(factory.django.DjangoModelFactory[Organisation]):
    class Meta:
        model = Organisation
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"JP-ORG-{n:03d}")
    name_en = factory.Sequence(lambda n: f"Organisation {n}")
    name_ja = factory.Sequence(lambda n: f"機関 {n}")
    name_ko = factory.Sequence(lambda n: f"기관 {n}")
    country = "JP"
    kind = Organisation.Kind.UNIVERSITY


_org_counter = itertools.count(1)


def jp_org(**kwargs) -> Organisation:
    kwargs.setdefault("code", f"JP-T{next(_org_counter):04d}")
    return OrganisationFactory.create(country="JP", **kwargs)


def kr_org(**kwargs) -> Organisation:
    kwargs.setdefault("code", f"KR-T{next(_org_counter):04d}")
    return OrganisationFactory.create(country="KR", **kwargs)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = Role.RESEARCHER
    password = factory.PostGenerationMethodCall("set_password", "pw-Secret-123")

    @factory.post_generation
    def save_password(obj: User, create: bool, extracted: object, **kwargs: object) -> None:  # noqa: N805
        if create:
            obj.save()


def member_of(org: Organisation, *, research_office: bool = False, **kwargs) -> User:
    user = UserFactory.create(**kwargs)
    Membership.objects.create(user=user, organisation=org, research_office=research_office)
    return user


def officer(side: str = "JP", **kwargs) -> User:
    return UserFactory.create(role=Role.FUND_OFFICER, side=side, **kwargs)


class FundFactory(factory.django.DjangoModelFactory[Fund]):
    class Meta:
        model = Fund

    name_en = "Japan–Korea Joint R&D Fund"
    name_ja = "日韓共同研究開発基金"
    name_ko = "한일 공동 연구개발 기금"
    jp_agency = "JST"
    kr_agency = "NRF"
    reference_rate_krw_per_jpy = Decimal("9.0000")


class ResearchAreaFactory(factory.django.DjangoModelFactory[ResearchArea]):
    class Meta:
        model = ResearchArea
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"area{n}")
    name_en = factory.LazyAttribute(lambda a: a.code)


class CallFactory(factory.django.DjangoModelFactory[Call]):
    class Meta:
        model = Call
        skip_postgeneration_save = True

    fund = factory.SubFactory(FundFactory)
    title_en = factory.Sequence(lambda n: f"Call {n}")
    title_ja = factory.Sequence(lambda n: f"公募 {n}")
    title_ko = factory.Sequence(lambda n: f"공모 {n}")
    opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=10))
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    state = CallState.OPEN
    max_budget_jpy = 300_000_000
    max_budget_krw = 3_000_000_000

    @factory.post_generation
    def research_areas(  # noqa: N805
        obj: Call, create: bool, extracted: list[ResearchArea] | None, **kwargs: object
    ) -> None:
        if not create:
            return
        areas = extracted or [ResearchAreaFactory.create(code="semiconductor.ai")]
        obj.research_areas.set(areas)


# --------------------------------------------------------------------------- running projects
# Projects with stages, gates, KPIs, tranches and measurements written directly with the
# models (the award services are tested on their own), for the gate engine's tests.


class ProposalFactory(factory.django.DjangoModelFactory[Proposal]):
    class Meta:
        model = Proposal

    call = factory.SubFactory(CallFactory)
    state = ProposalState.AWARDED
    title_en = factory.Sequence(lambda n: f"Project {n}")


class ProjectFactory(factory.django.DjangoModelFactory[Project]):
    class Meta:
        model = Project

    call = factory.SubFactory(CallFactory)
    proposal = factory.SubFactory(
        ProposalFactory,
        call=factory.SelfAttribute("..call"),
        title_en=factory.SelfAttribute("..title_en"),
    )
    title_en = factory.Sequence(lambda n: f"Project {n}")
    started_on = date(2026, 1, 5)


class StageFactory(factory.django.DjangoModelFactory[Stage]):
    class Meta:
        model = Stage

    project = factory.SubFactory(ProjectFactory)
    number = 1
    title = factory.LazyAttribute(lambda s: f"Stage {s.number}")
    months = 6


class GateFactory(factory.django.DjangoModelFactory[Gate]):
    class Meta:
        model = Gate

    stage = factory.SubFactory(StageFactory)
    due_on = date(2026, 6, 30)


class KPIFactory(factory.django.DjangoModelFactory[KPI]):
    class Meta:
        model = KPI

    stage = factory.SubFactory(StageFactory)
    project = factory.SelfAttribute("stage.project")
    code = factory.Sequence(lambda n: f"K{n}")
    name_en = factory.LazyAttribute(lambda k: f"KPI {k.code}")
    unit = "TOPS/W"
    direction = "higher_is_better"
    baseline = Decimal("10")
    target = Decimal("20")
    weight = Decimal("1")
    mandatory = True
    aggregation = "latest"


class MeasurementFactory(factory.django.DjangoModelFactory[Measurement]):
    class Meta:
        model = Measurement

    kpi = factory.SubFactory(KPIFactory)
    project = factory.SelfAttribute("kpi.project")
    value = Decimal("15")
    measured_at = factory.LazyFunction(timezone.now)
    source = MeasurementSource.BROWSER


class TrancheFactory(factory.django.DjangoModelFactory[Tranche]):
    class Meta:
        model = Tranche

    stage = factory.SubFactory(StageFactory)
    project = factory.SelfAttribute("stage.project")
    side = "JP"
    currency = "JPY"
    planned = 40_000_000


def add_leads(project: Project, jp: Organisation, kr: Organisation) -> None:
    """The two lead organisations of a project's consortium, each side's budget in its
    currency (JP 100,000,000 JPY, KR 1,000,000,000 KRW), JP listed first."""
    ProjectOrganisation.objects.create(
        project=project,
        organisation=jp,
        role="lead_jp",
        side="JP",
        currency="JPY",
        budget=100_000_000,
        order=0,
    )
    ProjectOrganisation.objects.create(
        project=project,
        organisation=kr,
        role="lead_kr",
        side="KR",
        currency="KRW",
        budget=1_000_000_000,
        order=1,
    )


def running_project(
    *,
    call: Call | None = None,
    started_on: date = date(2026, 1, 5),
    gate_days: tuple[date, ...] = (date(2026, 6, 30), date(2026, 12, 31)),
    kpis: list[dict] | None = None,
    pi: User | None = None,
    tranches: bool = True,
) -> Project:
    """An active project whose first stage runs from ``started_on`` to its gate (due on
    ``gate_days[0]``), later stages planned; both sides' organisations; a PI (``pi`` or a
    new researcher); the first stage's ``kpis`` (field overrides, default one mandatory
    ``latest`` KPI 10 → 20); a JP and a KR tranche planned for every stage after the first."""
    call = call or CallFactory.create()
    project = ProjectFactory.create(call=call, started_on=started_on)
    jp, kr = jp_org(), kr_org()
    add_leads(project, jp, kr)
    person = pi or member_of(jp)
    ProjectPerson.objects.create(
        project=project, organisation=jp, user=person, role="pi", effort_percent=30
    )
    stages = []
    for number, due_on in enumerate(gate_days, start=1):
        first = number == 1
        stage = StageFactory.create(
            project=project,
            number=number,
            state=StageState.ACTIVE if first else StageState.PLANNED,
            started_on=started_on if first else None,
        )
        GateFactory.create(stage=stage, due_on=due_on)
        if tranches and not first:
            TrancheFactory.create(stage=stage, side="JP", currency="JPY", planned=40_000_000)
            TrancheFactory.create(stage=stage, side="KR", currency="KRW", planned=400_000_000)
        stages.append(stage)
    project.current_stage = stages[0]
    project.save(update_fields=["current_stage"])
    for spec in kpis if kpis is not None else [{}]:
        KPIFactory.create(stage=stages[0], **spec)
    return project
