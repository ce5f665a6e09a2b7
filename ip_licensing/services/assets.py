"""The IP registry (§10.1): registering and updating assets, each with exactly one owner.

Results are never co-owned (§0): an asset has one owner organisation, a single foreign key.
A request naming several owners is refused with that sentence, not trimmed to the first.
A project's result is owned by one of the project's organisations; background IP names no
project. Status moves draft → filed → granted → lapsed, or lapses earlier
(``ASSET_WORKFLOW`` in ip_licensing.models.assets).

Input is a plain dict from a form or the API (``kind``, ``title_en``/``title_ja``/
``title_ko``, ``owner`` (id or code), ``project`` (id) or ``is_background``, ``inventors``,
``jurisdiction``, ``filing_number``, ``status``, ``research_area`` (code)); every problem
is reported per field and nothing is saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import Organisation, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.models import ResearchArea
from fundapp.kernel.problems import Problems
from fundapp.kernel.registry import ProjectRow, project_directory
from ip_licensing import permissions
from ip_licensing.models import AssetKind, AssetStatus, IPAsset, LicenceAsset
from ip_licensing.models.assets import ASSET_WORKFLOW

__all__ = [
    "CO_OWNERSHIP_REFUSED",
    "asset_register",
    "asset_update",
    "organisation_from_input",
]

# Kinds registered with a patent office: they need a jurisdiction, and a filing number once
# filed or granted.
FILED_KINDS = (AssetKind.PATENT, AssetKind.PATENT_APPLICATION)

FIELDS = (
    "kind",
    "title_en",
    "title_ja",
    "title_ko",
    "owner",
    "owners",
    "project",
    "is_background",
    "inventors",
    "jurisdiction",
    "filing_number",
    "status",
    "research_area",
)
AUDITED = (
    "kind",
    "title_en",
    "title_ja",
    "title_ko",
    "owner_id",
    "project_id",
    "is_background",
    "inventors",
    "jurisdiction",
    "filing_number",
    "status",
    "research_area_id",
)
_ALPHA2 = re.compile(r"[A-Z]{2}")
_MAX_ID = 2**63 - 1


CO_OWNERSHIP_REFUSED = gettext_lazy("Results are never co-owned: choose one owner organisation.")


# -- input ---------------------------------------------------------------------------------


def _int_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= _MAX_ID else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number <= _MAX_ID else None
    return None


def organisation_from_input(problems: Problems, path: str, ref: Any) -> Organisation | None:
    """An organisation named by instance, integer id or unique code; a problem otherwise."""
    if isinstance(ref, Organisation):
        return ref
    org = None
    pk = _int_id(ref)
    if pk is not None:
        org = Organisation.objects.filter(pk=pk).first()
    elif isinstance(ref, str) and ref.strip():
        org = Organisation.objects.filter(code=ref.strip().upper()).first()
    if org is None:
        problems.add(path, _("Unknown organisation."))
    return org


def _owner_ref(problems: Problems, data: Mapping[str, Any]) -> tuple[str, Any]:
    """(field, reference) of the one owner named; ``None`` with a problem when the data
    names none or several (results are never co-owned)."""
    field = "owners" if "owners" in data else "owner"
    named: list[Any] = []
    for key in ("owner", "owners"):
        value = data.get(key)
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        named += [v for v in values if v not in (None, "")]
    distinct = {v.pk if isinstance(v, Organisation) else str(v).strip().upper() for v in named}
    if len(distinct) > 1:
        problems.add(field, CO_OWNERSHIP_REFUSED)
        return field, None
    if not named:
        problems.add(field, _("This field is required."))
        return field, None
    return field, named[0]


def _project(problems: Problems, value: Any) -> ProjectRow | None:
    directory = project_directory.get()
    if isinstance(value, directory.model):
        return value
    pk = _int_id(value)
    project = directory.get(pk) if pk is not None else None
    if project is None:
        problems.add("project", _("Unknown project."))
    return project


def _research_area(problems: Problems, value: Any) -> ResearchArea | None:
    if value in (None, ""):
        return None
    if isinstance(value, ResearchArea):
        return value
    area = None
    if isinstance(value, str):
        area = ResearchArea.objects.filter(code=value.strip()).first()
    elif (pk := _int_id(value)) is not None:
        area = ResearchArea.objects.filter(pk=pk).first()
    if area is None:
        problems.add("research_area", _("Unknown research area."))
    return area


def _inventors(problems: Problems, value: Any) -> list[str]:
    names = inputs.string_list(problems, "inventors", value, max_items=100, max_length=200)
    return list(dict.fromkeys(names))


def _jurisdiction(problems: Problems, value: Any) -> str:
    text = inputs.text(problems, "jurisdiction", value, max_length=2)
    text = text.upper()
    if text and not _ALPHA2.fullmatch(text):
        problems.add("jurisdiction", _("Use an ISO 3166-1 alpha-2 code (JP, KR, US …)."))
        return ""
    return text


def _clean(data: Mapping[str, Any], *, current: IPAsset | None) -> tuple[dict[str, Any], Problems]:
    """Validate the whole resulting asset (``current`` updated by ``data``)."""
    problems = Problems()
    if not isinstance(data, Mapping):
        problems.add("__all__", _("Expected an object."))
        return {}, problems
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    for key in unknown:
        problems.add(key, _("Unknown field."))

    def given(name: str) -> bool:
        return current is None or name in data

    values: dict[str, Any] = {}
    if given("kind"):
        values["kind"] = inputs.choice(problems, "kind", data.get("kind"), AssetKind)
    for name in ("title_en", "title_ja", "title_ko"):
        if given(name):
            values[name] = inputs.text(problems, name, data.get(name), max_length=300)
    if "owner" in data or "owners" in data or current is None:
        field, ref = _owner_ref(problems, data)
        values["owner"] = None if ref is None else organisation_from_input(problems, field, ref)
    if given("is_background"):
        values["is_background"] = inputs.boolean(
            problems, "is_background", data.get("is_background", False)
        )
    if given("project"):
        ref = data.get("project")
        values["project"] = None if ref in (None, "") else _project(problems, ref)
    if given("inventors"):
        values["inventors"] = _inventors(problems, data.get("inventors"))
    if given("jurisdiction"):
        values["jurisdiction"] = _jurisdiction(problems, data.get("jurisdiction"))
    if given("filing_number"):
        values["filing_number"] = inputs.text(
            problems, "filing_number", data.get("filing_number"), max_length=100
        )
    if given("status"):
        status = data.get("status") if current is not None else data.get("status") or "draft"
        values["status"] = inputs.choice(problems, "status", status, AssetStatus)
    if given("research_area"):
        values["research_area"] = _research_area(problems, data.get("research_area"))

    # The asset as it would be saved, for the checks that look at several fields.
    def final(name: str) -> Any:
        if name in values:
            return values[name]
        return getattr(current, name) if current is not None else None

    titles = [final(name) for name in ("title_en", "title_ja", "title_ko")]
    if not any(titles) and not any(
        name in problems.as_dict() for name in ("title_en", "title_ja", "title_ko")
    ):
        problems.add("title_en", _("Give the asset a title in at least one language."))
    elif not final("title_en"):
        # The English title is the registry's common name; fall back to another language.
        values["title_en"] = next((t for t in titles if t), "")

    project, is_background = final("project"), final("is_background")
    if "project" in problems.as_dict():
        pass
    elif project is None and not is_background:
        problems.add(
            "project",
            _("Name the project this result came from, or register it as background IP."),
        )
    elif project is not None and is_background:
        problems.add(
            "is_background",
            _("Background IP does not come from a project: choose one or the other."),
        )
    owner = final("owner")
    if project is not None and owner is not None:
        in_project = project_directory.get().has_organisation(project.pk, owner.pk)
        if not in_project:
            field = "owners" if "owners" in data else "owner"
            problems.add(
                field,
                _(
                    "A project's result is owned by one of the project's organisations; "
                    "%(org)s is not one of them."
                )
                % {"org": owner.name_en},
            )

    kind = final("kind")
    if (
        kind in FILED_KINDS
        and not final("jurisdiction")
        and "jurisdiction" not in problems.as_dict()
    ):
        problems.add("jurisdiction", _("A patent or patent application needs its jurisdiction."))
    if (
        kind in FILED_KINDS
        and final("status") in (AssetStatus.FILED, AssetStatus.GRANTED)
        and not final("filing_number")
        and "filing_number" not in problems.as_dict()
    ):
        problems.add("filing_number", _("A filed or granted patent needs its filing number."))
    return values, problems


def _fail(problems: Problems) -> None:
    if problems:
        raise ValidationFailed(
            _("The IP asset has errors; see the fields."), errors=problems.as_dict()
        )


def _snapshot(asset: IPAsset) -> dict[str, Any]:
    return {name: getattr(asset, name) for name in AUDITED}


# -- services ------------------------------------------------------------------------------


def asset_register(*, actor: Actor, data: Mapping[str, Any]) -> IPAsset:
    """Register an IP asset with exactly one owner (§10.1).

    Guarantees: a member of the owner organisation or a fund officer only (checked once the
    owner is known; ``PermissionDenied`` otherwise); every field is validated first and a
    refused request saves nothing (``ValidationFailed`` with per-field messages — several
    owners are refused with "Results are never co-owned"); a project's result must be owned
    by one of the project's organisations; the new row and its audit event
    (``ip_asset.registered``) commit together.
    """
    if not isinstance(actor, User):
        _require(permissions.can_register_asset(actor, None))
    values, problems = _clean(data, current=None)
    owner = values.get("owner")
    if owner is not None:
        _require(permissions.can_register_asset(actor, owner.pk))
    _fail(problems)
    with transaction.atomic():
        asset = IPAsset.objects.create(
            created_by=actor if isinstance(actor, User) else None,
            **values,
        )
        audit_record(actor=actor, action="ip_asset.registered", obj=asset, after=_snapshot(asset))
    return asset


def asset_update(*, asset: IPAsset, actor: Actor, data: Mapping[str, Any]) -> IPAsset:
    """Change an asset's fields, its status along ``ASSET_WORKFLOW``, or its owner.

    Guarantees: a member of the current owner organisation (and of the new one, if it
    changes) or a fund officer only; the row is locked (``FOR NO KEY UPDATE``) and the
    whole resulting asset validated, so a refused change saves nothing; an asset named in
    any licence keeps its owner (the licensor of a licence is its assets' owner, §10.2);
    a status change off the transition table is a ``Conflict``; one audit event
    (``ip_asset.updated``) records before and after of what changed.
    """
    _require(permissions.can_edit_asset(actor, asset))
    with transaction.atomic():
        locked = (
            IPAsset.objects.select_for_update(of=("self",), no_key=True)
            .select_related("owner", "project")
            .get(pk=asset.pk)
        )
        _require(permissions.can_edit_asset(actor, locked))
        values, problems = _clean(data, current=locked)
        new_owner = values.get("owner")
        if new_owner is not None and new_owner.pk != locked.owner_id:
            _require(permissions.can_register_asset(actor, new_owner.pk))
            if LicenceAsset.objects.filter(asset=locked).exists():
                field = "owners" if "owners" in data else "owner"
                problems.add(
                    field,
                    _(
                        "This asset is named in a licence; its owner is the licensor and "
                        "cannot change."
                    ),
                )
        _fail(problems)
        before = _snapshot(locked)
        status = values.get("status")
        if status and status != locked.status:
            ASSET_WORKFLOW.move(locked, status, actor=actor)
        for name, value in values.items():
            setattr(locked, name, value)
        after = _snapshot(locked)
        changed = [name for name in AUDITED if before[name] != after[name]]
        if not changed:
            return locked
        locked.save(update_fields=[name.removesuffix("_id") for name in changed])
        audit_record(
            actor=actor,
            action="ip_asset.updated",
            obj=locked,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
        )
    return locked
