"""Shared factories for the kernel and projects. Area-specific ones live beside their tests."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from fundapp.accounts.models import Membership, Organisation, Role, User
from projects.models import Call, CallState, Fund, ResearchArea


class OrganisationFactory(factory.django.DjangoModelFactory):
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
    return OrganisationFactory(country="JP", **kwargs)


def kr_org(**kwargs) -> Organisation:
    kwargs.setdefault("code", f"KR-T{next(_org_counter):04d}")
    return OrganisationFactory(country="KR", **kwargs)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = Role.RESEARCHER
    password = factory.PostGenerationMethodCall("set_password", "pw-Secret-123")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


def member_of(org: Organisation, *, research_office: bool = False, **kwargs) -> User:
    user = UserFactory(**kwargs)
    Membership.objects.create(user=user, organisation=org, research_office=research_office)
    return user


def officer(side: str = "JP", **kwargs) -> User:
    return UserFactory(role=Role.FUND_OFFICER, side=side, **kwargs)


class FundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fund

    name_en = "Japan–Korea Joint R&D Fund"
    name_ja = "日韓共同研究開発基金"
    name_ko = "한일 공동 연구개발 기금"
    jp_agency = "JST"
    kr_agency = "NRF"
    reference_rate_krw_per_jpy = Decimal("9.0000")


class ResearchAreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResearchArea
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"area{n}")
    name_en = factory.LazyAttribute(lambda a: a.code)


class CallFactory(factory.django.DjangoModelFactory):
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
    def research_areas(obj, create, extracted, **kwargs):  # noqa: N805
        if not create:
            return
        areas = extracted or [ResearchAreaFactory(code="semiconductor.ai")]
        obj.research_areas.set(areas)
