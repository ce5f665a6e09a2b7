"""Read-only admin: the ledger changes only through ``fundapp.ledger.services``."""

from __future__ import annotations

from django.contrib import admin

from .models import Account, Entry, Transaction


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "currency", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "currency", "kind", "balance", "name", "created_at")
    list_filter = ("currency", "kind")
    search_fields = ("code", "name")


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "currency", "reference", "created_at", "reverses")
    list_filter = ("kind", "currency")
    search_fields = ("reference", "memo")
    raw_id_fields = ("reverses",)
    inlines = [EntryInline]


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "account", "currency", "amount")
    list_filter = ("currency",)
    search_fields = ("account__code", "transaction__reference")
    list_select_related = ("transaction", "account")
