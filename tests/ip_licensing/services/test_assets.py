"""The IP registry (§10.1): one owner per asset, project results or background IP, status."""

from __future__ import annotations

from typing import Any

import pytest

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from ip_licensing.models import IPAsset
from ip_licensing.services.assets import asset_register, asset_update
from tests.factories import UserFactory, jp_org, kr_org, member_of
from tests.factories.engine import award, engine_proposal, fund_pools, make_staff
from tests.factories.licences import World, api_key, draft

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upfront_posts")]

CO_OWNED = "Results are never co-owned: choose one owner organisation."


@pytest.fixture
def project_and_consortium(world):
    staff = make_staff()
    fund_pools(staff)
    proposal, consortium = engine_proposal()
    return award(proposal, staff), consortium


def background(world: World, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "patent",
        "title_en": "Ternary weight memory cell",
        "title_ja": "三値重みメモリセル",
        "owner": world.licensor.code,
        "is_background": True,
        "inventors": ["Sato Hanako", "Kim Minjun"],
        "jurisdiction": "JP",
        "filing_number": "2026-012345",
        "status": "filed",
    }
    data.update(overrides)
    return data


# -- registering ---------------------------------------------------------------------------


def test_a_member_of_the_owner_registers_background_ip_with_an_audit_event(world):
    before = IPAsset.objects.count()

    asset = asset_register(actor=world.researcher, data=background(world, jurisdiction="jp"))

    assert IPAsset.objects.count() == before + 1
    assert (asset.owner, asset.is_background, asset.project) == (world.licensor, True, None)
    assert (asset.jurisdiction, asset.status, asset.created_by) == ("JP", "filed", world.researcher)
    assert asset.inventors == ["Sato Hanako", "Kim Minjun"]
    event = AuditEvent.objects.get(action="ip_asset.registered", object_id=str(asset.pk))
    assert event.actor_user == world.researcher
    assert event.after is not None
    assert event.after["owner_id"] == world.licensor.pk


def test_a_fund_officer_may_register_for_any_organisation(world):
    asset = asset_register(actor=world.jp, data=background(world, owner=world.licensee.pk))
    assert asset.owner == world.licensee


def test_a_project_result_is_owned_by_one_of_the_projects_organisations(
    world, project_and_consortium
):
    project, c = project_and_consortium
    asset = asset_register(
        actor=c.pi_kr,
        data={
            "kind": "dataset",
            "title_ko": "엣지 추론 벤치마크",
            "owner": c.kr.code,
            "project": project.pk,
        },
    )
    assert (asset.project, asset.owner, asset.is_background) == (project, c.kr, False)
    # The registry's common title falls back to the language given.
    assert asset.title_en == "엣지 추론 벤치마크"


def test_a_result_owned_outside_the_project_is_refused(world, project_and_consortium):
    project, _c = project_and_consortium
    before = IPAsset.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        asset_register(
            actor=world.jp,
            data={
                "kind": "software",
                "title_en": "X",
                "owner": world.licensee.code,
                "project": project.pk,
            },
        )
    assert "is not one of them" in refused.value.errors["owner"][0]
    assert IPAsset.objects.count() == before


def test_a_result_is_either_from_a_project_or_background(world, project_and_consortium):
    project, c = project_and_consortium
    with pytest.raises(ValidationFailed) as refused:
        asset_register(
            actor=c.pi_jp,
            data=background(world, owner=c.jp.code, project=project.pk, is_background=True),
        )
    assert "choose one or the other" in refused.value.errors["is_background"][0]


@pytest.mark.parametrize(
    ("owners_data", "field"),
    [
        ({"owners": ["A", "B"]}, "owners"),
        ({"owner": ["A", "B"]}, "owner"),
        ({"owner": "A", "owners": ["B"]}, "owners"),
    ],
)
def test_co_ownership_is_refused_with_a_clear_message(world, owners_data, field):
    codes = {"A": world.licensor.code, "B": world.licensee.code}

    def code(value):
        return [codes[v] for v in value] if isinstance(value, list) else codes[value]

    data = background(world)
    del data["owner"]
    data.update({key: code(value) for key, value in owners_data.items()})
    before = IPAsset.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        asset_register(actor=world.jp, data=data)

    assert refused.value.errors[field] == [CO_OWNED]
    assert IPAsset.objects.count() == before


