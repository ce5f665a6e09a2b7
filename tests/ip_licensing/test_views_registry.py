"""The IP registry and asset pages (§10.1, §15)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ip_licensing.models import IPAsset
from tests.factories import UserFactory, member_of
from tests.factories.licensing import background_asset, make_licence

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]


def test_registry_lists_assets_for_any_signed_in_person(world, client_for):
    response = client_for(world.outsider).get(reverse("ip:registry"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-asset="{world.asset.pk}"' in html
    assert f'data-asset="{world.asset2.pk}"' in html


def test_registry_needs_sign_in(world, client):
    response = client.get(reverse("ip:registry"))
    assert response.status_code == 302


def test_registry_filters(world, client_for):
    other = background_asset(world.other, world.office_other, "Quantum sensor")
    client = client_for(world.jp)
    html = client.get(reverse("ip:registry"), {"q": "quantum"}).content.decode()
    assert f'data-asset="{other.pk}"' in html
    assert f'data-asset="{world.asset.pk}"' not in html
    html = client.get(
        reverse("ip:registry"), {"owner": world.licensor.code.lower()}
    ).content.decode()
    assert f'data-asset="{world.asset.pk}"' in html and f'data-asset="{other.pk}"' not in html
    html = client.get(reverse("ip:registry"), {"kind": "patent"}).content.decode()
    assert 'data-asset="' not in html
    html = client.get(
        reverse("ip:registry"), {"status": "draft", "kind": "software"}
    ).content.decode()
    assert html.count('<tr data-asset="') == 3


def test_registry_query_count_is_constant(world, client_for, django_assert_max_num_queries):
    client = client_for(world.office_licensor)
    client.get(reverse("ip:registry"))  # warm the session and caches
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("ip:registry"))
    for n in range(30):
        background_asset(world.licensor, world.office_licensor, f"Asset {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("ip:registry"))
    assert response.content.decode().count('<tr data-asset="') == 25


def test_member_registers_an_asset_through_the_service(world, client_for):
    client = client_for(world.office_licensee)
    response = client.post(
        reverse("ip:registry"),
        {
            "kind": "software",
            "title_en": "Wafer map tool",
            "owner": world.licensee.code,
            "is_background": "on",
            "inventors": "Sato\nKim\n",
            "status": "draft",
        },
    )
    asset = IPAsset.objects.get(title_en="Wafer map tool")
    assert response.status_code == 302
    assert response["Location"] == reverse("ip:asset", args=[asset.pk])
    assert asset.owner == world.licensee and asset.inventors == ["Sato", "Kim"]
    assert asset.created_by == world.office_licensee


def test_owner_select_offers_only_own_organisations(world, client_for):
    response = client_for(world.office_licensee).post(
        reverse("ip:registry"),
        {
            "kind": "software",
            "title_en": "X",
            "owner": world.licensor.code,
            "is_background": "on",
            "status": "draft",
        },
    )
    assert response.status_code == 422
    assert not IPAsset.objects.filter(title_en="X").exists()


def test_service_errors_are_shown_beside_the_fields(world, client_for):
    response = client_for(world.jp).post(
        reverse("ip:registry"),
        {"kind": "patent", "title_en": "Patent", "owner": world.licensor.code, "status": "filed"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "data-error" in html
    assert "jurisdiction" in html.lower()
    assert not IPAsset.objects.filter(title_en="Patent").exists()


def test_person_without_organisation_sees_no_register_form(world, client_for):
    reviewer = UserFactory.create(role="reviewer")
    html = client_for(reviewer).get(reverse("ip:registry")).content.decode()
    assert 'id="register-form"' not in html
    response = client_for(reviewer).post(reverse("ip:registry"), {"kind": "software"})
    assert response.status_code == 404


def test_asset_page_shows_details_and_licence_timeline(world, client_for):
    licence = make_licence(world, state="active", exclusivity="exclusive")
    response = client_for(world.office_licensee).get(reverse("ip:asset", args=[world.asset.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-chart="licence-timeline"' in html
    assert f'data-licence="{licence.pk}" data-state="active" data-exclusive="true"' in html
    assert world.licensor.code in html


def test_asset_page_hides_licences_the_person_cannot_see(world, client_for):
    licence = make_licence(world, state="active")
    html = (
        client_for(world.outsider).get(reverse("ip:asset", args=[world.asset.pk])).content.decode()
    )
    assert f'data-licence="{licence.pk}"' not in html


def test_missing_asset_is_404(world, client_for):
    assert client_for(world.jp).get(reverse("ip:asset", args=[999999])).status_code == 404


def test_nav_shows_ip_links(world, client_for):
    html = client_for(world.jp).get(reverse("ip:registry")).content.decode()
    assert reverse("ip:approvals") in html
    member = member_of(world.licensee)
    html = client_for(member).get(reverse("ip:registry")).content.decode()
    assert reverse("ip:my_licences") in html
