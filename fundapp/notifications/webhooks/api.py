"""Webhook subscriptions over the REST API (§13.3, §14): ``/api/v1/webhook-subscriptions/``.

A key needs ``webhooks:manage`` and sees its own organisation's subscriptions; research
office members (session) theirs; fund officers all. Another organisation's subscription
answers 404. The signing secret appears only in the create and rotate-secret responses.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.api import ProblemSerializer
from fundapp.api.filters import MAX_ID
from fundapp.api.pagination import CursorPagination
from fundapp.api.parsers import JSONParser
from fundapp.api.permissions import actor_of

from . import services
from .models import URL_MAX_LENGTH, WebhookAttempt, WebhookDelivery, WebhookSubscription
from .permissions import (
    can_manage_subscription_of,
    can_manage_webhooks,
    get_subscription_for_actor,
    subscriptions_for_actor,
)
from .tasks import deliver_after_commit

PROBLEM = "application/problem+json"
NOT_FOUND = OpenApiResponse(ProblemSerializer, description="No such subscription (or not yours).")
FORBIDDEN = OpenApiResponse(
    ProblemSerializer, description="Neither webhooks:manage nor research office nor officer."
)
BAD = OpenApiResponse(ProblemSerializer, description="Invalid body, or the URL is refused.")


class CanManageWebhooks(BasePermission):
    message = _(
        "Only an organisation's research office, its keys with webhooks:manage and fund officers manage webhooks."
    )

    def has_permission(self, request, view) -> bool:
        return can_manage_webhooks(request.user)


class WebhookUrlField(serializers.URLField):
    """A URL, judged by the service alone (webhook_url_check: https, a public host that
    resolves), which answers 422 naming ``url``; Django's URL validator would refuse some
    URLs the schema's ``format: uri`` allows with a 400 instead."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, URLValidator)]


class SubscriptionSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True)
    url = WebhookUrlField(max_length=URL_MAX_LENGTH)
    organisation = serializers.IntegerField(
        source="organisation_id", required=False, min_value=1, max_value=MAX_ID
    )
    # Names as sent (a blank one included): the service says which it does not know (422).
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64, min_length=1, trim_whitespace=False),
        required=False,
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "organisation",
            "url",
            "event_types",
            "description",
            "active",
            "disabled_reason",
            "failing_since",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["disabled_reason", "failing_since", "created_at", "updated_at"]


class CreatedSubscriptionSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown only once.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class SecretSerializer(serializers.Serializer):
    revoke_now = serializers.BooleanField(default=False, write_only=True)
    secret = serializers.CharField(read_only=True)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["id", "at", "status_code", "duration_ms", "error", "response_body"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.event_id", read_only=True)
    event_type = serializers.CharField(source="event.kind", read_only=True)
    subscription = serializers.IntegerField(source="subscription_id", read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_id",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="List webhook subscriptions",
        parameters=[
            OpenApiParameter(
                "organisation",
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                description="Only this organisation's subscriptions (for fund officers, who "
                "see every organisation's).",
            )
        ],
        responses={
            200: SubscriptionSerializer(many=True),
            (400, PROBLEM): BAD,
            (403, PROBLEM): FORBIDDEN,
        },
    ),
    retrieve=extend_schema(
        summary="Read a webhook subscription",
        responses={
            200: SubscriptionSerializer,
            (403, PROBLEM): FORBIDDEN,
            (404, PROBLEM): NOT_FOUND,
        },
    ),
    create=extend_schema(
        summary="Subscribe a URL to events",
        request=SubscriptionSerializer,
        responses={
            201: CreatedSubscriptionSerializer,
            (400, PROBLEM): BAD,
            (403, PROBLEM): FORBIDDEN,
        },
    ),
    partial_update=extend_schema(
        summary="Change a webhook subscription",
        request=SubscriptionSerializer,
        responses={200: SubscriptionSerializer, (400, PROBLEM): BAD, (404, PROBLEM): NOT_FOUND},
    ),
    destroy=extend_schema(
        summary="Delete a webhook subscription", responses={204: None, (404, PROBLEM): NOT_FOUND}
    ),
)
class WebhookSubscriptionViewSet(GenericViewSet):
    serializer_class = SubscriptionSerializer
    permission_classes = [IsAuthenticated, CanManageWebhooks]
    parser_classes = [JSONParser]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        rows = subscriptions_for_actor(actor_of(self.request))
        # Officers see every organisation's subscriptions; ``?organisation=<id>`` narrows them.
        organisation = self.request.query_params.get("organisation", "")
        if self.action == "list" and organisation:
            if not (organisation.isdigit() and 1 <= int(organisation) <= MAX_ID):
                raise serializers.ValidationError(
                    {"organisation": [_("Give the organisation's id (a number).")]}
                )
            rows = rows.filter(organisation_id=int(organisation))
        return rows

    def get_object(self) -> WebhookSubscription:
        return get_subscription_for_actor(actor_of(self.request), self.kwargs["pk"])

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SubscriptionSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(SubscriptionSerializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        serializer = SubscriptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor: Any = request.user
        organisation_id = data.get("organisation_id") or getattr(actor, "organisation_id", None)
        if organisation_id is None:
            from fundapp.actors import research_office_organisation_ids

            offices = research_office_organisation_ids(actor)
            organisation_id = offices[0] if len(offices) == 1 else None
        if organisation_id is None:
            raise serializers.ValidationError({"organisation": [_("Name the organisation.")]})
        if not can_manage_subscription_of(actor, organisation_id):
            raise PermissionDenied(CanManageWebhooks.message)
        created = services.webhook_subscription_create(
            organisation_id=organisation_id,
            url=data["url"],
            event_types=data.get("event_types", []),
            description=data.get("description", ""),
            actor=actor,
        )
        body = dict(SubscriptionSerializer(created.subscription).data, secret=created.secret)
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        serializer = SubscriptionSerializer(subscription, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        updated = services.webhook_subscription_update(
            subscription=subscription,
            url=data.get("url"),
            event_types=data.get("event_types"),
            description=data.get("description"),
            active=data.get("active"),
            actor=actor_of(request),
        )
        return Response(SubscriptionSerializer(updated).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.webhook_subscription_delete(
            subscription=self.get_object(), actor=actor_of(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rotate the signing secret",
        request=SecretSerializer,
        responses={200: SecretSerializer, (404, PROBLEM): NOT_FOUND},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        serializer = SecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = services.webhook_secret_rotate(
            subscription=self.get_object(),
            revoke_now=serializer.validated_data["revoke_now"],
            actor=actor_of(request),
        )
        return Response({"secret": secret})

    @extend_schema(
        summary="Send a webhook.ping event to this subscription",
        request=None,
        responses={202: DeliverySerializer, (404, PROBLEM): NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: str) -> Response:
        delivery = services.webhook_subscription_ping(subscription=self.get_object())
        deliver_after_commit(delivery.pk)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="List the subscription's deliveries with their attempts",
        responses={200: DeliverySerializer(many=True), (404, PROBLEM): NOT_FOUND},
    )
    @action(detail=True, methods=["get"], pagination_class=CursorPagination)
    def deliveries(self, request: Request, pk: str) -> Response:
        rows = (
            WebhookDelivery.objects.filter(subscription=self.get_object())
            .select_related("event")
            .prefetch_related("attempt_log")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Deliver an event again (same webhook-id)",
        request=None,
        responses={202: DeliverySerializer, (404, PROBLEM): NOT_FOUND},
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/redeliver")
    def redeliver(self, request: Request, pk: str, delivery_id: str) -> Response:
        delivery = WebhookDelivery.objects.filter(
            subscription=self.get_object(), pk=delivery_id
        ).first()
        if delivery is None:
            from django.http import Http404

            raise Http404
        delivery = services.webhook_delivery_redeliver(delivery=delivery, actor=actor_of(request))
        deliver_after_commit(delivery.pk)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


def register(router: DefaultRouter) -> None:
    router.register(
        "webhook-subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription"
    )
