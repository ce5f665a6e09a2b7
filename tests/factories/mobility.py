"""Factories of the talent exchange (§25): mobility calls with their terms, visit
applications and visits. Rows are written directly with the models (the services are
tested on their own); a row put into a later state walks there along its workflow with
``tests.workflow_states``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import factory
from django.utils import timezone

from fundapp.accounts.models import Organisation, User
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.services import ledger_post
from mobility.models import (
    ApplicationState,
    MobilityTerms,
    Visit,
    VisitApplication,
)
from mobility.rules import paying_side
from projects.models import Call, CallKind, ResearchArea
from tests.factories import (
    CallFactory,
    OrganisationFactory,
    ResearchAreaFactory,
    UserFactory,
    member_of,
)
from tests.factories.review import add_criteria, fund_pools, make_officers

_us_counter = itertools.count(1)


def us_org(**kwargs: Any) -> Organisation:
    kwargs.setdefault("code", f"US-T{next(_us_counter):04d}")
    return OrganisationFactory.create(country="US", **kwargs)


# --------------------------------------------------------------------------- mobcore


class MobilityCallFactory(CallFactory):
    """An open call of kind ``mobility`` with its terms (``terms__…`` overrides them)."""

    kind = CallKind.MOBILITY
    title_en = factory.Sequence(lambda n: f"Exchange call {n}")
    title_ja = factory.Sequence(lambda n: f"人材交流公募 {n}")
    title_ko = factory.Sequence(lambda n: f"인력 교류 공모 {n}")

    @factory.post_generation
    def terms(obj: Call, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805
        if not create:
            return
        values: dict[str, Any] = {
            "stipend_month_jpy": 300_000,
            "stipend_month_krw": 3_000_000,
            "travel_jpy": 200_000,
            "travel_krw": 2_000_000,
            **kwargs,
        }
        MobilityTerms.objects.create(call=obj, **values)


class VisitApplicationFactory(factory.django.DjangoModelFactory[VisitApplication]):
    """A complete draft: a visitor of a Japanese university to a Korean one by default."""

    class Meta:
        model = VisitApplication

    call = factory.SubFactory(MobilityCallFactory)
    home_organisation = factory.SubFactory(
        OrganisationFactory, code=factory.Sequence(lambda n: f"JP-HOME-{n:03d}"), country="JP"
    )
    host_organisation = factory.SubFactory(
        OrganisationFactory, code=factory.Sequence(lambda n: f"KR-HOST-{n:03d}"), country="KR"
    )
    visitor = factory.SubFactory(UserFactory)
    created_by = factory.SelfAttribute("visitor")
    research_area = factory.LazyAttribute(
        lambda a: a.call.research_areas.first() or ResearchAreaFactory.create()
    )
    planned_start = factory.LazyFunction(lambda: date.today() + timedelta(days=90))  # noqa: DTZ011
    months = 6
    title_en = factory.Sequence(lambda n: f"Visit {n}")
    title_ja = factory.Sequence(lambda n: f"訪問 {n}")
    title_ko = factory.Sequence(lambda n: f"방문 {n}")
    plan_en = "Joint measurements on the host's cryogenic probe station."
    host_supervisor_name = "Host Supervisor"
    host_supervisor_email = "supervisor@example.org"
    effort_percent = 80
    state = ApplicationState.DRAFT
    submitted_at = factory.LazyAttribute(
        lambda a: None if a.state == ApplicationState.DRAFT else timezone.now()
    )


def visit_for(application: VisitApplication, **kwargs: Any) -> Visit:
    """The visit an award of ``application`` makes, written directly: the paying side and
    payee by ``paying_side``, the amounts from the call's terms. The application is left
    in the state it is in (walk it to ``awarded`` first if the test needs that)."""
    rule = paying_side(application.home_organisation.country, application.host_organisation.country)
    terms = application.call.mobility_terms
    assert application.months is not None and application.planned_start is not None
    values: dict[str, Any] = {
        "paying_side": rule.side,
        "currency": rule.currency,
        "payee": application.host_organisation
        if rule.payee_is_host
        else application.home_organisation,
        "stipend_month_amount": terms.stipend_month(rule.currency),
        "travel_amount": terms.travel(rule.currency),
        "months": application.months,
        "planned_start": application.planned_start,
        **kwargs,
    }
    return Visit.objects.create(application=application, **values)


class VisitFactory(factory.django.DjangoModelFactory[Visit]):
    """An awarded visit of an awarded application (JP home, KR host: the KR side pays)."""

    class Meta:
        model = Visit

    application = factory.SubFactory(VisitApplicationFactory, state=ApplicationState.AWARDED)

    @classmethod
    def _create(cls, model_class: type[Visit], *args: Any, **kwargs: Any) -> Visit:
        application = kwargs.pop("application")
        return visit_for(application, **kwargs)


__all__ = [
    "Exchange",
    "MobilityCallFactory",
    "application_under_review",
    "draft_application",
    "endorsed_application",
    "exchange",
    "fund_exchange_pools",
    "submitted_application",
    "awarded_visit",
    "VisitApplicationFactory",
    "VisitFactory",
    "us_org",
    "visit_for",
]


# --------------------------------------------------------------------------- mobcore: worlds
# A visitor, the two organisations with their research offices and officers of both sides,
# with applications walked through the services (submit → endorse → review).


@dataclass
class Exchange:
    call: Call
    visitor: User
    home: Organisation
    host: Organisation
    host_office: User
    home_office: User
    officers: Any
    area: ResearchArea


def exchange(
    *,
    home_country: str = "JP",
    host_country: str = "KR",
    sensitivity: str = "normal",
    **terms: Any,
) -> Exchange:
    """An open mobility call with review criteria, and the people of one visit."""
    area = ResearchAreaFactory.create(
        code=f"exchange.area{next(_us_counter)}", sensitivity=sensitivity
    )
    call = MobilityCallFactory.create(
        research_areas=[area], **{f"terms__{k}": v for k, v in terms.items()}
    )
    add_criteria(call)
    home = OrganisationFactory.create(
        code=f"{home_country}-HOME{next(_us_counter):04d}", country=home_country
    )
    host = OrganisationFactory.create(
        code=f"{host_country}-HOST{next(_us_counter):04d}", country=host_country
    )
    visitor = member_of(home)
    return Exchange(
        call=call,
        visitor=visitor,
        home=home,
        host=host,
        host_office=member_of(host, research_office=True),
        home_office=member_of(home, research_office=True),
        officers=make_officers(),
        area=area,
    )


def draft_application(x: Exchange, **fields: Any) -> VisitApplication:
    from mobility.services.applications import application_create, application_update

    application = application_create(
        actor=x.visitor,
        call=x.call,
        data={"home_organisation": x.home.pk, "host_organisation": x.host.pk},
    )
    data: dict[str, Any] = {
        "research_area": x.area.pk,
        "planned_start": (x.call.closes_at.date() + timedelta(days=60)).isoformat(),
        "months": 6,
        "title_en": "Cryogenic probing of spin qubits",
        "title_ja": "スピン量子ビットの極低温測定",
        "plan_en": "Joint measurements on the host's probe station.",
        "host_supervisor_name": "Kim Host",
        "host_supervisor_email": "kim@example.org",
        "effort_percent": 80,
        **fields,
    }
    return application_update(application=application, actor=x.visitor, data=data)


def submitted_application(x: Exchange, **fields: Any) -> VisitApplication:
    from mobility.services.applications import application_submit

    return application_submit(application=draft_application(x, **fields), actor=x.visitor)


def endorsed_application(x: Exchange, **fields: Any) -> VisitApplication:
    from mobility.services.endorsements import application_endorse

    return application_endorse(application=submitted_application(x, **fields), actor=x.host_office)


def application_under_review(x: Exchange, **fields: Any) -> VisitApplication:
    from mobility.services.reviews import application_start_review

    return application_start_review(
        application=endorsed_application(x, **fields), actor=x.officers.jp
    )


def fund_exchange_pools(x: Exchange, *, jp: int = 10**10, kr: int = 10**11) -> None:
    fund_pools(x.call, x.officers.jp, jp=jp, kr=kr)


# --------------------------------------------------------------------------- mobmoney


_commitments = itertools.count(1)


def awarded_visit(*, application: VisitApplication | None = None, **kwargs: Any) -> Visit:
    """What the award does, for tests of what comes after it: an awarded application's
    ``Visit`` (``kwargs`` override its values, as ``visit_for``), the paying side's pool
    funded with the sum (a contribution), and the award's commitment posted pool → the
    visit's committed account under the award's reference ``visit:{id}:commitment``."""
    if application is None:
        application = VisitApplicationFactory.create(state=ApplicationState.AWARDED)
    visit = visit_for(application, **kwargs)
    pool = ledger_rules.account_code_fund_pool(visit.paying_side)
    amount = visit.committed_amount
    if amount:
        ledger_post(
            kind=TransactionKind.CONTRIBUTION,
            currency=visit.currency,
            legs=[(ledger_rules.account_code_agency(visit.paying_side), -amount), (pool, amount)],
            reference=f"test:visit-contribution:{next(_commitments)}",
        )
        ledger_post(
            kind=TransactionKind.AWARD_COMMITMENT,
            currency=visit.currency,
            legs=[
                (pool, -amount),
                (ledger_rules.account_code_visit_committed(visit.pk, visit.paying_side), amount),
            ],
            reference=f"visit:{visit.pk}:commitment",
        )
    return visit
