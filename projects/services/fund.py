"""The fund's settings and its research areas (§4), kept by fund officers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils.translation import gettext as _

from fundapp.actors import Actor, is_fund_officer
from fundapp.audit.services import audit_record
from fundapp.errors import PermissionDenied, ValidationFailed
from projects.models import Fund, ResearchArea

FUND_FIELDS = (
    "name_en",
    "name_ja",
    "name_ko",
    "jp_agency",
    "kr_agency",
    "reference_rate_krw_per_jpy",
    "fund_share_bp",
    "max_licence_years",
    "cure_days",
    "late_interest_rate",
)
AREA_FIELDS = ("name_en", "name_ja", "name_ko", "sensitivity")


def _require_officer(actor: Actor | None) -> None:
    if not is_fund_officer(actor):
        raise PermissionDenied(_("Only fund officers may change the fund's settings."))


def _validated(obj: Any) -> None:
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise ValidationFailed(
            _("The form has errors; see the fields."),
            errors={k: [str(m) for m in v] for k, v in exc.message_dict.items()},
        ) from exc


def fund_update(*, actor: Actor, fund: Fund, changes: dict[str, Any]) -> Fund:
    """Change the fund's names, agencies, reference rate or policy. Locked, validated,
    audited with before and after; unknown fields are refused."""
    _require_officer(actor)
    unknown = set(changes) - set(FUND_FIELDS)
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), errors={f: [_("Unknown field.")] for f in sorted(unknown)}
        )
    with transaction.atomic():
        locked = Fund.objects.select_for_update().get(pk=fund.pk)
        before = model_to_dict(locked, fields=FUND_FIELDS)
        for key, value in changes.items():
            setattr(locked, key, value)
        _validated(locked)
        locked.save(update_fields=list(changes) or None)
        after = model_to_dict(locked, fields=FUND_FIELDS)
        audit_record(actor=actor, action="fund.updated", obj=locked, before=before, after=after)
    return locked


def _parent_for(code: str) -> ResearchArea | None:
    if "." not in code:
        return None
    return ResearchArea.objects.filter(code=code.rsplit(".", 1)[0]).first()


def research_area_create(*, actor: Actor, code: str, data: dict[str, Any]) -> ResearchArea:
    """A new area under its parent (the code's prefix, which must exist)."""
    _require_officer(actor)
    code = (code or "").strip()
    with transaction.atomic():
        area = ResearchArea(code=code, **{k: v for k, v in data.items() if k in AREA_FIELDS})
        area.parent = _parent_for(code)
        if "." in code and area.parent is None:
            raise ValidationFailed(
                _("Create the parent area first."),
                errors={
                    "code": [
                        _("The parent area “%(parent)s” does not exist.")
                        % {"parent": code.rsplit(".", 1)[0]}
                    ]
                },
            )
        _validated(area)
        area.save()
        audit_record(
            actor=actor,
            action="research_area.created",
            obj=area,
            after=model_to_dict(area, fields=("code", *AREA_FIELDS)),
        )
    return area


def research_area_update(
    *, actor: Actor, area: ResearchArea, changes: dict[str, Any]
) -> ResearchArea:
    """Names and sensitivity change; the code does not (licences and calls refer to it)."""
    _require_officer(actor)
    unknown = set(changes) - set(AREA_FIELDS)
    if unknown:
        raise ValidationFailed(
            _("The code of a research area cannot change."),
            errors={f: [_("This field cannot be changed.")] for f in sorted(unknown)},
        )
    with transaction.atomic():
        locked = ResearchArea.objects.select_for_update().get(pk=area.pk)
        before = model_to_dict(locked, fields=AREA_FIELDS)
        for key, value in changes.items():
            setattr(locked, key, value)
        _validated(locked)
        locked.save(update_fields=list(changes) or None)
        audit_record(
            actor=actor,
            action="research_area.updated",
            obj=locked,
            before=before,
            after=model_to_dict(locked, fields=AREA_FIELDS),
        )
    return locked
