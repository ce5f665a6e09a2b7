"""Organisations, people, areas, assets and licences for the licensing services' tests.

Everything is built through the services (assets, licences) or the shared factories.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fundapp.accounts.models import ApiKey, Organisation, Role, Scope, User, hash_secret
from ip_licensing.models import IPAsset, Licence
from ip_licensing.services.assets import asset_register
from ip_licensing.services.licences import (
    licence_accept,
    licence_approve,
    licence_create,
    tokyo_today,
)
from projects.models import Fund, ResearchArea, Sensitivity
from tests.factories import (
    FundFactory,
    OrganisationFactory,
    ResearchAreaFactory,
    UserFactory,
    jp_org,
    kr_org,
    member_of,
    officer,
)


@dataclass
class World:
    fund: Fund
    licensor: Organisation  # JP university owning the assets
    licensee: Organisation  # KR company
    abroad: Organisation  # US company
    office_licensor: User  # research office of the licensor
    office_licensee: User  # research office of the licensee
    office_abroad: User
    researcher: User  # plain member of the licensor
    outsider: User  # member of another organisation
    jp: User
    kr: User
    jp2: User
    kr2: User
    screener: User
    asset: IPAsset
    asset2: IPAsset


def areas() -> None:
    for code, sensitivity in (
        ("semiconductor", Sensitivity.NORMAL),
        ("semiconductor.ai", Sensitivity.NORMAL),
        ("semiconductor.ai.edge", Sensitivity.NORMAL),
        ("semiconductor.memory", Sensitivity.NORMAL),
        ("quantum", Sensitivity.NORMAL),
        ("quantum.crypto", Sensitivity.CONTROLLED),
        ("green", Sensitivity.NORMAL),
    ):
        area = ResearchAreaFactory.create(code=code)
        if area.sensitivity != sensitivity:
            ResearchArea.objects.filter(pk=area.pk).update(sensitivity=sensitivity)


def background_asset(owner_member: User, owner: Organisation, title: str = "Edge NPU") -> IPAsset:
    return asset_register(
        actor=owner_member,
        data={
            "kind": "software",
            "title_en": title,
            "owner": owner.code,
            "is_background": True,
        },
    )


def make_world() -> World:
    fund = FundFactory.create()
    areas()
    licensor = jp_org(name_en="Osaka Institute of Technology")
    licensee = kr_org(name_en="Hanbit Devices")
    abroad = OrganisationFactory.create(code="US-ACME-01", country="US", name_en="Acme Chips Inc.")
    office_licensor = member_of(licensor, research_office=True)
    world = World(
        fund=fund,
        licensor=licensor,
        licensee=licensee,
        abroad=abroad,
        office_licensor=office_licensor,
        office_licensee=member_of(licensee, research_office=True),
        office_abroad=member_of(abroad, research_office=True),
        researcher=member_of(licensor),
        outsider=member_of(jp_org()),
        jp=officer("JP"),
        kr=officer("KR"),
        jp2=officer("JP"),
        kr2=officer("KR"),
        screener=UserFactory.create(role=Role.SCREENING_OFFICER),
        asset=background_asset(office_licensor, licensor),
        asset2=background_asset(office_licensor, licensor, "Sparse compiler"),
    )
    return world


def terms(world: World, **overrides: Any) -> dict[str, Any]:
    today = tokyo_today()
    data: dict[str, Any] = {
        "assets": [world.asset.pk],
        "licensee": world.licensee.code,
        "fields_of_use": ["semiconductor.ai"],
        "purposes": ["research", "development"],
        "territories": ["JP", "KR"],
        "start_on": today.isoformat(),
        "end_on": (today + timedelta(days=365)).isoformat(),
        "exclusivity": "non_exclusive",
        "sublicensable": False,
        "royalty_rate": "0.035",
        "minimum_annual_royalty": 400_000,
        "upfront_fee": 1_000_000,
        "currency": "JPY",
    }
    data.update(overrides)
    return data


def draft(world: World, **overrides: Any) -> Licence:
    return licence_create(actor=world.office_licensor, data=terms(world, **overrides))


def office_of(world: World, licence: Licence) -> User:
    return {
        world.licensee.pk: world.office_licensee,
        world.abroad.pk: world.office_abroad,
    }[licence.licensee_id]


def pending(world: World, **overrides: Any) -> Licence:
    licence = draft(world, **overrides)
    licence_accept(licence=licence, actor=world.office_licensor)
    return licence_accept(licence=licence, actor=office_of(world, licence))


def approved(world: World, **overrides: Any) -> Licence:
    licence = pending(world, **overrides)
    licence_approve(licence=licence, actor=world.jp)
    return licence_approve(licence=licence, actor=world.kr)


def api_key(org: Organisation, *scopes: str) -> ApiKey:
    return ApiKey.objects.create(
        organisation=org,
        name="partner system",
        key_id=f"k{ApiKey.objects.count():05d}{org.pk}"[:16],
        secret_hash=hash_secret("secret"),
        scopes=list(scopes) or [Scope.LICENCES_CHECK],
    )


def days(n: int) -> date:
    return tokyo_today() + timedelta(days=n)
