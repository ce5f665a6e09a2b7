"""The event types the kernel's own apps write (accounts, API keys, the fund and its
research areas, the ledger, screening), registered by ``KernelConfig.ready``. See
``fundapp.kernel.events``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.events import (
    ID,
    OFFICERS,
    ORGANISATIONS,
    PUBLIC,
    STRING,
    EventType,
    data_schema,
    event_type_register,
    event_types_declare,
)

# Why the delivery system switched a subscription off (``disabled_reason``), as people read it.
WEBHOOK_DISABLED_REASONS = {
    "gone (410)": _("the receiver answered 410 Gone"),
    "failing for 24 hours": _("deliveries kept failing for 24 hours"),
}

EVENT_TYPES = [
    # Organisations and people
    *event_types_declare(
        ORGANISATIONS,
        {
            "organisation.created": _("{actor} registered the organisation"),
            "organisation.updated": _("{actor} updated the organisation's details"),
        },
    ),
    *event_types_declare(
        OFFICERS,
        {
            "user.created": _("{actor} created the account"),
            "user.access_changed": _("{actor} changed the account's role or access"),
            "user.identifiers_changed": _("{actor} changed their researcher numbers or ORCID iD"),
            "user.demo_login_enabled": _("{actor} enabled demo sign-in for the account"),
            "user.demo_login_disabled": _("{actor} disabled demo sign-in for the account"),
        },
    ),
    # API keys
    *event_types_declare(
        ORGANISATIONS,
        {
            "api_key.issued": _("{actor} issued the API key"),
            "api_key.revoked": _("{actor} revoked the API key"),
        },
    ),
    # Webhooks (§13.3): a test event for one subscription only.
    EventType(
        "webhook.ping",
        _("{actor} sent a test event to a webhook subscription"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema({"subscription_id": ID, "message": STRING}),
        example={"subscription_id": 7, "message": "ping", "resource_version": 90},
    ),
    # Webhook subscriptions (§13.3): managed by the organisation's research office, its
    # keys with webhooks:manage and fund officers. Never the secret itself.
    *event_types_declare(
        ORGANISATIONS,
        {
            "webhook_subscription.created": _("{actor} subscribed {url} to webhook events"),
            "webhook_subscription.updated": _("{actor} changed the webhook subscription"),
            "webhook_subscription.deactivated": _("{actor} deactivated the webhook subscription"),
            "webhook_subscription.reactivated": _("{actor} reactivated the webhook subscription"),
            "webhook_subscription.deleted": _("{actor} deleted the webhook subscription for {url}"),
            "webhook_subscription.secret_rotated": _(
                "{actor} rotated the webhook subscription's signing secret"
            ),
        },
    ),
    EventType(
        "webhook_subscription.disabled",
        _("The webhook subscription was switched off: {reason}"),
        ORGANISATIONS,
        labels={"reason": WEBHOOK_DISABLED_REASONS},
    ),
    # Notification e-mails (the in-app notification is the person's own; its e-mail is
    # the fund's job)
    *event_types_declare(
        OFFICERS,
        {
            "notification.email_skipped": _(
                "The notification's e-mail was not sent: the person cannot receive e-mail"
            ),
            "notification.email_failed": _(
                "The notification's e-mail could not be sent in time and was given up"
            ),
        },
    ),
    # The fund and its research areas
    *event_types_declare(
        OFFICERS,
        {
            "fund.created": _("{actor} set up the fund"),
            "fund.updated": _("{actor} changed the fund's settings"),
            "fund.contribution": _("{actor} recorded a contribution to the fund"),
        },
    ),
    *event_types_declare(
        PUBLIC,
        {
            "research_area.created": _("{actor} added the research area"),
            "research_area.updated": _("{actor} updated the research area"),
        },
    ),
    # The ledger
    EventType("ledger.posted", _("{actor} posted the ledger transaction {reference}"), OFFICERS),
    # Research security screening
    *event_types_declare(
        OFFICERS,
        {
            "screening.case_opened": _("{actor} opened the screening case"),
            "screening.case_updated": _("{actor} updated the screening case's matches"),
            "screening.case_cleared": _("{actor} cleared the screening case"),
            "screening.case_blocked": _("{actor} blocked the screening case"),
            "screening.case_superseded": _(
                "{actor} replaced the cleared screening case with a new one after new matches"
            ),
            "screening.restricted_parties_imported": _(
                "{actor} imported the restricted-party list"
            ),
        },
    ),
]


def register() -> None:
    event_type_register(*EVENT_TYPES)
