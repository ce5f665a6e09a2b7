"""Operator screens for organisations, people and API keys.

Writes go through the services (and so into the audit trail); API keys can be looked at
and revoked here, never created or edited (the secret exists only at issue time).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fundapp.errors import DomainError

from .models import ApiKey, Membership, Organisation, User
from .permissions import can_manage_api_keys, can_manage_organisations
from .services import (
    ORGANISATION_FIELDS,
    api_key_revoke,
    organisation_create,
    organisation_update,
    user_access_record,
    user_access_snapshot,
)

admin.site.site_header = _("Japan–Korea Joint R&D Fund")
admin.site.site_title = _("Fund administration")


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "name_ja", "name_ko", "country", "side", "kind")
    list_filter = ("side", "kind", "country")
    search_fields = ("code", "name_en", "name_ja", "name_ko")
    ordering = ("code",)
    fields = ORGANISATION_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The code is a published identifier (§21).
        return ("code",) if obj is not None else ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can_manage_organisations(request.user) and super().has_add_permission(request)  # type: ignore[arg-type]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage_organisations(request.user) and super().has_change_permission(  # type: ignore[arg-type]
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Proposals, projects, licences and the audit trail refer to organisations.
        return False

    def save_model(self, request: HttpRequest, obj: Organisation, form: Any, change: bool) -> None:
        data = {f: form.cleaned_data[f] for f in ORGANISATION_FIELDS if f in form.cleaned_data}
        if change:
            current = Organisation.objects.get(pk=obj.pk)
            changes = {f: data[f] for f in form.changed_data if f in data}
            saved = organisation_update(organisation=current, actor=request.user, changes=changes)  # type: ignore[arg-type]
        else:
            saved = organisation_create(actor=request.user, **data)  # type: ignore[arg-type]
        obj.pk = saved.pk
        obj.side = saved.side


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("organisation",)
    fields = ("organisation", "research_office")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "role", "side", "is_active")
    list_filter = ("role", "side", "is_active", "is_staff", "is_superuser")
    search_fields = ("username", "display_name", "email", "first_name", "last_name")
    inlines = (MembershipInline,)
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]
        (
            _("Fund"),
            {
                "fields": (
                    "display_name",
                    "role",
                    "side",
                    "preferred_language",
                    "erad_number",
                    "kr_researcher_number",
                    "orcid",
                )
            },
        ),
    )

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # Roles, sides and memberships are permission grants (§12): the access before the
        # change is kept on the request until save_related has written the memberships.
        before = (
            user_access_snapshot(User.objects.get(pk=obj.pk))
            if change
            else user_access_snapshot(User())
        )
        request._access_before = before  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_access_before", None)
        if before is not None:
            user_access_record(user=form.instance, before=before, actor=request.user)  # type: ignore[arg-type]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "key_id", "created_at", "expires_at", "revoked_at")
    list_filter = ("organisation",)
    search_fields = ("name", "key_id", "organisation__code")
    list_select_related = ("organisation",)
    readonly_fields = (
        "organisation",
        "name",
        "key_id",
        "secret_hash",
        "scopes",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A key's secret is shown once at issue: use the officer page or `issue_api_key`.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The audit trail refers to keys; revoke instead.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return can_manage_api_keys(request.user)  # type: ignore[arg-type]

    @admin.action(description=_("Revoke the selected keys"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for key in queryset.order_by("pk"):
            try:
                api_key_revoke(key=key, actor=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, str(exc.message), messages.ERROR)
                return
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count) % {"count": count},
        )
