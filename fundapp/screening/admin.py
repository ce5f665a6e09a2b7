"""Read-only admin: the list changes by import, cases by the screening services (§11)."""

from __future__ import annotations

from django.contrib import admin

from .models import RestrictedParty, ScreeningCase


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RestrictedParty)
class RestrictedPartyAdmin(ReadOnlyAdmin):
    list_display = ("name", "country", "source", "active", "imported_at")
    list_filter = ("active", "source", "country")
    search_fields = ("name", "normalized_name")


@admin.register(ScreeningCase)
class ScreeningCaseAdmin(ReadOnlyAdmin):
    list_display = ("id", "subject_type", "subject_id", "subject_label", "state", "opened_at")
    list_filter = ("state", "subject_type")
    search_fields = ("subject_label",)
    raw_id_fields = ("decided_by", "previous")
