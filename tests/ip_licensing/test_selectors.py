"""Who sees which licences and assets (§2): filtered in SQL, 404 for the rest."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fundapp.accounts.models import Role, Scope
from fundapp.errors import NotFound
from ip_licensing.models import LicenceUserObjectPermission
from ip_licensing.selectors import (
    assets_visible_to,
    get_asset_for_actor,
    get_licence_for_actor,
    licences_visible_to,
)
from ip_licensing.services.assets import asset_register
from ip_licensing.services.licences import licence_create
from tests.factories import UserFactory, jp_org, member_of
from tests.factories.licences import World as LicencesWorld
from tests.factories.licences import api_key, draft, terms
from tests.factories.licences import make_world as make_licences_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upfront_posts")]


@pytest.fixture
def world(db) -> LicencesWorld:
    """The licence services' world (tests.factories.licences)."""
    return make_licences_world()


@pytest.fixture
def licences(world):
    """Two licences of the world's licensor (to its licensee and abroad) and one between
    two other organisations."""
    other_owner = jp_org()

    owner_office = member_of(other_owner, research_office=True)
    foreign_asset = asset_register(
        actor=owner_office,
        data={
            "kind": "design",
            "title_en": "Package",
            "owner": other_owner.pk,
            "is_background": True,
        },
    )
    third = licence_create(
        actor=owner_office,
        data=terms(world, assets=[foreign_asset.pk], licensee=world.abroad.code),
    )
    return draft(world), draft(world, licensee=world.abroad.code), third


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("fund_officer", {0, 1, 2}),
        ("finance_officer", {0, 1, 2}),
        ("screening_officer", {0, 1, 2}),
        ("licensor_researcher", {0, 1}),
        ("licensee_office", {0}),
        ("abroad_office", {1, 2}),
        ("outsider", set()),
        ("reviewer", set()),
        ("licensee_key", {0}),
        ("licensor_key_any_scope", {0, 1}),
        ("inactive_member", set()),
        ("anonymous", set()),
    ],
)
def test_licences_visible_to_each_actor(world, licences, who, expected):
    inactive = member_of(world.licensor, research_office=True, is_active=False)
    actor = {
        "fund_officer": world.jp,
        "finance_officer": UserFactory.create(role=Role.FINANCE_OFFICER, side="KR"),
        "screening_officer": world.screener,
        "licensor_researcher": world.researcher,
        "licensee_office": world.office_licensee,
        "abroad_office": world.office_abroad,
        "outsider": world.outsider,
        "reviewer": UserFactory.create(role=Role.REVIEWER),
        "licensee_key": api_key(world.licensee, Scope.LICENCES_READ),
        "licensor_key_any_scope": api_key(world.licensor, Scope.ROYALTIES_WRITE),
        "inactive_member": inactive,
        "anonymous": None,
    }[who]
    visible = set(licences_visible_to(actor).values_list("pk", flat=True))
    assert visible == {licences[i].pk for i in expected}
    for index, licence in enumerate(licences):
        if index in expected:
            assert get_licence_for_actor(actor, licence.pk) == licence
        else:
            with pytest.raises(NotFound):
                get_licence_for_actor(actor, licence.pk)


def test_a_guardian_grant_shares_one_licence(world, licences):
    counsel = UserFactory.create()
    LicenceUserObjectPermission.objects.create(
        user=counsel,
        permission=Permission.objects.get(codename="view_licence"),
        content_object=licences[2],
    )
    assert list(licences_visible_to(counsel)) == [licences[2]]


def test_missing_and_malformed_ids_are_the_same_404(world, licences):
    for pk in (999_999_999, "abc", None, "1; drop table", "-1", 10**30, "１"):
        with pytest.raises(NotFound):
            get_licence_for_actor(world.jp, pk)


def test_the_licence_list_is_one_query_whatever_its_length(world, licences):
    for _ in range(5):
        draft(world)
    with CaptureQueriesContext(connection) as queries:
        rows = [
            (lic.reference, lic.licensor.code, lic.licensee.code)
            for lic in licences_visible_to(world.researcher)
        ]
    assert len(rows) == 7
    assert len(queries) == 1


def test_the_registry_is_open_to_every_signed_in_person_and_key(world):
    asset = world.asset
    for actor in (
        world.outsider,
        UserFactory.create(role=Role.REVIEWER),
        api_key(jp_org(), Scope.LICENCES_CHECK),
        world.kr,
    ):
        assert asset in assets_visible_to(actor)
        assert get_asset_for_actor(actor, asset.pk) == asset
    for actor in (None, UserFactory.create(is_active=False)):
        assert not assets_visible_to(actor).exists()
        with pytest.raises(NotFound):
            get_asset_for_actor(actor, asset.pk)
