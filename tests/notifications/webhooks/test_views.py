"""The webhook pages (§13.3, §15): who may do what (role × own / other organisation ×
action), the forms' field errors, the secret shown once, the audit trail each change
writes, and the pages in Japanese and Korean."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import trans_real

from fundapp.audit.models import AuditEvent
from fundapp.kernel.events import event_type
from fundapp.notifications.webhooks.models import (
    DeliveryState,
    WebhookDelivery,
    WebhookSecret,
    WebhookSubscription,
)
from tests.factories.webhooks import HOOK, WebhookWorld, failed_delivery, webhook_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> WebhookWorld:
    return webhook_world()


def as_user(client: Client, user) -> Client:
    client.force_login(user)
    return client


# --- the matrix ---------------------------------------------------------------------

# (name, method, URL of a subscription, status when allowed)
Action = tuple[str, str, Callable[[WebhookSubscription], str], int]
ACTIONS: list[Action] = [
    ("detail", "get", lambda s: reverse("webhooks:detail", args=[s.pk]), 200),
    ("edit form", "get", lambda s: reverse("webhooks:edit", args=[s.pk]), 200),
    ("edit", "post", lambda s: reverse("webhooks:edit", args=[s.pk]), 302),
    ("deactivate", "post", lambda s: reverse("webhooks:deactivate", args=[s.pk]), 302),
    ("reactivate", "post", lambda s: reverse("webhooks:reactivate", args=[s.pk]), 302),
    ("delete", "post", lambda s: reverse("webhooks:delete", args=[s.pk]), 302),
    ("rotate secret", "post", lambda s: reverse("webhooks:rotate_secret", args=[s.pk]), 200),
    ("ping", "post", lambda s: reverse("webhooks:ping", args=[s.pk]), 302),
    (
        "redeliver",
        "post",
        lambda s: reverse("webhooks:redeliver", args=[s.pk, s.deliveries.get().pk]),
        302,
    ),
]
EDIT = {"url": HOOK + "/v2", "event_types": ["gate.evaluated"], "description": "changed"}


def call(client: Client, action: Action, sub: WebhookSubscription):
    name, method, url, _ok = action
    if name == "redeliver":
        failed_delivery(sub)
    data = EDIT if name == "edit" else {}
    return getattr(client, method)(url(sub), data)


@pytest.mark.parametrize("action", ACTIONS, ids=[a[0] for a in ACTIONS])
@pytest.mark.parametrize(
    ("who", "target", "allowed"),
    [
        ("office", "own", True),
        ("office", "other", False),
        ("officer", "own", True),
        ("officer", "other", True),
        ("researcher", "own", False),
        ("reviewer", "own", False),
    ],
)
def test_who_may_do_what(client, world, action, who, target, allowed):
    sub = world.own if target == "own" else world.other
    events = AuditEvent.objects.count()
    secrets = WebhookSecret.objects.count()
    response = call(as_user(client, getattr(world, who)), action, sub)
    assert response.status_code == (action[3] if allowed else 404)
    if not allowed:
        assert WebhookSubscription.objects.filter(pk=sub.pk, active=True).exists()
        assert AuditEvent.objects.count() == events
        assert WebhookSecret.objects.count() == secrets
        assert not WebhookDelivery.objects.filter(event__kind="webhook.ping").exists()


@pytest.mark.parametrize("path", ["webhooks:list", "webhooks:create"])
def test_list_and_create_answer_404_to_those_who_manage_no_webhooks(client, world, path):
    for user in (world.researcher, world.reviewer):
        assert as_user(client, user).get(reverse(path)).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, world):
    response = client.get(reverse("webhooks:detail", args=[world.own.pk]))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", ["deactivate", "delete", "rotate_secret", "ping"])
def test_changes_are_post_only(client, world, name):
    response = as_user(client, world.office).get(reverse(f"webhooks:{name}", args=[world.own.pk]))
    assert response.status_code == 405


def test_changes_need_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.office)
    response = client.post(reverse("webhooks:deactivate", args=[world.own.pk]))
    assert response.status_code == 403
    assert WebhookSubscription.objects.get(pk=world.own.pk).active


def test_the_office_lists_its_own_and_the_officer_everyones_with_a_filter(client, world):
    html = as_user(client, world.office).get(reverse("webhooks:list")).content.decode()
    assert f'data-subscription="{world.own.pk}"' in html
    assert f'data-subscription="{world.other.pk}"' not in html
    assert 'name="organisation"' not in html  # one organisation: no filter

    client.force_login(world.officer)
    html = client.get(reverse("webhooks:list")).content.decode()
    assert f'data-subscription="{world.own.pk}"' in html
    assert f'data-subscription="{world.other.pk}"' in html
    narrowed = client.get(reverse("webhooks:list"), {"organisation": world.other_org.pk})
    assert list(narrowed.context["subscriptions"]) == [world.other]


def test_the_api_keys_page_the_navigation_and_the_dashboard_link_to_the_webhooks(client, world):
    html = as_user(client, world.officer).get(reverse("accounts:api_keys")).content.decode()
    assert f'href="{reverse("webhooks:list")}' in html
    nav = as_user(client, world.officer).get(reverse("webhooks:list")).content.decode()
    assert 'aria-current="page"' in nav and f'href="{reverse("webhooks:list")}"' in nav
    dashboard = as_user(client, world.office).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("webhooks:list")}"' in dashboard
    plain = as_user(client, world.researcher).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("webhooks:list")}"' not in plain


# --- create, the secret once, field errors ------------------------------------------------


def shown_secret(html: str) -> str:
    found = re.search(r'id="new-webhook-secret">(whsec_[^<]+)<', html)
    assert found is not None, html
    return found.group(1)


def test_the_office_subscribes_and_sees_the_secret_once(client, world):
    as_user(client, world.office)
    form = client.get(reverse("webhooks:create"))
    assert form.status_code == 200
    # The event types come from the registry, each with its sentence; no ping.
    assert "<code>licence.approved</code> — Someone approved the licence" in form.content.decode()
    assert 'value="webhook.ping"' not in form.content.decode()
    assert list(form.context["form"].fields["organisation"].queryset) == [world.own_org]

    response = client.post(
        reverse("webhooks:create"),
        {
            "organisation": world.own_org.pk,
            "url": HOOK + "/new",
            "event_types": ["licence.approved", "gate.evaluated"],
            "description": "ERP",
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = shown_secret(response.content.decode())
    sub = WebhookSubscription.objects.get(url=HOOK + "/new")
    assert sub.organisation == world.own_org and sub.created_by == world.office
    assert sub.event_types == ["gate.evaluated", "licence.approved"]
    assert WebhookSecret.objects.get(subscription=sub).secret == secret
    detail = client.get(reverse("webhooks:detail", args=[sub.pk])).content.decode()
    assert secret not in detail and "ERP" in detail
    event = AuditEvent.objects.get(action="webhook_subscription.created", object_id=str(sub.pk))
    assert event.actor_user_id == world.office.pk
    assert secret not in str(event.after)


def post_create(
    client: Client, world: WebhookWorld, language: str = "en", **fields
) -> dict[str, list[str]]:
    data = {"organisation": world.own_org.pk, "url": HOOK, **fields}
    response = client.post(reverse("webhooks:create"), data, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert not WebhookSubscription.objects.exclude(pk__in=[world.own.pk, world.other.pk]).exists()
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


def test_the_form_shows_each_refusal_on_its_field(client, world, settings):
    as_user(client, world.office)
    assert "url" in post_create(client, world, url="not a url")
    assert "event_types" in post_create(client, world, event_types=["no.such"])
    # Another organisation is not among the office's choices.
    assert "organisation" in post_create(client, world, organisation=world.other_org.pk)
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    assert post_create(client, world, url="https://127.0.0.1/hook") == {
        "url": ["Not a public address."]
    }
    errors = post_create(client, world, "ja", url="https://127.0.0.1/hook")
    assert errors["url"] == [translate("ja", "Not a public address.")]
    assert errors["url"] != ["Not a public address."]


def test_the_officer_subscribes_any_organisation(client, world):
    as_user(client, world.officer)
    response = client.post(
        reverse("webhooks:create"), {"organisation": world.other_org.pk, "url": HOOK + "/kr"}
    )
    shown_secret(response.content.decode())
    assert WebhookSubscription.objects.get(url=HOOK + "/kr").organisation == world.other_org


# --- edit, deactivate, reactivate, delete: state and audit ---------------------------------


def test_edit_saves_and_audits_the_changed_fields(client, world):
    as_user(client, world.office)
    response = client.post(reverse("webhooks:edit", args=[world.own.pk]), EDIT)
    assert response.status_code == 302
    sub = WebhookSubscription.objects.get(pk=world.own.pk)
    assert (sub.url, sub.event_types, sub.description) == (
        HOOK + "/v2",
        ["gate.evaluated"],
        "changed",
    )
    event = AuditEvent.objects.get(action="webhook_subscription.updated")
    assert event.before == {"url": HOOK, "event_types": [], "description": "Tokyo research office"}
    assert event.after == {
        "url": HOOK + "/v2",
        "event_types": ["gate.evaluated"],
        "description": "changed",
    }
    # Saving again unchanged writes nothing more.
    client.post(reverse("webhooks:edit", args=[world.own.pk]), EDIT)
    assert AuditEvent.objects.filter(action="webhook_subscription.updated").count() == 1


def test_edit_shows_field_errors(client, world):
    response = as_user(client, world.office).post(
        reverse("webhooks:edit", args=[world.own.pk]), {"url": "", "description": "x" * 201}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"url", "description"}


def test_deactivate_and_reactivate(client, world):
    as_user(client, world.office)
    client.post(reverse("webhooks:deactivate", args=[world.own.pk]))
    sub = WebhookSubscription.objects.get(pk=world.own.pk)
    assert not sub.active and sub.disabled_reason == "deactivated"
    page = client.get(reverse("webhooks:detail", args=[sub.pk])).content.decode()
    assert reverse("webhooks:reactivate", args=[sub.pk]) in page
    client.post(reverse("webhooks:reactivate", args=[world.own.pk]))
    assert WebhookSubscription.objects.get(pk=world.own.pk).active
    actions = list(
        AuditEvent.objects.filter(object_id=str(sub.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "webhook_subscription.created",
        "webhook_subscription.deactivated",
        "webhook_subscription.reactivated",
    ]


def test_delete_removes_the_subscription_and_keeps_an_audit_event(client, world):
    failed_delivery(world.own)
    response = as_user(client, world.office).post(reverse("webhooks:delete", args=[world.own.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("webhooks:list")
    assert not WebhookSubscription.objects.filter(pk=world.own.pk).exists()
    assert not WebhookDelivery.objects.filter(subscription_id=world.own.pk).exists()
    event = AuditEvent.objects.get(action="webhook_subscription.deleted")
    assert event.object_id == str(world.own.pk) and event.after == {"url": HOOK}


# --- the secret -----------------------------------------------------------------------


def test_rotating_shows_the_new_secret_once_and_explains_the_overlap(client, world):
    old = WebhookSecret.objects.get(subscription=world.own)
    as_user(client, world.office)
    response = client.post(reverse("webhooks:rotate_secret", args=[world.own.pk]))
    html = response.content.decode()
    new = shown_secret(html)
    assert new != old.secret and "no-store" in response["Cache-Control"]
    assert "data-overlap" in html and "24 hours" in html
    old.refresh_from_db()
    assert old.expires_at is not None
    assert abs(old.expires_at - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)
    assert new not in client.get(reverse("webhooks:detail", args=[world.own.pk])).content.decode()
    event = AuditEvent.objects.get(action="webhook_subscription.secret_rotated")
    after = event.after
    assert isinstance(after, dict) and after["revoke_now"] is False
    assert "old_secrets_until" in after
    assert new not in str(event.after)


def test_rotating_with_revoke_now_stops_the_old_secret_at_once(client, world):
    as_user(client, world.office)
    client.post(reverse("webhooks:rotate_secret", args=[world.own.pk]), {"revoke_now": "on"})
    secrets = WebhookSecret.objects.filter(subscription=world.own).order_by("id")
    assert [s.is_active() for s in secrets] == [False, True]


# --- ping, deliveries, redeliver ------------------------------------------------------------


def test_ping_makes_a_pending_delivery_sent_after_commit(
    client, world, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr(
        "fundapp.notifications.webhooks.tasks.deliver_webhook.delay",
        lambda delivery_id: sent.append(delivery_id),
    )
    with django_capture_on_commit_callbacks(execute=True):
        as_user(client, world.office).post(reverse("webhooks:ping", args=[world.own.pk]))
    delivery = WebhookDelivery.objects.get(subscription=world.own)
    assert delivery.event.kind == "webhook.ping" and delivery.state == DeliveryState.PENDING
    # The fan-out after the ping's outbox event may enqueue it too: an attempt is idempotent.
    assert set(sent) == {delivery.pk}


def test_deliveries_show_each_attempt(client, world):
    failed_delivery(world.own, body="x" * 1000)
    html = as_user(client, world.office).get(reverse("webhooks:detail", args=[world.own.pk]))
    text = html.content.decode()
    assert 'data-state="failed"' in text
    assert "123 ms" in text and "500" in text and "ReadTimeout: timed out" in text
    assert "x" * 199 + "…" in text and "x" * 201 not in text  # the body, truncated
    assert reverse("webhooks:redeliver", args=[world.own.pk, world.own.deliveries.get().pk]) in text


def test_the_deliveries_refresh_alone_for_htmx(client, world):
    delivery = failed_delivery(world.own)
    as_user(client, world.office)
    response = client.get(reverse("webhooks:detail", args=[world.own.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="deliveries"')
    assert f'data-delivery="{delivery.pk}"' in html and "<html" not in html


def test_redeliver_puts_a_failed_delivery_back_to_pending(client, world):
    delivery = failed_delivery(world.own)
    as_user(client, world.office).post(
        reverse("webhooks:redeliver", args=[world.own.pk, delivery.pk])
    )
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING and delivery.next_attempt_at is not None


def test_a_delivery_of_another_subscription_is_404(client, world):
    theirs = failed_delivery(world.other)
    response = as_user(client, world.office).post(
        reverse("webhooks:redeliver", args=[world.own.pk, theirs.pk])
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == DeliveryState.FAILED


# --- languages -----------------------------------------------------------------------------


def translate(language: str, text: str) -> str:
    with translation.override(language):
        return translation.gettext(text)


def test_the_history_reads_as_sentences_in_each_language(client, world):
    as_user(client, world.officer)
    response = client.post(
        reverse("webhooks:create"), {"organisation": world.own_org.pk, "url": HOOK + "/v2"}
    )
    sub = WebhookSubscription.objects.get(url=HOOK + "/v2")
    client.post(reverse("webhooks:deactivate", args=[sub.pk]))
    client.post(reverse("webhooks:rotate_secret", args=[sub.pk]))
    assert response.status_code == 200
    name = AuditEvent.objects.get(
        action="webhook_subscription.created", object_id=str(sub.pk)
    ).actor_label
    for language in ("en", "ja", "ko"):
        with translation.override(language):
            html = client.get(
                reverse("webhooks:detail", args=[sub.pk]), HTTP_ACCEPT_LANGUAGE=language
            ).content.decode()
        # Typed values (the URL) are marked as the user's own text inside the sentence.
        html = re.sub(r"<span data-user-text>(.*?)</span>", r"\1", html)
        for action in ("created", "deactivated", "secret_rotated"):
            sentence = sentence_in(language, f"webhook_subscription.{action}")
            if language != "en":
                assert sentence != sentence_in("en", f"webhook_subscription.{action}")
            expected = escape(sentence.format(actor=name, url=HOOK + "/v2"))
            assert expected in html, (language, expected)


def sentence_in(language: str, name: str) -> str:
    with translation.override(language):
        return str(event_type(name).sentence)


TEMPLATES = Path(settings.BASE_DIR) / "templates" / "notifications" / "webhooks"


def template_msgids() -> set[str]:
    """The plain ``{% translate "…" %}`` strings of the webhook templates."""
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        found |= set(re.findall(r'{% translate "([^"]+)" %}', template.read_text()))
        found |= set(re.findall(r"{% translate '([^']+)' %}", template.read_text()))
    return found


@pytest.mark.parametrize("language", ["ja", "ko"])
def test_the_pages_are_translated_into_japanese_and_korean(client, world, language):
    msgids = template_msgids()
    assert len(msgids) > 40
    catalogue = trans_real.translation(language)._catalog  # type: ignore[attr-defined]
    missing = sorted(m for m in msgids if m not in catalogue)
    assert not missing, missing

    failed_delivery(world.own)
    as_user(client, world.office)
    pages = [
        reverse("webhooks:list"),
        reverse("webhooks:create"),
        reverse("webhooks:detail", args=[world.own.pk]),
        reverse("webhooks:edit", args=[world.own.pk]),
    ]
    english = {m for m in msgids if translate(language, m) != m and len(m) > 3}
    for url in pages:
        with translation.override(language):
            response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        html = response.content.decode()
        assert response.status_code == 200
        left = sorted(m for m in english if f">{m}<" in html or f'"{m}"' in html)
        assert not left, (url, left)
    with translation.override(language):
        secret_page = client.post(
            reverse("webhooks:rotate_secret", args=[world.own.pk]), HTTP_ACCEPT_LANGUAGE=language
        )
    html = secret_page.content.decode()
    assert translate(language, "Copy the secret now.") in html
    assert "every delivery is signed with both" not in html
