"""The ledger over the REST API, read-only (§9, §14): accounts and transactions.

Who reads: fund officers, finance officers and admins, in the browser session, the whole
ledger; an agency's system (an API key of an organisation of kind ``agency`` with the
``ledger:read`` scope) its own side's accounts and transactions, those in its side's
currency (JP: JPY, KR: KRW; §14); any other key gets 403, and another side's account or
transaction answers 404. Both lists use cursor pagination (stable under concurrent posting,
no COUNT over a growing table). Amounts are JSON integers.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from fundapp.accounts.api import ProblemSerializer
from fundapp.accounts.models import ApiKey, Organisation, Role, Scope, Side, User
from fundapp.api.pagination import CursorPagination

from .models import Account, Currency, Entry, Transaction, TransactionKind

LEDGER_READER_ROLES = {Role.FUND_OFFICER, Role.FINANCE_OFFICER, Role.ADMIN}
PROBLEM = "application/problem+json"


SIDE_CURRENCY: dict[str, str] = {Side.JP: Currency.JPY, Side.KR: Currency.KRW}


def agency_ledger_currency(actor: object) -> str | None:
    """The currency of the side whose ledger an agency's key reads, or ``None``."""
    if (
        isinstance(actor, ApiKey)
        and actor.has_scope(Scope.LEDGER_READ)
        and actor.organisation.kind == Organisation.Kind.AGENCY
    ):
        return SIDE_CURRENCY.get(actor.organisation.side)
    return None


def can_read_ledger(actor: object) -> bool:
    """Fund and finance officers and admins (all of it); an agency's key with
    ``ledger:read`` (its side's part)."""
    if agency_ledger_currency(actor) is not None:
        return True
    return (
        isinstance(actor, User)
        and actor.is_active
        and (actor.is_superuser or actor.role in LEDGER_READER_ROLES)
    )


class CanReadLedger(BasePermission):
    message = _(
        "Only fund and finance officers, and agencies' systems with the ledger:read scope, "
        "read the ledger."
    )

    def has_permission(self, request, view) -> bool:
        return can_read_ledger(request.user)


def _for_reader(queryset: QuerySet[Any], actor: object) -> QuerySet[Any]:
    currency = agency_ledger_currency(actor)
    return queryset if currency is None else queryset.filter(currency=currency)


# --------------------------------------------------------------------------- serializers


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "code", "currency", "kind", "name", "balance", "created_at"]
        read_only_fields = fields


class EntrySerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.code", read_only=True)

    class Meta:
        model = Entry
        fields = ["account", "amount"]
        read_only_fields = fields


class TransactionSerializer(serializers.ModelSerializer):
    reverses = serializers.IntegerField(source="reverses_id", read_only=True, allow_null=True)
    entries = EntrySerializer(many=True, read_only=True)

    class Meta:
        model = Transaction
        fields = [
            "id",
            "kind",
            "currency",
            "reference",
            "memo",
            "created_at",
            "reverses",
            "entries",
        ]
        read_only_fields = fields


# --------------------------------------------------------------------------- filters


class AccountFilter(django_filters.FilterSet):
    prefix = django_filters.CharFilter(
        field_name="code",
        lookup_expr="startswith",
        help_text="Code prefix up to a separator, e.g. fund:JP: or project:12:.",
    )
    currency = django_filters.ChoiceFilter(choices=Currency.choices)

    class Meta:
        model = Account
        fields = ["prefix", "currency"]


class TransactionFilter(django_filters.FilterSet):
    currency = django_filters.ChoiceFilter(choices=Currency.choices)
    kind = django_filters.ChoiceFilter(choices=TransactionKind.choices)
    reference = django_filters.CharFilter(field_name="reference")
    account = django_filters.CharFilter(
        method="filter_account", help_text="Account code: the transactions that touch it."
    )

    class Meta:
        model = Transaction
        fields = ["currency", "kind", "reference", "account"]

    def filter_account(self, queryset, name, value):
        touches = Entry.objects.filter(transaction=OuterRef("pk"), account__code=value)
        return queryset.filter(Exists(touches))


# --------------------------------------------------------------------------- views


