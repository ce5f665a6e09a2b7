"""Sublicences in the browser and over the API (§23, §15, §14): the licensee grants from
the parent's page or ``POST /licences/{id}/sublicences/``, the licensor consents from the
sublicence's page or ``POST /licences/{id}/consent/``; who may do what, as a matrix."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ip_licensing.models import ConsentState, Licence, LicenceState
from tests.factories.licensing import (
    World,
    key_client,
    make_licence,
    make_sublicence,
    sublicence_terms,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]

PEOPLE = ("office_licensor", "office_licensee", "office_other", "outsider", "jp")


@pytest.fixture
def parent(world):
    return make_licence(world, sublicensable=True, sublicence_share_bp=2500)


def page(client, licence) -> tuple[int, str]:
    response = client.get(reverse("ip:licence", args=[licence.pk]))
    return response.status_code, response.content.decode()


def form_data(world: World, **overrides) -> dict:
    data = sublicence_terms(world.other, **overrides)
    return {
        "sublicence-licensee": data["licensee"],
        "sublicence-fields_of_use": ", ".join(data["fields_of_use"]),
        "sublicence-purposes": data["purposes"],
        "sublicence-territories": ", ".join(data["territories"]),
        "sublicence-start_on": data["start_on"],
        "sublicence-end_on": data["end_on"],
        "sublicence-exclusivity": "non_exclusive",
    }


# --------------------------------------------------------------------------- browser


def test_the_licensee_grants_from_the_parent_page_and_the_licensor_consents(
    world, parent, client_for
):
    licensee = client_for(world.office_licensee)
    status, html = page(licensee, parent)
    assert status == 200 and 'id="sublicence-form"' in html

    response = licensee.post(
        reverse("ip:licence_act", args=[parent.pk, "sublicence"]), form_data(world)
    )

    sub = Licence.objects.get(parent=parent)
    assert response.status_code == 302 and response["Location"].endswith(f"/licences/{sub.pk}/")
    licensor = client_for(world.office_licensor)
    status, html = page(licensor, sub)
    assert 'id="consent-form"' in html and 'data-consent="requested"' in html
    assert f'data-parent="{parent.pk}"' in html
    assert licensor.post(reverse("ip:licence_act", args=[sub.pk, "consent"])).status_code == 302
    sub.refresh_from_db()
    assert sub.state == LicenceState.ACTIVE
    # shown on both pages
    for client, licence in ((licensor, parent), (licensee, parent), (licensor, sub)):
        status, html = page(client, licence)
        assert status == 200 and sub.reference in html
    _status, html = page(client_for(world.office_other), sub)
    assert 'data-consent="consented"' in html and 'id="consent-form"' not in html


def test_a_grant_outside_the_parent_shows_what_sticks_out(world, parent, client_for):
    licensee = client_for(world.office_licensee)
    response = licensee.post(
        reverse("ip:licence_act", args=[parent.pk, "sublicence"]),
        form_data(world, territories=["JP", "CN"]),
    )
    assert response.status_code == 422
    assert "Territory CN is not in the parent licence." in response.content.decode()
    assert not Licence.objects.filter(parent=parent).exists()


def test_the_licensor_refuses_with_a_reason(world, parent, client_for):
    sub = make_sublicence(world, parent, state="pending")
    licensor = client_for(world.office_licensor)
    url = reverse("ip:licence_act", args=[sub.pk, "refuse_consent"])
    assert licensor.post(url, {"refuse_consent-reason": ""}).status_code == 422
    assert licensor.post(url, {"refuse_consent-reason": "Not to them."}).status_code == 302
    sub.refresh_from_db()
    assert sub.state == LicenceState.TERMINATED and sub.consent.state == ConsentState.REFUSED


@pytest.mark.parametrize("who", PEOPLE)
def test_browser_matrix(world, parent, client_for, who):
    """Who sees the grant form and the consent form, and whose POST works (else 403/404)."""
    sub = make_sublicence(world, parent, state="pending")
    client = client_for(getattr(world, who))
    parent_status, parent_html = page(client, parent)
    sub_status, sub_html = page(client, sub)
    sees_parent = who in ("office_licensor", "office_licensee", "jp")
    sees_sub = who != "outsider"
    assert parent_status == (200 if sees_parent else 404)
    assert sub_status == (200 if sees_sub else 404)
    assert ('id="sublicence-form"' in parent_html) == (who == "office_licensee")
    assert ('id="consent-form"' in sub_html) == (who in ("office_licensor", "jp"))

    grant = client.post(
        reverse("ip:licence_act", args=[parent.pk, "sublicence"]),
        form_data(world, territories=["KR"]) | {"sublicence-licensee": world.unrelated.code},
    )
    assert grant.status_code == (302 if who == "office_licensee" else 403 if sees_parent else 404)
    consent = client.post(reverse("ip:licence_act", args=[sub.pk, "consent"]))
    may_consent = who in ("office_licensor", "jp")
    assert consent.status_code == (302 if may_consent else 403 if sees_sub else 404)


def test_the_parents_royalty_report_takes_sublicence_income(world, parent, client_for):
    make_sublicence(world, parent)
    status, html = page(client_for(world.office_licensee), parent)
    assert 'name="royalty-sublicence_income"' in html
    sub = Licence.objects.get(parent=parent)
    _status, html = page(client_for(world.office_other), sub)
    assert 'id="royalty-form"' not in html and 'id="sublicence-royalties"' in html


def test_the_approval_queue_leaves_sublicences_to_their_licensor(world, parent, client_for):
    sub = make_sublicence(world, parent, state="pending")
    html = client_for(world.jp).get(reverse("ip:approvals")).content.decode()
    assert sub.reference not in html


# --------------------------------------------------------------------------- API

KEYS = ("licensor", "licensee", "other", "unrelated")


def grant_url(licence: Licence) -> str:
    return f"/api/v1/licences/{licence.pk}/sublicences/"


def consent_url(licence: Licence) -> str:
    return f"/api/v1/licences/{licence.pk}/consent/"


def test_api_grant_consent_and_list(world, parent):
    licensee = key_client(world.licensee, ["licences:check", "licences:read"])
    response = licensee.post(grant_url(parent), sublicence_terms(world.other), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "pending" and body["parent"] == parent.pk
    assert body["consent"]["state"] == "requested"

    licensor = key_client(world.licensor, ["licences:check", "licences:read"])
    decided = licensor.post(
        consent_url(Licence.objects.get(pk=body["id"])), {"decision": "consent"}, format="json"
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["state"] == "active"
    assert decided.json()["consent"]["state"] == "consented"

    listed = licensor.get(grant_url(parent)).json()
    assert [row["id"] for row in listed] == [body["id"]]
    assert licensor.get(f"/api/v1/licences/{parent.pk}/").json()["sublicence_share_bp"] == 2500


def test_api_refusals_are_problems_naming_the_field(world, parent):
    licensee = key_client(world.licensee, ["licences:check"])
    response = licensee.post(
        grant_url(parent), sublicence_terms(world.other, purposes=["sale"]), format="json"
    )
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"] == {"purposes": ["Purpose sale is not in the parent licence."]}
    refuse = key_client(world.licensor, ["licences:check"]).post(
        consent_url(make_sublicence(world, parent, state="pending")),
        {"decision": "refuse"},
        format="json",
    )
    assert refuse.status_code == 422 and "reason" in refuse.json()["errors"]


@pytest.mark.parametrize("who", KEYS)
def test_api_key_matrix(world, parent, who):
    org = getattr(world, who)
    client = key_client(org, ["licences:check", "licences:read"])
    sub = make_sublicence(world, parent, state="pending")
    sees_parent = who in ("licensor", "licensee")
    sees_sub = who != "unrelated"

    grant = client.post(
        grant_url(parent), sublicence_terms(world.unrelated, territories=["KR"]), format="json"
    )
    assert grant.status_code == (201 if who == "licensee" else 403 if sees_parent else 404)
    listed = client.get(grant_url(parent))
    assert listed.status_code == (200 if sees_parent else 404)
    consent = client.post(consent_url(sub), {"decision": "consent"}, format="json")
    assert consent.status_code == (200 if who == "licensor" else 403 if sees_sub else 404)


def test_api_keys_need_the_scope(world, parent):
    reader = key_client(world.licensee, ["licences:read"])
    response = reader.post(grant_url(parent), sublicence_terms(world.other), format="json")
    assert response.status_code == 403
    assert not Licence.objects.filter(parent=parent).exists()


def test_officers_consent_over_the_api_too(world, parent):
    sub = make_sublicence(world, parent, state="pending")
    response = user_client(world.kr).post(consent_url(sub), {"decision": "consent"}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "active"


@pytest.mark.parametrize("count", [1, 4])
def test_the_list_of_sublicences_costs_the_same_queries_whatever_its_length(
    world, parent, django_assert_max_num_queries, count
):
    from tests.factories import OrganisationFactory

    for index in range(count):
        make_sublicence(
            world,
            parent,
            sublicensee=OrganisationFactory.create(code=f"KR-SUB-{index:02d}", country="KR"),
        )
    client = key_client(world.licensor, ["licences:read"])
    client.get(grant_url(parent))  # warm up: the key's stamp
    # the key, the parent, the sublicences with their consent, their asset links
    with django_assert_max_num_queries(4):
        response = client.get(grant_url(parent))
    assert len(response.json()) == count
