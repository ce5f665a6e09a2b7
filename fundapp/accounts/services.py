"""Writes for organisations, people's preferences and API keys (§3, §12, §14).

Every function here is the only way its change is made: views, the API, the admin and the
management commands call these. ``actor=None`` means the system itself (a management command
run by an operator, demo seeding); any other actor must pass the permission check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import PermissionDenied, ValidationFailed

from .models import ApiKey, Organisation, Scope, User, hash_secret
from .permissions import can_manage_api_keys, can_manage_organisations
from .validators import orcid_normalize, validate_orcid

ORGANISATION_FIELDS = ("code", "name_en", "name_ja", "name_ko", "country", "kind")
# The code is a published identifier (§21): partner systems address organisations by it.
ORGANISATION_MUTABLE_FIELDS = ("name_en", "name_ja", "name_ko", "country", "kind")
LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}


def _organisation_snapshot(org: Organisation) -> dict[str, Any]:
    return {field: getattr(org, field) for field in (*ORGANISATION_FIELDS, "side")}


def _validation_failed(exc: ValidationError) -> ValidationFailed:
    errors: dict[str, list[Any]] = (
        {k: list(v) for k, v in exc.message_dict.items()}
        if hasattr(exc, "error_dict")
        else {"non_field_errors": list(exc.messages)}
    )
    return ValidationFailed(_("The organisation has invalid fields."), errors=errors)


def organisation_create(
    *,
    actor: Actor | None,
    code: str,
    name_en: str,
    country: str,
    kind: str,
    name_ja: str = "",
    name_ko: str = "",
) -> Organisation:
    """Create an organisation; its side follows the country (§3).

    Guarantees: fund officers (or the system) only; the row and its
    ``organisation.created`` audit event commit together; the code is unique.
    """
    if actor is not None and not can_manage_organisations(actor):
        raise PermissionDenied(_("Only fund officers may create organisations."))
    org = Organisation(
        code=code.strip(),
        name_en=name_en.strip(),
        name_ja=name_ja.strip(),
        name_ko=name_ko.strip(),
        country=country.strip().upper(),
        kind=kind,
    )
    try:
        org.full_clean()
    except ValidationError as exc:
        raise _validation_failed(exc) from exc
    with transaction.atomic():
        org.save()
        audit_record(
            actor=actor,
            action="organisation.created",
            obj=org,
            after=_organisation_snapshot(org),
        )
    return org


def organisation_update(
    *, organisation: Organisation, actor: Actor | None, changes: Mapping[str, Any]
) -> Organisation:
    """Change an organisation's names, country or kind; the code never changes.

    Guarantees: fund officers (or the system) only; the row is re-read under a lock; only
    changed fields are saved and audited (``organisation.updated`` with before/after); a
    request that changes nothing writes nothing.
    """
    if actor is not None and not can_manage_organisations(actor):
        raise PermissionDenied(_("Only fund officers may change organisations."))
    if "code" in changes and changes["code"] != organisation.code:
        raise ValidationFailed(
            _("The organisation has invalid fields."),
            errors={"code": [_("The code of an organisation cannot be changed.")]},
        )
    unknown = set(changes) - {*ORGANISATION_MUTABLE_FIELDS, "code"}
    if unknown:
        raise ValidationFailed(
            _("The organisation has invalid fields."),
            errors={field: [_("This field cannot be changed.")] for field in sorted(unknown)},
        )
    with transaction.atomic():
        org = Organisation.objects.select_for_update(of=("self",)).get(pk=organisation.pk)
        before = _organisation_snapshot(org)
        for field in ORGANISATION_MUTABLE_FIELDS:
            if field in changes:
                value = changes[field]
                if isinstance(value, str):
                    value = value.strip()
                    if field == "country":
                        value = value.upper()
                setattr(org, field, value)
        try:
            org.full_clean()
        except ValidationError as exc:
            raise _validation_failed(exc) from exc
        changed = [f for f in ORGANISATION_MUTABLE_FIELDS if getattr(org, f) != before[f]]
        if not changed:
            return org
        # save() derives `side` from the country, so it is saved alongside.
        org.save(update_fields=[*changed, "side"])
        after = _organisation_snapshot(org)
        audit_record(
            actor=actor,
            action="organisation.updated",
            obj=org,
            before={k: before[k] for k in (*changed, "side") if before[k] != after[k]},
            after={k: after[k] for k in (*changed, "side") if before[k] != after[k]},
        )
    return org


def user_preferred_language_set(*, user: User, language: str) -> User:
    """Remember the language a person chose, for every later sign-in.

    A preference, not fund state: no lock and no audit event.
    """
    if language not in LANGUAGE_CODES:
        raise ValidationFailed(
            _("Unknown language."), errors={"language": [_("Choose Japanese, Korean or English.")]}
        )
    if user.preferred_language != language:
        user.preferred_language = language
        user.save(update_fields=["preferred_language"])
    return user


IDENTIFIER_FIELDS = ("erad_number", "kr_researcher_number", "orcid")


def user_identifiers_set(
    *, user: User, actor: Actor, erad_number: str, kr_researcher_number: str, orcid: str
) -> User:
    """A person records their own researcher numbers (e-Rad, Korean researcher number) and
    ORCID iD, which the duplicate-funding check (§22) matches across proposals.

    Guarantees: only the person themselves (an administrator edits anyone's in the admin);
    the national numbers are digits (up to 16), the ORCID iD is normalized (a pasted
    orcid.org address, a lower-case x) and its ISO 7064 check digit checked; the row is
    locked and saved with ``update_fields``; a change is audited ``user.identifiers_changed``
    with the values before and after; nothing changes on a refusal.
    """
    if not isinstance(actor, User) or actor.pk != user.pk:
        raise PermissionDenied(_("You may only change your own researcher numbers."))
    values = {
        "erad_number": (erad_number or "").strip(),
        "kr_researcher_number": (kr_researcher_number or "").strip(),
        "orcid": orcid_normalize(orcid or ""),
    }
    errors: dict[str, list[Any]] = {}
    for name in ("erad_number", "kr_researcher_number"):
        if values[name] and not (values[name].isascii() and values[name].isdigit()):
            errors[name] = [_("Use digits only.")]
        elif len(values[name]) > 16:
            errors[name] = [_("Use at most 16 digits.")]
    try:
        validate_orcid(values["orcid"])
    except ValidationError as exc:
        errors["orcid"] = list(exc.messages)
    if errors:
        raise ValidationFailed(
            _("The researcher numbers have errors; see the fields."), errors=errors
        )
    with transaction.atomic():
        locked = User.objects.select_for_update(of=("self",)).get(pk=user.pk)
        before = {name: getattr(locked, name) for name in IDENTIFIER_FIELDS}
        changed = [name for name in IDENTIFIER_FIELDS if before[name] != values[name]]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, values[name])
        locked.save(update_fields=changed)
        audit_record(
            actor=actor,
            action="user.identifiers_changed",
            obj=locked,
            before={name: before[name] for name in changed},
            after={name: values[name] for name in changed},
        )
    return locked


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    requested = [s.strip() for s in scopes if s and s.strip()]
    known = set(Scope.values)
    unknown = [s for s in dict.fromkeys(requested) if s not in known]
    if unknown:
        raise ValidationFailed(
            _("The API key has invalid fields."),
            errors={
                "scopes": [_("Unknown scope “%(scope)s”.") % {"scope": scope} for scope in unknown]
            },
        )
    if not requested:
        raise ValidationFailed(
            _("The API key has invalid fields."),
            errors={"scopes": [_("Choose at least one scope.")]},
        )
    # Stored in the published order of the scopes, once each.
    return [s for s in Scope.values if s in set(requested)]


def api_key_issue(
    *,
    organisation: Organisation,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    actor: Actor | None,
) -> tuple[ApiKey, str]:
    """Issue a key for one organisation and return it with its full secret key.

    Guarantees: fund officers (or the system) only; scopes are known ones; only the SHA-256
    of the secret is stored and the full key is returned this once; the key and its
    ``api_key.issued`` audit event (which never holds the secret) commit together.
    """
    if actor is not None and not can_manage_api_keys(actor):
        raise PermissionDenied(_("Only fund officers may issue API keys."))
    errors: dict[str, list[Any]] = {}
    clean_name = (name or "").strip()
    if not clean_name:
        errors["name"] = [_("Give the key a name.")]
    elif len(clean_name) > ApiKey._meta.get_field("name").max_length:  # type: ignore[operator]
        errors["name"] = [_("The name is too long.")]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = [_("The expiry must be in the future.")]
    try:
        clean_scopes = _clean_scopes(scopes)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        clean_scopes = []
    if errors:
        raise ValidationFailed(_("The API key has invalid fields."), errors=errors)

    key_id, secret, full_key = ApiKey.generate()
    with transaction.atomic():
        key = ApiKey.objects.create(
            organisation=organisation,
            name=clean_name,
            key_id=key_id,
            secret_hash=hash_secret(secret),
            scopes=clean_scopes,
            expires_at=expires_at,
            created_by=actor if isinstance(actor, User) else None,
        )
        audit_record(
            actor=actor,
            action="api_key.issued",
            obj=key,
            after={
                "organisation": organisation.code,
                "name": key.name,
                "key_id": key.key_id,
                "scopes": key.scopes,
                "expires_at": key.expires_at,
            },
        )
    return key, full_key


def api_key_revoke(*, key: ApiKey, actor: Actor | None) -> ApiKey:
    """Revoke a key from now on.

    Guarantees: fund officers (or the system) only; the row is locked while it changes;
    idempotent: revoking a revoked key changes nothing and writes no second audit event.
    """
    if actor is not None and not can_manage_api_keys(actor):
        raise PermissionDenied(_("Only fund officers may revoke API keys."))
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update(of=("self",)).get(pk=key.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoked",
            obj=locked,
            before={"revoked_at": None},
            after={"revoked_at": locked.revoked_at},
        )
    return locked


ACCESS_FIELDS = ("role", "side", "is_active", "is_staff", "is_superuser")


def user_access_snapshot(user: User) -> dict[str, Any]:
    """What decides a person's access: role, side, flags and organisations."""
    snapshot: dict[str, Any] = {field: getattr(user, field) for field in ACCESS_FIELDS}
    snapshot["organisations"] = (
        sorted(
            user.memberships.values_list("organisation__code", flat=True)  # type: ignore[attr-defined]
        )
        if user.pk
        else []
    )
    return snapshot


def user_access_record(*, user: User, before: Mapping[str, Any], actor: Actor | None) -> None:
    """Audit a change of a person's role, side, flags or memberships (§12: permission grants).

    Writes ``user.access_changed`` with only the changed fields, or nothing if none changed.
    """
    after = user_access_snapshot(user)
    changed = [k for k in after if before.get(k) != after[k]]
    if not changed:
        return
    audit_record(
        actor=actor,
        action="user.access_changed",
        obj=user,
        before={k: before.get(k) for k in changed},
        after={k: after[k] for k in changed},
    )