def test_one_owner_given_as_a_list_of_one_is_accepted(world):
    data = background(world)
    data["owners"] = [data.pop("owner")]
    assert asset_register(actor=world.researcher, data=data).owner == world.licensor


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"kind": "invention"}, "kind", "not a valid choice"),
        ({"title_en": "", "title_ja": ""}, "title_en", "title in at least one language"),
        ({"owner": "NO-SUCH-ORG"}, "owner", "Unknown organisation"),
        ({"owner": None}, "owner", "required"),
        ({"is_background": False}, "project", "or register it as background IP"),
        ({"project": 999_999_999}, "project", "Unknown project"),
        ({"jurisdiction": ""}, "jurisdiction", "needs its jurisdiction"),
        ({"jurisdiction": "J1"}, "jurisdiction", "alpha-2"),
        ({"filing_number": ""}, "filing_number", "needs its filing number"),
        ({"status": "expired"}, "status", "not a valid choice"),
        ({"inventors": "Sato, " + "x" * 201}, "inventors.1", "at most 200"),
        ({"research_area": "no.such.area"}, "research_area", "Unknown research area"),
        ({"colour": "blue"}, "colour", "Unknown field"),
    ],
)
def test_every_invalid_field_is_reported_and_nothing_is_saved(world, overrides, field, fragment):
    before = (IPAsset.objects.count(), AuditEvent.objects.count())

    with pytest.raises(ValidationFailed) as refused:
        asset_register(actor=world.jp, data=background(world, **overrides))

    assert any(fragment in message for message in refused.value.errors[field]), refused.value.errors
    assert (IPAsset.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize("who", ["outsider", "licensee_member", "reviewer", "api_key", "nobody"])
def test_only_members_of_the_owner_or_fund_officers_register(world, who):
    actor = {
        "outsider": world.outsider,
        "licensee_member": world.office_licensee,
        "reviewer": UserFactory.create(role="reviewer"),
        "api_key": api_key(world.licensor),
        "nobody": None,
    }[who]
    with pytest.raises(PermissionDenied):
        asset_register(actor=actor, data=background(world))
    assert not IPAsset.objects.filter(title_en="Ternary weight memory cell").exists()


# -- updating ------------------------------------------------------------------------------


def test_status_moves_draft_filed_granted_lapsed_with_audit(world):
    asset = asset_register(
        actor=world.researcher, data=background(world, status="draft", filing_number="")
    )
    asset = asset_update(
        asset=asset, actor=world.researcher, data={"status": "filed", "filing_number": "2026-1"}
    )
    asset = asset_update(asset=asset, actor=world.jp, data={"status": "granted"})
    asset = asset_update(asset=asset, actor=world.researcher, data={"status": "lapsed"})

    asset.refresh_from_db()
    assert asset.status == "lapsed"
    events = AuditEvent.objects.filter(action="ip_asset.updated", object_id=str(asset.pk)).order_by(
        "id"
    )
    changes = []
    for e in events:
        assert e.before is not None and e.after is not None
        changes.append((e.before["status"], e.after["status"]))
    assert changes == [
        ("draft", "filed"),
        ("filed", "granted"),
        ("granted", "lapsed"),
    ]


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("granted", "draft"),
        ("granted", "filed"),
        ("lapsed", "filed"),
        ("lapsed", "granted"),
        ("filed", "draft"),
    ],
)
def test_status_never_moves_backwards(world, start, target):
    asset = asset_register(actor=world.researcher, data=background(world, status=start))
    with pytest.raises(Conflict):
        asset_update(asset=asset, actor=world.researcher, data={"status": target})
    asset.refresh_from_db()
    assert asset.status == start


def test_a_draft_may_lapse_directly(world):
    asset = asset_register(
        actor=world.researcher, data=background(world, kind="know_how", status="draft")
    )
    assert (
        asset_update(asset=asset, actor=world.researcher, data={"status": "lapsed"}).status
        == "lapsed"
    )


def test_an_update_that_changes_nothing_writes_no_audit_event(world):
    asset = asset_register(actor=world.researcher, data=background(world))
    count = AuditEvent.objects.count()
    asset_update(asset=asset, actor=world.researcher, data={"title_en": asset.title_en})
    assert AuditEvent.objects.count() == count


def test_an_outsider_cannot_update_and_an_invalid_update_saves_nothing(world):
    asset = asset_register(actor=world.researcher, data=background(world))
    with pytest.raises(PermissionDenied):
        asset_update(asset=asset, actor=world.outsider, data={"title_en": "Mine"})
    with pytest.raises(ValidationFailed) as refused:
        asset_update(
            asset=asset,
            actor=world.researcher,
            data={"title_en": "New", "owners": [world.licensor.pk, world.licensee.pk]},
        )
    assert refused.value.errors["owners"] == [CO_OWNED]
    asset.refresh_from_db()
    assert asset.title_en == "Ternary weight memory cell"


def test_the_owner_of_a_licensed_asset_cannot_change(world):
    draft(world)
    with pytest.raises(ValidationFailed) as refused:
        asset_update(asset=world.asset, actor=world.jp, data={"owner": world.licensee.code})
    assert "cannot change" in refused.value.errors["owner"][0]
    world.asset.refresh_from_db()
    assert world.asset.owner == world.licensor


def test_an_unlicensed_asset_may_move_to_another_owner_that_the_actor_belongs_to(world):
    other = kr_org()
    member = member_of(world.licensor)
    from fundapp.accounts.models import Membership

    Membership.objects.create(user=member, organisation=other)
    asset = asset_register(actor=member, data=background(world))
    moved = asset_update(asset=asset, actor=member, data={"owner": other.pk})
    assert moved.owner == other
    with pytest.raises(PermissionDenied):
        asset_update(asset=moved, actor=member, data={"owner": jp_org().pk})