class CodeCursorPagination(CursorPagination):
    ordering = "code"
    position_pattern = "[a-zA-Z0-9:_.-]{1,100}"


FORBIDDEN = OpenApiResponse(
    ProblemSerializer, description="Not a fund or finance officer, or an API key."
)
NOT_FOUND = OpenApiResponse(ProblemSerializer, description="No such account or transaction.")
BAD_FILTER = OpenApiResponse(ProblemSerializer, description="A bad filter value or cursor.")

ACCOUNT_EXAMPLE = {
    "id": 3,
    "code": "fund:JP:pool",
    "currency": "JPY",
    "kind": "internal",
    "name": "JP pool",
    "balance": 2960000000,
    "created_at": "2025-01-10T00:00:00Z",
}
TRANSACTION_EXAMPLE = {
    "id": 120,
    "kind": "tranche_release",
    "currency": "JPY",
    "reference": "tranche:81:release",
    "memo": "Stage 2, JP side",
    "created_at": "2026-04-01T00:15:02Z",
    "reverses": None,
    "entries": [
        {"account": "project:12:JP:committed", "amount": -40000000},
        {"account": "fund:JP:reserve", "amount": -4000000},
        {"account": "org:7:JPY:payable", "amount": 44000000},
    ],
}


def cursor_page(row: dict) -> dict:
    return {
        "next": "https://fund.example/api/v1/ledger/…?cursor=cD0x",
        "previous": None,
        "results": [row],
    }


@extend_schema_view(
    list=extend_schema(
        summary="List ledger accounts with their balances",
        description="Cursor pagination in code order; filter by prefix and currency.",
        responses={
            200: AccountSerializer(many=True),
            (400, PROBLEM): BAD_FILTER,
            (403, PROBLEM): FORBIDDEN,
        },
        examples=[
            OpenApiExample("Accounts", value=cursor_page(ACCOUNT_EXAMPLE), response_only=True)
        ],
    ),
    retrieve=extend_schema(
        summary="Read one ledger account by its code",
        responses={200: AccountSerializer, (403, PROBLEM): FORBIDDEN, (404, PROBLEM): NOT_FOUND},
        examples=[OpenApiExample("An account", value=ACCOUNT_EXAMPLE, response_only=True)],
    ),
)
class AccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    lookup_field = "code"
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    pagination_class = CodeCursorPagination
    permission_classes = [IsAuthenticated, CanReadLedger]

    def get_queryset(self) -> QuerySet[Account]:
        return _for_reader(Account.objects.order_by("code"), self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="List ledger transactions with their entries",
        description="Cursor pagination, newest first; filter by currency, kind, reference "
        "and account (code). Each entry's amount is added to its account's balance.",
        responses={
            200: TransactionSerializer(many=True),
            (400, PROBLEM): BAD_FILTER,
            (403, PROBLEM): FORBIDDEN,
        },
        examples=[
            OpenApiExample(
                "Transactions", value=cursor_page(TRANSACTION_EXAMPLE), response_only=True
            )
        ],
    ),
    retrieve=extend_schema(
        summary="Read one ledger transaction",
        responses={
            200: TransactionSerializer,
            (403, PROBLEM): FORBIDDEN,
            (404, PROBLEM): NOT_FOUND,
        },
        examples=[OpenApiExample("A transaction", value=TRANSACTION_EXAMPLE, response_only=True)],
    ),
)
class TransactionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    serializer_class = TransactionSerializer
    filterset_class = TransactionFilter
    pagination_class = CursorPagination  # newest (highest id) first
    permission_classes = [IsAuthenticated, CanReadLedger]

    def get_queryset(self) -> QuerySet[Transaction]:
        entries = Entry.objects.select_related("account").order_by("id")
        return _for_reader(
            Transaction.objects.prefetch_related(Prefetch("entries", queryset=entries)),
            self.request.user,
        )


def register(router: DefaultRouter) -> None:
    """Register the ledger's read-only viewsets on the /api/v1/ router."""
    router.register("ledger/accounts", AccountViewSet, basename="ledger-account")
    router.register("ledger/transactions", TransactionViewSet, basename="ledger-transaction")
