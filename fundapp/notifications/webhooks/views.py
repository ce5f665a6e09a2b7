"""Webhook pages (§13.3, §15): an organisation's research office manages its own
subscriptions, fund officers every organisation's.

Anyone else gets 404 for every page (as on the API-key pages), and a subscription one may
not manage is the same 404 as a missing one. Every change is a POST through
``fundapp.notifications.webhooks.services``; the views only read forms and render. A new
secret is rendered in the response of the POST that made it, never stored for a later page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import Organisation
from fundapp.audit.services import history_for
from fundapp.errors import DomainError

from . import services
from .forms import (
    SecretRotateForm,
    SubscriptionCreateForm,
    SubscriptionForm,
    event_type_description,
)
from .models import DeliveryState, WebhookDelivery, WebhookSecret, WebhookSubscription
from .permissions import (
    can_manage_webhooks,
    get_subscription_for_actor,
    subscriptions_for_actor,
    webhook_organisation_ids,
)
from .tasks import deliver_after_commit

DELIVERIES_PER_PAGE = 20


def webhook_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign in first; then whoever manages no organisation's webhooks sees 404."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_manage_webhooks(request.user):  # type: ignore[arg-type]
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def _organisations(request: HttpRequest) -> QuerySet[Organisation]:
    ids = webhook_organisation_ids(request.user)  # type: ignore[arg-type]
    rows = Organisation.objects.order_by("code")
    return rows if ids is None else rows.filter(pk__in=ids)


def _subscription(request: HttpRequest, pk: int) -> WebhookSubscription:
    return get_subscription_for_actor(request.user, pk)  # type: ignore[arg-type]


@require_GET
@webhook_manager_required
def subscription_list(request: HttpRequest) -> HttpResponse:
    rows = subscriptions_for_actor(request.user).annotate(  # type: ignore[arg-type]
        pending_count=Count("deliveries", filter=Q(deliveries__state=DeliveryState.PENDING)),
        failed_count=Count("deliveries", filter=Q(deliveries__state=DeliveryState.FAILED)),
    )
    organisations = _organisations(request)
    selected = request.GET.get("organisation", "")
    if selected.isdigit():
        rows = rows.filter(organisation_id=int(selected))
    return render(
        request,
        "notifications/webhooks/list.html",
        {
            "subscriptions": rows.order_by("organisation__code", "id"),
            "organisations": organisations,
            "selected_organisation": int(selected) if selected.isdigit() else None,
        },
    )


def _secret_page(
    request: HttpRequest, subscription: WebhookSubscription, secret: str, *, created: bool
) -> HttpResponse:
    overlap = getattr(settings, "WEBHOOKS_SECRET_OVERLAP", timedelta(hours=24))
    old_until = (
        WebhookSecret.objects.filter(subscription=subscription, expires_at__isnull=False)
        .exclude(secret=secret)
        .filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
        .order_by("-expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    return render(
        request,
        "notifications/webhooks/secret.html",
        {
            "subscription": subscription,
            "secret": secret,
            "created": created,
            "overlap_hours": int(overlap.total_seconds() // 3600),
            "old_until": old_until,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@webhook_manager_required
def subscription_create(request: HttpRequest) -> HttpResponse:
    organisations = _organisations(request)
    initial = {}
    if request.GET.get("organisation", "").isdigit():
        initial["organisation"] = request.GET["organisation"]
    form = SubscriptionCreateForm(
        request.POST or None, initial=initial, organisations=organisations
    )
    if request.method == "POST" and form.is_valid():
        try:
            created = services.webhook_subscription_create(
                organisation_id=form.cleaned_data["organisation"].pk,
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            # Rendered, not redirected: the secret exists in this one response only.
            return _secret_page(request, created.subscription, created.secret, created=True)
    return render(request, "notifications/webhooks/form.html", {"form": form})


@require_GET
@webhook_manager_required
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    deliveries = (
        WebhookDelivery.objects.filter(subscription=subscription)
        .select_related("event")
        .prefetch_related("attempt_log")
        .order_by("-id")
    )
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "subscription": subscription,
        "page": page,
        "any_pending": any(d.state == DeliveryState.PENDING for d in page),
    }
    if getattr(request, "htmx", False):
        return render(request, "notifications/webhooks/_deliveries.html", context)
    now = timezone.now()
    context.update(
        {
            "secrets": [
                s
                for s in WebhookSecret.objects.filter(subscription=subscription)
                if s.is_active(now)
            ],
            "event_types": [
                (name, event_type_description(name)) for name in subscription.event_types
            ],
            "rotate_form": SecretRotateForm(),
            "history": history_for(subscription),
        }
    )
    return render(request, "notifications/webhooks/detail.html", context)


@require_http_methods(["GET", "POST"])
@webhook_manager_required
def subscription_edit(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    initial = {
        "url": subscription.url,
        "event_types": subscription.event_types,
        "description": subscription.description,
    }
    form = SubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_subscription_update(
                subscription=subscription,
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, _("The webhook subscription is saved."))
            return redirect("webhooks:detail", pk=subscription.pk)
    return render(
        request, "notifications/webhooks/form.html", {"form": form, "subscription": subscription}
    )


def _act(request: HttpRequest, action: Callable[[], Any], done: str) -> None:
    """Run a service; its refusal or ``done`` becomes the message on the next page."""
    try:
        action()
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, done)


@require_POST
@webhook_manager_required
def subscription_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    _act(
        request,
        lambda: services.webhook_subscription_deactivate(
            subscription=subscription,
            actor=request.user,  # type: ignore[arg-type]
        ),
        _("The subscription is deactivated: no events are delivered to it."),
    )
    return redirect("webhooks:detail", pk=subscription.pk)


@require_POST
@webhook_manager_required
def subscription_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    _act(
        request,
        lambda: services.webhook_subscription_reactivate(
            subscription=subscription,
            actor=request.user,  # type: ignore[arg-type]
        ),
        _("The subscription is active again and receives new events."),
    )
    return redirect("webhooks:detail", pk=subscription.pk)


@require_POST
@webhook_manager_required
def subscription_delete(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    try:
        services.webhook_subscription_delete(
            subscription=subscription,
            actor=request.user,  # type: ignore[arg-type]
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("webhooks:detail", pk=subscription.pk)
    messages.success(
        request, _("The subscription for %(url)s is deleted.") % {"url": subscription.url}
    )
    return redirect("webhooks:list")


@never_cache
@require_POST
@webhook_manager_required
def subscription_rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    form = SecretRotateForm(request.POST)
    form.is_valid()  # one optional checkbox: always valid
    try:
        secret = services.webhook_secret_rotate(
            subscription=subscription,
            revoke_now=bool(form.cleaned_data.get("revoke_now")),
            actor=request.user,  # type: ignore[arg-type]
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("webhooks:detail", pk=subscription.pk)
    return _secret_page(request, subscription, secret, created=False)


@require_POST
@webhook_manager_required
def subscription_ping(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    delivery = services.webhook_subscription_ping(subscription=subscription)
    deliver_after_commit(delivery.pk)
    messages.success(request, _("A test event (webhook.ping) is on its way."))
    return redirect("webhooks:detail", pk=subscription.pk)


@require_POST
@webhook_manager_required
def delivery_redeliver(request: HttpRequest, pk: int, delivery_id: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    delivery = WebhookDelivery.objects.filter(subscription=subscription, pk=delivery_id).first()
    if delivery is None:
        raise Http404
    delivery = services.webhook_delivery_redeliver(
        delivery=delivery,
        actor=request.user,  # type: ignore[arg-type]
    )
    deliver_after_commit(delivery.pk)
    messages.success(request, _("The event will be delivered again, with the same webhook-id."))
    return redirect("webhooks:detail", pk=subscription.pk)
