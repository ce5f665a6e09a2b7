"""The licence check form (§10.4, §15)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import UserFactory
from tests.factories.licensing import days, make_licence

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]


def check(client, world, **overrides):
    params = {
        "asset": world.asset.pk,
        "licensee": world.licensee.code,
        "field": "semiconductor.ai.edge",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
    }
    params.update(overrides)
    return client.get(reverse("ip:check"), params)


def test_form_prefills_the_researchers_organisation(world, client_for):
    html = client_for(world.office_licensee).get(reverse("ip:check")).content.decode()
    assert f'value="{world.licensee.code}"' in html
    assert 'value="semiconductor.ai.edge"' in html  # the research-area select


def test_allowed_use_names_the_licence(world, client_for):
    licence = make_licence(world, state="active")
    response = check(client_for(world.office_licensee), world)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-decision="allow"' in html
    assert f'data-licence="{licence.pk}"' in html and licence.reference in html


@pytest.mark.parametrize(
    ("overrides", "code", "label"),
    [
        ({"field": "quantum"}, "field_not_covered", "Field of use not covered"),
        ({"purpose": "sale"}, "purpose_not_covered", "Purpose not covered"),
        ({"territory": "us"}, "territory_not_covered", "Territory not covered"),
        ({"on": "2000-01-01"}, "not_started", "Not yet started"),
    ],
)
def test_denied_use_shows_translated_reasons(world, client_for, overrides, code, label):
    make_licence(world, state="active")
    html = check(client_for(world.office_licensee), world, **overrides).content.decode()
    assert 'data-decision="deny"' in html
    assert f'data-reason="{code}"><span class="reason-label">{label}</span>' in html


def test_no_licence_and_suspended(world, client_for):
    html = check(client_for(world.jp), world, licensee=world.other.code).content.decode()
    assert 'data-reason="no_licence"><span class="reason-label">No licence</span>' in html
    make_licence(world, state="suspended")
    html = check(client_for(world.jp), world).content.decode()
    assert 'data-reason="suspended"' in html


def test_reasons_in_japanese_page(world, client_for):
    make_licence(world, state="active")
    client = client_for(world.office_licensee)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
    html = check(client, world, field="quantum").content.decode()
    assert '<html lang="ja">' in html
    assert 'data-reason="field_not_covered"' in html


def test_checking_another_organisations_use_is_refused(world, client_for):
    make_licence(world, state="active")
    response = check(client_for(world.outsider), world)
    assert response.status_code == 403
    assert "data-decision" not in response.content.decode()


def test_malformed_input_is_422(world, client_for):
    response = check(client_for(world.office_licensee), world, territory="JPN", licensee="")
    assert response.status_code == 422
    response = check(client_for(world.office_licensee), world, licensee="NO-SUCH-ORG")
    assert response.status_code == 422
    assert "Unknown organisation." in response.content.decode()


def test_check_page_404_for_people_without_organisation(world, client_for):
    assert (
        client_for(UserFactory.create(role="reviewer")).get(reverse("ip:check")).status_code == 404
    )
    assert client_for(world.jp).get(reverse("ip:check")).status_code == 200


def test_the_form_makes_no_choice_for_the_user(world, client_for):
    """Field of use and purpose start empty; nothing is checked until they are chosen."""
    html = client_for(world.office_licensee).get(reverse("ip:check")).content.decode()
    for name in ("field", "purpose"):
        select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
        assert select is not None
        first = re.search(r"<option([^>]*)>", select.group(1))
        assert first is not None and 'value=""' in first.group(1)
        assert "selected" not in select.group(1).split("</option>", 1)[1]
    response = check(client_for(world.office_licensee), world, field="", purpose="")
    text = response.content.decode()
    assert "data-decision" not in text
    assert "Choose the field of use." in text and "Choose the purpose." in text


def test_a_country_name_is_refused_not_cut_to_two_letters(world, client_for):
    make_licence(world, state="active")
    html = client_for(world.office_licensee).get(reverse("ip:check")).content.decode()
    territory = re.search(r'<input[^>]*name="territory"[^>]*>', html)
    assert territory is not None and "maxlength" not in territory.group(0)

    text = check(client_for(world.office_licensee), world, territory="Korea").content.decode()

    assert "data-decision" not in text
    assert "Use an ISO 3166-1 alpha-2 code (JP, KR, US …)." in text
