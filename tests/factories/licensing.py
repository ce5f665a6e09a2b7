"""Organisations, people, assets, licences and a project for the licensing API and
royalty tests. Assets and licences are built through the services (register, create,
accept, approve, suspend, terminate, the daily job); projects with the models directly
(``tests.factories.projects_api.make_project``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rest_framework.test import APIClient

from fundapp.accounts.models import Organisation, User
from ip_licensing.models import IPAsset, Licence, ReturnAllocationEntry
from ip_licensing.services.assets import asset_register
from ip_licensing.services.licences import (
    licence_accept,
    licence_approve,
    licence_create,
    licence_suspend,
    licence_terminate,
    licences_activate_and_expire,
    tokyo_today,
)
from projects.models import Fund, Project, ResearchArea, Sensitivity
from tests.factories import (
    FundFactory,
    OrganisationFactory,
    ResearchAreaFactory,
    jp_org,
    kr_org,
    member_of,
    officer,
)
from tests.factories.projects_api import Built, key_client, make_project, user_client

__all__ = ["key_client", "user_client"]

ALL_SCOPES = ("licences:read", "licences:check", "royalties:write")


def areas() -> None:
    for code in (
        "semiconductor",
        "semiconductor.ai",
        "semiconductor.ai.edge",
        "semiconductor.aix",
        "semiconductor.memory",
        "quantum",
    ):
        area = ResearchAreaFactory.create(code=code)
        if area.sensitivity != Sensitivity.NORMAL:
            ResearchArea.objects.filter(pk=area.pk).update(sensitivity=Sensitivity.NORMAL)


def days(n: int) -> date:
    """``n`` days from today in Asia/Tokyo (the day licence terms count in)."""
    return tokyo_today() + timedelta(days=n)


@dataclass
class World:
    fund: Fund
    licensor: Organisation  # JP university owning the assets (JPY side)
    licensee: Organisation  # JP company
    other: Organisation  # KR company, another licensee
    unrelated: Organisation  # KR institute with no licence at all
    office_licensor: User
    office_licensee: User
    office_other: User
    outsider: User  # research office of the unrelated organisation
    jp: User
    kr: User
    jp2: User
    kr2: User
    asset: IPAsset
    asset2: IPAsset

    def office_of(self, org_id: int) -> User:
        return {
            self.licensor.pk: self.office_licensor,
            self.licensee.pk: self.office_licensee,
            self.other.pk: self.office_other,
            self.unrelated.pk: self.outsider,
        }[org_id]


def background_asset(owner: Organisation, by: User, title: str) -> IPAsset:
    return asset_register(
        actor=by,
        data={"kind": "software", "title_en": title, "owner": owner.code, "is_background": True},
    )


def make_world() -> World:
    fund = FundFactory.create()
    areas()
    licensor = jp_org(name_en="Osaka Institute of Technology", kind="university")
    licensee = jp_org(name_en="Naniwa Devices", kind="company")
    other = kr_org(name_en="Hanbit Semiconductor", kind="company")
    unrelated = kr_org(name_en="Busan Research Institute", kind="institute")
    office_licensor = member_of(licensor, research_office=True)
    return World(
        fund=fund,
        licensor=licensor,
        licensee=licensee,
        other=other,
        unrelated=unrelated,
        office_licensor=office_licensor,
        office_licensee=member_of(licensee, research_office=True),
        office_other=member_of(other, research_office=True),
        outsider=member_of(unrelated, research_office=True),
        jp=officer("JP"),
        kr=officer("KR"),
        jp2=officer("JP"),
        kr2=officer("KR"),
        asset=background_asset(licensor, office_licensor, "Edge NPU"),
        asset2=background_asset(licensor, office_licensor, "Sparse compiler"),
    )


def terms(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "fields_of_use": ["semiconductor.ai"],
        "purposes": ["research", "development"],
        "territories": ["JP", "KR"],
        "start_on": days(-30).isoformat(),
        "end_on": days(300).isoformat(),
        "exclusivity": "non_exclusive",
        "sublicensable": False,
        "royalty_rate": "0.035",
        "minimum_annual_royalty": 200_000,
        "upfront_fee": 0,
        "currency": "JPY",
    }
    data.update(overrides)
    return data


def make_licence(
    world: World,
    *,
    state: str = "active",
    licensee: Organisation | None = None,
    assets: list[IPAsset] | None = None,
    licensor_office: User | None = None,
    **overrides: Any,
) -> Licence:
    """A licence through the services, taken as far as ``state``: draft, pending, active
    (approved by two officers; active at once as its start has come), suspended,
    terminated or expired (the daily job, the day after its end)."""
    licensee = licensee or world.licensee
    by = licensor_office or world.office_licensor
    data = terms(**overrides)
    data["licensee"] = licensee.code
    data["assets"] = [asset.pk for asset in (assets or [world.asset])]
    # licence_create refuses a currency other than the licensor side's; the royalty guard
    # behind it is tested on a row written directly, as data from before that rule.
    wanted = str(data.get("currency") or "").upper()
    side_currency = {"JP": "JPY", "KR": "KRW"}.get((assets or [world.asset])[0].owner.country)
    if wanted and side_currency and wanted != side_currency:
        data["currency"] = side_currency
    licence = licence_create(actor=by, data=data)
    if wanted and wanted != licence.currency:
        Licence.objects.filter(pk=licence.pk).update(currency=wanted)
        licence.refresh_from_db()
    if state == "draft":
        return licence
    licence_accept(licence=licence, actor=by)
    licence = licence_accept(licence=licence, actor=world.office_of(licensee.pk))
    if state == "pending":
        return licence
    licence_approve(licence=licence, actor=world.jp)
    licence = licence_approve(licence=licence, actor=world.kr)
    if state == "suspended":
        licence = licence_suspend(licence=licence, actor=world.jp, reason="Reports overdue.")
    elif state == "terminated":
        licence = licence_terminate(licence=licence, actor=world.jp, reason="Breach.")
    elif state == "expired":
        licences_activate_and_expire(today=licence.end_on + timedelta(days=1))
    licence.refresh_from_db()
    assert licence.state == state, licence.state
    return licence


# --------------------------------------------------------------------------- sublicences


def sublicence_terms(sublicensee: Organisation, **overrides: Any) -> dict[str, Any]:
    """Terms inside the default parent's (``terms()``): a narrower field, one purpose, one
    territory, a shorter term."""
    data: dict[str, Any] = {
        "licensee": sublicensee.code,
        "fields_of_use": ["semiconductor.ai.edge"],
        "purposes": ["research"],
        "territories": ["JP"],
        "start_on": days(-10).isoformat(),
        "end_on": days(200).isoformat(),
    }
    data.update(overrides)
    return data


def make_sublicence(
    world: World,
    parent: Licence,
    *,
    state: str = "active",
    sublicensee: Organisation | None = None,
    **overrides: Any,
) -> Licence:
    """A sublicence of ``parent`` granted by its licensee's office to ``sublicensee``
    (default: the world's other company), taken as far as ``state``: pending (consent
    requested), active (consented by the licensor's office) or terminated (refused)."""
    from ip_licensing.services.sublicences import (
        sublicence_consent,
        sublicence_grant,
        sublicence_refuse,
    )

    sublicensee = sublicensee or world.other
    sublicence = sublicence_grant(
        parent=parent,
        actor=world.office_of(parent.licensee_id),
        data=sublicence_terms(sublicensee, **overrides),
    )
    if state == "terminated":
        sublicence = sublicence_refuse(
            sublicence=sublicence, actor=world.office_of(parent.licensor_id), reason="No."
        )
    elif state != "pending":
        sublicence = sublicence_consent(
            sublicence=sublicence, actor=world.office_of(parent.licensor_id)
        )
    sublicence.refresh_from_db()
    assert sublicence.state == state, sublicence.state
    return sublicence


# --------------------------------------------------------------------------- projects


@dataclass
class ProjectWorld:
    built: Built
    project: Project
    partner_jp: Organisation  # c.jp: owns the result
    partner_kr: Organisation  # c.kr
    licensee: Organisation
    office_jp: User
    office_licensee: User
    jp: User
    kr: User
    asset: IPAsset

    def office_of(self, org_id: int) -> User:
        return {self.licensee.pk: self.office_licensee, self.partner_jp.pk: self.office_jp}[org_id]


def make_project_world(table: Sequence[tuple[str, int]] | None = (("jp", 6000), ("kr", 4000))):
    """An active JP–KR project whose JP partner owns a registered result, with a
    return-allocation table (``None``: none), and a JP company to license it to."""
    areas()
    built = make_project()
    c = built.c
    orgs = {"jp": c.jp, "kr": c.kr}
    for key, bp in table or ():
        ReturnAllocationEntry.objects.create(
            project=built.project, organisation=orgs[key], basis_points=bp
        )
    licensee = OrganisationFactory.create(code="JP-BUY-01", country="JP", kind="company")
    asset = asset_register(
        actor=c.office_jp,
        data={
            "kind": "patent",
            "title_en": "Edge inference circuit",
            "owner": c.jp.code,
            "project": built.project.pk,
            "jurisdiction": "JP",
            "filing_number": "2026-000123",
            "status": "filed",
        },
    )
    return ProjectWorld(
        built=built,
        project=built.project,
        partner_jp=c.jp,
        partner_kr=c.kr,
        licensee=licensee,
        office_jp=c.office_jp,
        office_licensee=member_of(licensee, research_office=True),
        jp=officer("JP"),
        kr=officer("KR"),
        asset=asset,
    )


def project_licence(pw: ProjectWorld, *, state: str = "active", **overrides: Any) -> Licence:
    extra_assets = overrides.pop("extra_assets", [])
    data = terms(**overrides)
    data["licensee"] = pw.licensee.code
    data["assets"] = [pw.asset.pk, *extra_assets]
    licence = licence_create(actor=pw.office_jp, data=data)
    if state == "draft":
        return licence
    licence_accept(licence=licence, actor=pw.office_jp)
    licence_accept(licence=licence, actor=pw.office_licensee)
    licence_approve(licence=licence, actor=pw.jp)
    licence = licence_approve(licence=licence, actor=pw.kr)
    if state == "terminated":
        licence = licence_terminate(licence=licence, actor=pw.jp, reason="Breach.")
    licence.refresh_from_db()
    assert licence.state == state, licence.state
    return licence


def clients_for(*users: User) -> list[APIClient]:
    return [user_client(user) for user in users]
