"""/api/v1/webhook-subscriptions/: who may do what (§13.3, §14)."""

from __future__ import annotations

import pytest

from fundapp.accounts.models import Scope
from fundapp.notifications.models import WebhookDelivery
from fundapp.notifications.webhooks.services import webhook_subscription_create
from tests.factories import jp_org, member_of, officer
from tests.factories.proposals_api import key_client, user_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-subscriptions/"
HOOK = "http://127.0.0.1:9/hook"


def test_a_key_without_the_scope_gets_403():
    org = jp_org()
    response = key_client(org, [Scope.PROJECTS_READ]).get(URL)
    assert response.status_code == 403
    assert response["content-type"].startswith("application/problem+json")


def test_a_key_creates_lists_and_sees_the_secret_only_once():
    org = jp_org()
    client = key_client(org, [Scope.WEBHOOKS_MANAGE])
    created = client.post(URL, {"url": HOOK, "event_types": ["gate.evaluated"]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["organisation"] == org.pk
    listed = client.get(URL).json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    assert "secret" not in client.get(f"{URL}{body['id']}/").json()
    rotated = client.post(f"{URL}{body['id']}/rotate-secret/", {}, format="json")
    assert rotated.status_code == 200 and rotated.json()["secret"] != body["secret"]


def test_another_organisations_subscription_is_404_and_an_officer_sees_all():
    mine, theirs = jp_org(), jp_org()
    other = webhook_subscription_create(
        actor=None, organisation_id=theirs.pk, url=HOOK
    ).subscription
    own = webhook_subscription_create(actor=None, organisation_id=mine.pk, url=HOOK).subscription
    client = key_client(mine, [Scope.WEBHOOKS_MANAGE])
    for method, path in [
        ("get", f"{URL}{other.pk}/"),
        ("patch", f"{URL}{other.pk}/"),
        ("delete", f"{URL}{other.pk}/"),
        ("post", f"{URL}{other.pk}/ping/"),
        ("post", f"{URL}{other.pk}/rotate-secret/"),
        ("get", f"{URL}{other.pk}/deliveries/"),
    ]:
        assert getattr(client, method)(path, {}, format="json").status_code == 404, (method, path)
    officer_ids = [r["id"] for r in user_client(officer()).get(URL).json()["results"]]
    assert officer_ids == [other.pk, own.pk]
    office = user_client(member_of(mine, research_office=True))
    assert [r["id"] for r in office.get(URL).json()["results"]] == [own.pk]
    assert user_client(member_of(mine)).get(URL).status_code == 403


def test_refused_url_is_a_problem_422(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    client = key_client(jp_org(), [Scope.WEBHOOKS_MANAGE])
    response = client.post(URL, {"url": "https://127.0.0.1/hook"}, format="json")
    assert response.status_code == 422
    assert response["content-type"].startswith("application/problem+json")


def test_ping_deliveries_and_redeliver():
    org = jp_org()
    sub = webhook_subscription_create(actor=None, organisation_id=org.pk, url=HOOK).subscription
    client = key_client(org, [Scope.WEBHOOKS_MANAGE])
    pinged = client.post(f"{URL}{sub.pk}/ping/", format="json")
    assert pinged.status_code == 202 and pinged.json()["event_type"] == "webhook.ping"
    listed = client.get(f"{URL}{sub.pk}/deliveries/").json()["results"]
    assert [d["id"] for d in listed] == [pinged.json()["id"]]
    again = client.post(f"{URL}{sub.pk}/deliveries/{listed[0]['id']}/redeliver/", format="json")
    assert again.status_code == 202
    assert WebhookDelivery.objects.count() == 1
    assert client.delete(f"{URL}{sub.pk}/").status_code == 204
