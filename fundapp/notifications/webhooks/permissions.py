"""Who manages webhook subscriptions (§13.3, §14): an organisation's key with the
``webhooks:manage`` scope and the members of its research office, for that organisation;
fund officers for every organisation."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from fundapp.accounts.models import ApiKey, Scope
from fundapp.actors import Actor, is_fund_officer, research_office_organisation_ids

from .models import WebhookSubscription


def webhook_organisation_ids(actor: Actor | None) -> list[int] | None:
    """The organisations whose subscriptions the actor manages; ``None``: all of them."""
    if isinstance(actor, ApiKey):
        return [actor.organisation_id] if actor.has_scope(Scope.WEBHOOKS_MANAGE) else []
    if is_fund_officer(actor):
        return None
    return research_office_organisation_ids(actor)


def can_manage_webhooks(actor: Actor | None) -> bool:
    return webhook_organisation_ids(actor) != []


def can_manage_subscription_of(actor: Actor | None, organisation_id: int) -> bool:
    ids = webhook_organisation_ids(actor)
    return ids is None or organisation_id in ids


def subscriptions_for_actor(actor: Actor | None) -> QuerySet[WebhookSubscription]:
    ids = webhook_organisation_ids(actor)
    rows = WebhookSubscription.objects.select_related("organisation").order_by("id")
    return rows if ids is None else rows.filter(organisation_id__in=ids)


def get_subscription_for_actor(actor: Actor | None, pk: str | int) -> WebhookSubscription:
    """The subscription, or the same 404 for missing and not yours."""
    found = subscriptions_for_actor(actor).filter(pk=int(pk)).first() if str(pk).isdigit() else None
    if found is None:
        raise Http404
    return found
