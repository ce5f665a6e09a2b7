"""Licences (§10.2–§10.3): proposing, accepting, approving, running and renewing them.

A licence is proposed as a **draft** by a party (or a fund officer); its licensor is the
one owner of every asset it names. Each party accepts (``licensor_accepted_at``,
``licensee_accepted_at``); the second acceptance makes it **pending** and opens research-
security screening when §11 asks for it (licensee outside JP/KR, a controlled field, a
restricted-party match). Two fund officers, one of each side, **approve** it (the first
approval is recorded, the second completes it); completion needs screening ``cleared`` or
``not_required``. An approved licence is **active** from its start date (at once if that
day has come, else by :func:`licences_activate_and_expire`) and **expired** from the day
after its end date, in Asia/Tokyo dates. Fund officers **suspend**, **resume** and
**terminate**. A **renewal** is a new draft linked by ``renewal_of``; the old licence keeps
its end date — nothing is ever silently extended.

Exclusivity (§10.2). An exclusive licence may not overlap another licence of the same
asset in field, territory and time, and no licence may overlap an exclusive one: the
pair is judged by :func:`ip_licensing.rules.exclusive_conflicts` against the other
licences that are pending, approved, active or suspended. The check runs twice, each
time after locking the licence's asset rows in ``pk`` order (``FOR NO KEY UPDATE``), so
that two transactions deciding licences of the same asset take turns and the second sees
what the first committed:

* when the last acceptance would make a licence pending — first agreed, first served: a
  licence that conflicts with one already pending is refused then, naming it, so
  officers never hold two pending licences of which only one could be approved;
* when an approval is recorded or completed — the guarantee that two overlapping
  licences never stand approved or active together, whatever runs concurrently.

Lock order everywhere: licence → its approval → asset rows (pk order) → ledger accounts
(upfront fee) → the audit chain, which is written last in each transaction.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Organisation, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.approvals import (
    DECISION_WORKFLOW,
    LIVE_STATES,
    decision_complete,
    decision_decline,
    decision_start,
    decision_withdraw,
)
from fundapp.kernel.calendar import today_in_tokyo as tokyo_today
from fundapp.kernel.clearance import CLEARANCES_ALLOWING, refuse_unless_cleared
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.models import Fund, ResearchArea, Sensitivity
from fundapp.kernel.notices import notify_people, officers, page_url, tell_other_side
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import event_record
from fundapp.screening import reasons as screening_reasons
from fundapp.screening.services import screening_case_open, screening_clearance
from ip_licensing import permissions, royalty_rules, rules
from ip_licensing.events import licence_data
from ip_licensing.models import (
    AssetStatus,
    Exclusivity,
    IPAsset,
    Licence,
    LicenceApproval,
    LicenceAsset,
    LicenceState,
)
from ip_licensing.models.licences import LICENCE_WORKFLOW
from ip_licensing.selectors import licence_asset_ids, licence_conflicts
from ip_licensing.services.licence_assets import asset_shares, licence_asset_shares

from .assets import organisation_from_input

__all__ = [
    "CLEARANCES_ALLOWING_APPROVAL",
    "SCREENING_SUBJECT",
    "licence_accept",
    "licence_approve",
    "licence_create",
    "licence_expiry_reminders",
    "licence_renew",
    "licence_resume",
    "licence_screening_open",
    "licence_suspend",
    "licence_terminate",
    "licences_activate_and_expire",
    "tokyo_today",
]

logger = logging.getLogger(__name__)

SCREENING_SUBJECT = "licence"
CLEARANCES_ALLOWING_APPROVAL = CLEARANCES_ALLOWING
# States that still hold terms (for renewal: the licence was granted at some point).
RENEWABLE_STATES = (
    LicenceState.APPROVED,
    LicenceState.ACTIVE,
    LicenceState.SUSPENDED,
    LicenceState.EXPIRED,
)
TERM_STATES = (LicenceState.APPROVED, LicenceState.ACTIVE, LicenceState.SUSPENDED)
REMINDER_DAYS = (30, 7)
MAX_ASSETS = 100
MAX_LIST = 50
MAX_REASON = 5000
APPROVAL_PENDING, APPROVAL_COMPLETED, APPROVAL_CANCELLED = "pending", "completed", "cancelled"

CREATE_FIELDS = (
    "assets",
    "asset_shares",
    "licensor",
    "licensee",
    "fields_of_use",
    "fields",
    "purposes",
    "territories",
    "start_on",
    "end_on",
    "exclusivity",
    "sublicensable",
    "sublicence_share_bp",
    "royalty_rate",
    "minimum_annual_royalty",
    "upfront_fee",
    "currency",
)
TERM_FIELDS = (
    "fields_of_use",
    "purposes",
    "territories",
    "start_on",
    "end_on",
    "exclusivity",
    "sublicensable",
    "sublicence_share_bp",
    "royalty_rate",
    "minimum_annual_royalty",
    "upfront_fee",
    "currency",
)
# rules.validate_terms names its arguments; the input fields are the model's names.
_TERMS_FIELD = {"fields": "fields_of_use", "start": "start_on", "end": "end_on"}
_REFERENCE_LOCK = 0x4A4B_4C49_4345_4E43  # "JKLICENC": serialises reference numbering


def _url(licence: Licence) -> str:
    """The licence's page, for notifications and screening cases."""
    return page_url("ip:licence", licence.pk)


def _require_signed_in(actor: Actor | None) -> None:
    if isinstance(actor, ApiKey):
        return
    if not (isinstance(actor, User) and actor.is_authenticated and actor.is_active):
        raise PermissionDenied(_("Sign in first."))


def _fail(problems: Problems) -> None:
    if problems:
        raise ValidationFailed(
            _("The licence has errors; see the fields."), errors=problems.as_dict()
        )


def _state_label(state: str) -> str:
    return str(LicenceState(state).label)


# -- locks and transitions -----------------------------------------------------------------


def _lock(licence: Licence | int) -> Licence:
    pk = licence if isinstance(licence, int) else licence.pk
    return (
        Licence.objects.select_for_update(of=("self",), no_key=True)
        .select_related("licensor", "licensee")
        .get(pk=pk)
    )


def _transition(licence: Licence, target: str, *, actor: Actor | None, agreed: bool = False) -> str:
    """``LICENCE_WORKFLOW``'s check of the move and the actor; sets the state and returns
    the one before (the caller holds the row lock, saves and audits)."""
    return LICENCE_WORKFLOW.move(licence, target, actor=actor, agreed=agreed)


def _lock_assets(asset_ids: Iterable[int]) -> None:
    """Lock the asset rows in pk order: the serialisation point of exclusivity (§10.2)."""
    list(
        IPAsset.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=sorted(set(asset_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _refuse_conflicts(licence: Licence) -> None:
    """Lock the assets, then refuse if an overlapping licence stands against this one."""
    _lock_assets(licence_asset_ids(licence))
    conflicts = licence_conflicts(licence)
    if conflicts:
        references = ", ".join(other.reference for other in conflicts)
        message = _(
            "This licence overlaps %(references)s in field, territory and time, and one of "
            "them is exclusive: the asset is already licensed there."
        ) % {"references": references}
        raise Conflict(message, code="exclusive_conflict", errors={"exclusivity": [message]})


def _refuse_ended(licence: Licence, today: date) -> None:
    if licence.end_on < today:
        raise Conflict(
            _("This licence's term ended on %(end)s; propose a new licence or a renewal.")
            % {"end": licence.end_on.isoformat()},
            code="term_ended",
        )


# -- input ---------------------------------------------------------------------------------


def _date(problems: Problems, path: str, value: Any) -> date | None:
    if isinstance(value, datetime):
        problems.add(path, _("Enter a date (YYYY-MM-DD)."))
        return None
    if isinstance(value, date):
        return value
    if value in (None, ""):
        return None  # validate_terms reports it as required
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(path, _("Enter a date (YYYY-MM-DD)."))
    return None


def _codes(
    problems: Problems, path: str, value: Any, *, upper: bool = False, max_length: int = 120
) -> list[str]:
    if isinstance(value, set | frozenset):
        value = sorted(value)
    items = inputs.string_list(problems, path, value, max_items=MAX_LIST, max_length=max_length)
    items = [item.upper() if upper else item for item in items]
    return list(dict.fromkeys(items))


def _assets(problems: Problems, value: Any) -> list[IPAsset]:
    if value in (None, "", [], ()):
        problems.add("assets", _("Name at least one IP asset."))
        return []
    if not isinstance(value, list | tuple):
        value = [value]
    if len(value) > MAX_ASSETS:
        problems.add("assets", _("Use at most %(n)d entries.") % {"n": MAX_ASSETS})
        return []
    ids: list[int] = []
    for index, item in enumerate(value):
        if isinstance(item, IPAsset):
            ids.append(item.pk)
            continue
        pk = None
        if isinstance(item, int) and not isinstance(item, bool) and 0 < item < 2**63:
            pk = item
        elif isinstance(item, str) and item.strip().isascii() and item.strip().isdigit():
            pk = int(item.strip()) if 0 < int(item.strip()) < 2**63 else None
        if pk is None:
            problems.add(f"assets.{index}", _("Use the IP asset's integer id."))
            continue
        ids.append(pk)
    repeated = sorted({pk for pk in ids if ids.count(pk) > 1})
    if repeated:
        problems.add(
            "assets",
            _("Name each asset once; named more than once: %(ids)s.")
            % {"ids": ", ".join(str(pk) for pk in repeated)},
        )
    ids = list(dict.fromkeys(ids))
    found = {
        asset.pk: asset
        for asset in IPAsset.objects.filter(pk__in=ids).select_related("owner", "project__call")
    }
    for pk in ids:
        if pk not in found:
            problems.add("assets", _("Unknown IP asset: %(id)s.") % {"id": pk})
    assets = [found[pk] for pk in ids if pk in found]
    lapsed = [asset for asset in assets if asset.status == AssetStatus.LAPSED]
    if lapsed:
        problems.add(
            "assets",
            _("A lapsed asset cannot be licensed: %(titles)s.")
            % {"titles": ", ".join(asset.title_en for asset in lapsed)},
        )
    return assets


def _fund_for(assets: list[IPAsset]) -> Fund | None:
    """The fund whose policy governs the licence: that of the first asset's project, else
    the fund (one per installation)."""
    for asset in assets:
        if asset.project is not None:
            return asset.project.call.fund
    return Fund.objects.order_by("pk").first()


def _terms_message(code: str, *, max_years: int, start: date | None) -> str:
    if code == "term_too_long":
        latest = rules.latest_end(start, max_years) if start else None
        return _(
            "The term may not exceed %(years)d years (the fund's policy): end on %(latest)s at "
            "the latest."
        ) % {"years": max_years, "latest": latest.isoformat() if latest else "—"}
    messages = {
        "required": _("This field is required."),
        "invalid_field": _("Use research-area codes such as semiconductor.ai."),
        "unknown_purpose": _(
            "Choose purposes from research, development, manufacturing, sale and internal_use."
        ),
        "invalid_territory": _(
            "Use ISO 3166-1 alpha-2 country codes (JP, KR, US …) or WW for the whole world."
        ),
        "end_before_start": _("The end date may not be before the start date."),
        "rate_out_of_range": _(
            "Enter the royalty rate as a decimal fraction from 0 to 1, e.g. 0.05."
        ),
        "not_an_amount": _("Enter a whole amount."),
        "negative": _("An amount cannot be negative."),
        "too_large": _("An amount may not exceed 10¹⁵."),
        "unknown_currency": _("Choose JPY or KRW."),
    }
    return str(messages.get(code, code))


def _clean_terms(
    problems: Problems, data: Mapping[str, Any], *, assets: list[IPAsset], base: Licence | None
) -> dict[str, Any]:
    """The licence terms of ``data`` (over ``base``'s for a renewal), validated by
    :func:`rules.validate_terms` with the fund's ``max_licence_years``."""

    def raw(name: str, default: Any = None) -> Any:
        if name in data:
            return data[name]
        if name == "fields_of_use" and "fields" in data:
            return data["fields"]
        if base is not None:
            return getattr(base, name)
        return default

    fields = _codes(problems, "fields_of_use", raw("fields_of_use"))
    purposes = _codes(problems, "purposes", raw("purposes"), max_length=32)
    territories = _codes(problems, "territories", raw("territories"), upper=True, max_length=10)
    start = _date(problems, "start_on", raw("start_on"))
    end = _date(problems, "end_on", raw("end_on"))
    exclusivity = inputs.choice(
        problems, "exclusivity", raw("exclusivity", Exclusivity.NON_EXCLUSIVE), Exclusivity
    )
    sublicensable = inputs.boolean(problems, "sublicensable", raw("sublicensable", False))
    share = _sublicence_share(problems, raw("sublicence_share_bp", 0), sublicensable)
    rate_value = raw("royalty_rate")
    rate = None
    if rate_value not in (None, ""):
        rate = inputs.decimal(problems, "royalty_rate", rate_value, max_digits=20, places=6)
    minimum = inputs.amount(problems, "minimum_annual_royalty", raw("minimum_annual_royalty", 0))
    upfront = inputs.amount(problems, "upfront_fee", raw("upfront_fee", 0))
    currency_value = raw("currency", "")
    currency = currency_value.strip().upper() if isinstance(currency_value, str) else ""

    fund = _fund_for(assets)
    max_years = fund.max_licence_years if fund is not None else rules.DEFAULT_MAX_LICENCE_YEARS
    reported = problems.as_dict()
    for problem in rules.validate_terms(
        fields=fields,
        purposes=purposes,
        territories=territories,
        start=start,
        end=end,
        royalty_rate=rate if "royalty_rate" not in reported else Decimal(0),
        minimum_annual_royalty=minimum,
        upfront_fee=upfront,
        currency=currency,
        max_licence_years=max_years,
    ):
        field = _TERMS_FIELD.get(problem.field, problem.field)
        if field in reported:
            continue  # already told, in the input's own words
        problems.add(field, _terms_message(problem.code, max_years=max_years, start=start))

    valid_codes = [code for code in fields if rules.FIELD_CODE_PATTERN.fullmatch(code)]
    known = set(ResearchArea.objects.filter(code__in=valid_codes).values_list("code", flat=True))
    for code in valid_codes:
        if code not in known:
            problems.add("fields_of_use", _("Unknown research area: %(code)s.") % {"code": code})
    return {
        "fields_of_use": fields,
        "purposes": purposes,
        "territories": territories,
        "start_on": start,
        "end_on": end,
        "exclusivity": exclusivity,
        "sublicensable": sublicensable,
        "sublicence_share_bp": share,
        "royalty_rate": rate,
        "minimum_annual_royalty": minimum,
        "upfront_fee": upfront,
        "currency": currency,
    }


def _sublicence_share(problems: Problems, value: Any, sublicensable: bool) -> int:
    """§23: the parent's share of sublicence income, whole basis points from 0 to 10,000;
    only a sublicensable licence has one."""
    share = inputs.integer(
        problems, "sublicence_share_bp", value, minimum=0, maximum=10000, required=False
    )
    if share and not sublicensable:
        problems.add(
            "sublicence_share_bp",
            _("Only a sublicensable licence takes a share of sublicence income."),
        )
    return share or 0


def _check_currency(problems: Problems, licensor: Organisation | None, currency: str) -> None:
    """Royalties go first to the licensor's side pool, which holds that side's currency
    (§9, §10.5): a Japanese licensor licenses in JPY, a Korean one in KRW."""
    expected = {"JP": "JPY", "KR": "KRW"}.get(licensor.country) if licensor is not None else None
    if expected and currency and currency != expected:
        problems.add(
            "currency",
            _("A licence from %(licensor)s is in %(currency)s, the currency of its side.")
            % {"licensor": licensor.name_en if licensor else "", "currency": expected},
        )


def _clean_parties(
    problems: Problems, data: Mapping[str, Any], assets: list[IPAsset]
) -> tuple[Organisation | None, Organisation | None]:
    owners = {asset.owner_id: asset.owner for asset in assets}
    licensor = None
    if len(owners) > 1:
        problems.add(
            "assets",
            _(
                "A licence is granted by the one owner of its assets; these belong to "
                "%(owners)s. Propose one licence per owner."
            )
            % {"owners": ", ".join(sorted(org.name_en for org in owners.values()))},
        )
    elif owners:
        licensor = next(iter(owners.values()))
    if data.get("licensor") not in (None, ""):
        named = organisation_from_input(problems, "licensor", data["licensor"])
        if named is not None and licensor is not None and named.pk != licensor.pk:
            problems.add(
                "licensor",
                _("The licensor is the owner of the assets: %(owner)s.")
                % {"owner": licensor.name_en},
            )
    licensee = None
    if data.get("licensee") in (None, ""):
        problems.add("licensee", _("This field is required."))
    else:
        licensee = organisation_from_input(problems, "licensee", data["licensee"])
    if licensee is not None and licensor is not None and licensee.pk == licensor.pk:
        problems.add(
            "licensee", _("A licence is granted to an organisation other than the licensor.")
        )
    return licensor, licensee


def _next_reference(today: date) -> str:
    """``L-2026-0001``: the year (Asia/Tokyo) and the next number of that year."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REFERENCE_LOCK])
    prefix = f"L-{today.year:04d}-"
    last = (
        Licence.objects.filter(reference__regex=rf"^L-{today.year:04d}-[0-9]{{1,12}}$")
        .annotate(number=Cast(Substr("reference", len(prefix) + 1), BigIntegerField()))
        .aggregate(last=Max("number"))["last"]
    )
    return f"{prefix}{(last or 0) + 1:04d}"


def _snapshot(licence: Licence) -> dict[str, Any]:
    return {
        "reference": licence.reference,
        "state": licence.state,
        "licensor": licence.licensor_id,
        "licensee": licence.licensee_id,
        "assets": licence_asset_ids(licence),
        "asset_shares": licence_asset_shares(licence),
        "fields_of_use": licence.fields_of_use,
        "purposes": licence.purposes,
        "territories": licence.territories,
        "start_on": licence.start_on,
        "end_on": licence.end_on,
        "exclusivity": licence.exclusivity,
        "sublicensable": licence.sublicensable,
        "sublicence_share_bp": licence.sublicence_share_bp,
        "royalty_rate": licence.royalty_rate,
        "minimum_annual_royalty": licence.minimum_annual_royalty,
        "upfront_fee": licence.upfront_fee,
        "currency": licence.currency,
        "renewal_of": licence.renewal_of_id,
    }


def _insert(
    *,
    actor: Actor,
    licensor: Organisation,
    licensee: Organisation,
    assets: list[IPAsset],
    terms: dict[str, Any],
    renewal_of: Licence | None,
    shares: dict[int, int] | None = None,
) -> Licence:
    licence = Licence.objects.create(
        reference=_next_reference(tokyo_today()),
        licensor=licensor,
        licensee=licensee,
        renewal_of=renewal_of,
        created_by=actor if isinstance(actor, User) else None,
        state=LicenceState.DRAFT,
        **terms,
    )
    ordered = sorted(assets, key=lambda a: a.pk)
    shares = shares or dict(
        zip((a.pk for a in ordered), royalty_rules.equal_shares(len(ordered)), strict=True)
    )
    LicenceAsset.objects.bulk_create(
        [LicenceAsset(licence=licence, asset=asset, share_bp=shares[asset.pk]) for asset in ordered]
    )
    return licence


# -- people to tell ------------------------------------------------------------------------


def _party_people(licence: Licence) -> list[User]:
    people = list(
        User.objects.filter(
            permissions.party_people_filter([licence.licensor_id, licence.licensee_id]),
            is_active=True,
        ).order_by("pk")
    )
    if licence.created_by_id is not None:
        people += list(User.objects.filter(pk=licence.created_by_id, is_active=True))
    return people


def _named(licence: Licence) -> dict[str, Any]:
    """How a notification names the licence: by id, its reference and parties read when
    the notification is (in the reader's language)."""
    return {
        "reference": licence.pk,
        "licensor": licence.licensor_id,
        "licensee": licence.licensee_id,
    }


# -- screening (§11) -----------------------------------------------------------------------


def screening_request(licence: Licence) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The §11 reasons to screen the licence (licensee outside JP/KR, a field covering a
    controlled area) and both parties with their names for the restricted-party match."""
    controlled = dict(
        ResearchArea.objects.filter(sensitivity=Sensitivity.CONTROLLED).values_list(
            "code", "sensitivity"
        )
    )
    licensee = licence.licensee
    triggers = rules.licence_screening_triggers(
        licensee_country=licensee.country,
        fields=licence.fields_of_use,
        area_sensitivity=controlled,
    )
    reasons: list[dict[str, str]] = []
    if rules.SCREENING_LICENSEE_ABROAD in triggers:
        reasons.append(
            {
                "code": screening_reasons.LICENSEE_OUTSIDE_JP_KR,
                "detail": f"{licensee.name_en} ({licensee.country})",
            }
        )
    if rules.SCREENING_CONTROLLED_FIELD in triggers:
        covered = sorted(
            code
            for code in controlled
            if any(rules.field_covers(granted, code) for granted in licence.fields_of_use)
        )
        reasons.append(
            {"code": screening_reasons.CONTROLLED_FIELD, "detail": ", ".join(covered)[:500]}
        )
    parties = [
        {
            "organisation_id": org.pk,
            "name": org.name_en,
            "aliases": [
                name for name in (org.name_ja, org.name_ko) if name and name != org.name_en
            ],
            "country": org.country,
        }
        for org in (licence.licensor, licence.licensee)
    ]
    return reasons, parties


def licence_screening_open(*, licence: Licence, actor: Actor | None) -> str:
    """Open or refresh the licence's screening case (idempotent; the restricted-party list
    is matched again each time) and return its clearance."""
    reasons, parties = screening_request(licence)
    screening_case_open(
        subject_type=SCREENING_SUBJECT,
        subject_id=licence.pk,
        reasons=reasons,
        parties=parties,
        subject_label=f"{licence.reference}: {licence.licensor.name_en} → {licence.licensee.name_en}"[
            :300
        ],
        subject_url=_url(licence),
        actor=actor,
    )
    return licence_screening_clearance(licence)


def licence_screening_clearance(licence: Licence) -> str:
    return screening_clearance(subject_type=SCREENING_SUBJECT, subject_id=licence.pk)


def _refuse_unless_cleared(clearance: str) -> None:
    refuse_unless_cleared(
        clearance,
        blocked=_(
            "Screening has blocked this licence; it cannot be approved. Terminate it instead."
        ),
        pending=_(
            "The approval waits for screening clearance: a screening officer must clear this "
            "licence first. The first approval stays recorded."
        ),
    )


# -- proposing -----------------------------------------------------------------------------


def licence_create(*, actor: Actor, data: Mapping[str, Any]) -> Licence:
    """Propose a licence: a draft with a new unique reference (``L-2026-0001``).

    ``data``: ``assets`` (ids), ``licensee`` (id or code), ``fields_of_use`` (research-
    area codes that exist; ``fields`` is accepted too), ``purposes``, ``territories``,
    ``start_on``, ``end_on``, ``exclusivity`` (default non-exclusive), ``sublicensable``,
    ``royalty_rate`` (fraction), ``minimum_annual_royalty``, ``upfront_fee``, ``currency``
    (JPY or KRW); ``licensor`` may be given and must then be the assets' owner.

    Guarantees: the licensor is the one owner of every asset (assets of several owners are
    refused); the terms pass :func:`rules.validate_terms` with the fund's
    ``max_licence_years``; every problem is reported per field and nothing is saved; a
    party's member, a party's API key with ``licences:check`` or a fund officer only;
    references are numbered per year under an advisory lock, so concurrent proposals never
    share one; the licence, its asset links and the ``licence.created`` audit event commit
    together. Exclusivity is judged when the parties accept and at approval.
    """
    _require_signed_in(actor)
    problems = Problems()
    if not isinstance(data, Mapping):
        problems.add("__all__", _("Expected an object."))
        _fail(problems)
    for key in sorted(str(key) for key in data if key not in CREATE_FIELDS):
        problems.add(key, _("Unknown field."))
    assets = _assets(problems, data.get("assets"))
    shares = asset_shares(problems, data.get("asset_shares"), assets)
    licensor, licensee = _clean_parties(problems, data, assets)
    if licensor is not None and licensee is not None:
        _require(permissions.can_create_licence(actor, licensor.pk, licensee.pk))
    terms = _clean_terms(problems, data, assets=assets, base=None)
    _check_currency(problems, licensor, terms["currency"])
    _fail(problems)
    assert licensor is not None and licensee is not None
    with transaction.atomic():
        licence = _insert(
            actor=actor,
            licensor=licensor,
            licensee=licensee,
            assets=assets,
            terms=terms,
            renewal_of=None,
            shares=shares,
        )
        audit_record(actor=actor, action="licence.created", obj=licence, after=_snapshot(licence))
    return licence


def licence_renew(*, licence: Licence, actor: Actor, data: Mapping[str, Any]) -> Licence:
    """Propose the renewal of a licence: a new draft linked by ``renewal_of``.

    The new draft has the same licensor, licensee and assets, and the old terms except
    those ``data`` changes (the terms' fields of :func:`licence_create`). By default it
    starts the day after the old one ends and runs as long; it must start after the old
    one ends. The old licence is not touched: it keeps its end date (§10.3), and the
    renewal goes through acceptance, screening and approval like any licence.

    Guarantees: a party (member or API key with ``licences:check``) or a fund officer;
    only an approved, active, suspended or expired licence, renewed once (the old row is
    locked, and ``renewal_of`` is unique); validated like a new licence, nothing saved on a
    refusal; ``licence.renewed`` audited on the old licence and ``licence.created`` on the
    new one.
    """
    _require_signed_in(actor)
    _require(permissions.can_renew_licence(actor, licence))
    if licence.parent_id is not None:
        raise Conflict(
            _("A sublicence is not renewed; its licensee grants a new one."), code="sublicence"
        )
    problems = Problems()
    if not isinstance(data, Mapping):
        problems.add("__all__", _("Expected an object."))
        _fail(problems)
    for key in sorted(str(key) for key in data):
        if key in ("assets", "licensor", "licensee"):
            problems.add(
                key,
                _(
                    "A renewal keeps the licence's parties and assets; propose a new licence "
                    "to change them."
                ),
            )
        elif key not in TERM_FIELDS and key != "fields":
            problems.add(key, _("Unknown field."))
    with transaction.atomic():
        old = _lock(licence)
        if old.state not in RENEWABLE_STATES:
            raise Conflict(
                _("Only a licence that was approved can be renewed; this one is “%(state)s”.")
                % {"state": _state_label(old.state)},
                code="invalid_state",
            )
        existing = Licence.objects.filter(renewal_of=old).first()
        if existing is not None:
            raise Conflict(
                _("This licence has already been renewed by %(reference)s.")
                % {"reference": existing.reference},
                code="already_renewed",
            )
        assets = list(
            IPAsset.objects.filter(licence_links__licence=old)
            .select_related("owner", "project__call")
            .order_by("pk")
        )
        defaults = dict(data)
        if "start_on" not in defaults:
            defaults["start_on"] = old.end_on + timedelta(days=1)
        if "end_on" not in defaults:
            start = _date(Problems(), "start_on", defaults["start_on"])
            if start is not None:
                try:
                    defaults["end_on"] = start + (old.end_on - old.start_on)
                except OverflowError:
                    defaults["end_on"] = date.max
        terms = _clean_terms(problems, defaults, assets=assets, base=old)
        _check_currency(problems, old.licensor, terms["currency"])
        if terms["start_on"] is not None and terms["start_on"] <= old.end_on:
            problems.add(
                "start_on",
                _("A renewal starts after the licence it renews ends: on %(day)s or later.")
                % {"day": (old.end_on + timedelta(days=1)).isoformat()},
            )
        lapsed = [asset for asset in assets if asset.status == AssetStatus.LAPSED]
        if lapsed:
            problems.add(
                "assets",
                _("A lapsed asset cannot be licensed: %(titles)s.")
                % {"titles": ", ".join(asset.title_en for asset in lapsed)},
            )
        _fail(problems)
        renewal = _insert(
            actor=actor,
            licensor=old.licensor,
            licensee=old.licensee,
            assets=assets,
            terms=terms,
            renewal_of=old,
            shares=dict(old.licence_assets.values_list("asset_id", "share_bp")),
        )
        audit_record(
            actor=actor,
            action="licence.renewed",
            obj=old,
            after={"renewal": renewal.pk, "reference": renewal.reference},
        )
        audit_record(actor=actor, action="licence.created", obj=renewal, after=_snapshot(renewal))
    return renewal


# -- accepting -----------------------------------------------------------------------------


def licence_accept(*, licence: Licence, actor: Actor) -> Licence:
    """A party accepts a draft licence; the second party's acceptance makes it pending.

    Who: for the licensor or the licensee, a member of its research office or a principal
    investigator of one of its projects (browser), or its partner system with an API key
    carrying ``licences:check`` (see ``ip_licensing.permissions``). A person who speaks for
    both parties accepts for both. Fund officers do not accept for the parties.

    Guarantees: the licence row is locked and must be a draft (else ``Conflict``); a party
    accepts once (``Conflict`` the second time); when both have accepted, the asset rows
    are locked in pk order and the licence is refused (``Conflict`` naming the other
    licence, nothing saved) if it would conflict with a pending, approved, active or
    suspended licence (§10.2), or if its term has already ended; otherwise it becomes
    pending, screening is opened when §11 asks for it (or a party matches the restricted-
    party list), fund officers are told (``licence_pending``), and every step is audited
    in the same transaction.
    """
    _require_signed_in(actor)
    with transaction.atomic():
        locked = _lock(licence)
        allowed, reason = permissions.can_accept_licence(actor, locked)
        if not allowed:
            if locked.state != LicenceState.DRAFT:
                raise Conflict(reason, code="invalid_state")
            raise PermissionDenied(reason)
        sides = permissions.licence_sides_of(actor, locked)
        todo = [side for side in sides if getattr(locked, f"{side}_accepted_at") is None]
        if not todo:
            raise Conflict(
                _("Your organisation has already accepted this licence."), code="already_accepted"
            )
        now = timezone.now()
        for side in todo:
            setattr(locked, f"{side}_accepted_at", now)
        update = [f"{side}_accepted_at" for side in todo]
        both = locked.licensor_accepted_at is not None and locked.licensee_accepted_at is not None
        before_state = locked.state
        if both:
            _refuse_ended(locked, tokyo_today())
            _refuse_conflicts(locked)
            _transition(locked, LicenceState.PENDING, actor=actor)
            update.append("state")
        locked.save(update_fields=update)
        if both:
            licence_screening_open(licence=locked, actor=actor)
        audit_record(
            actor=actor,
            action="licence.accepted",
            obj=locked,
            before={"state": before_state},
            after={"state": locked.state, "parties": todo},
        )
        if both:
            _record_event("licence.pending", locked)
        if both:
            notify_people(
                users=officers(roles=[Role.FUND_OFFICER]),
                message="licence.pending",
                params=_named(locked),
                url=_url(locked),
            )
    return locked


# -- approving (two-person rule) -----------------------------------------------------------


def _require_approver(actor: Actor) -> User:
    _require(permissions.can_approve_licence(actor))
    assert isinstance(actor, User)
    return actor


def _post_upfront_fee(licence: Licence, actor: Actor | None) -> None:
    """Post the upfront fee on activation (§10.5) through the royalties service, which
    is idempotent (``upfront_posted`` and a unique ledger reference); skipped while that
    service is not installed."""
    try:
        module = importlib.import_module("ip_licensing.services.royalties")
    except ModuleNotFoundError as exc:
        if exc.name != "ip_licensing.services.royalties":
            raise
        return
    post = getattr(module, "royalty_post_upfront", None)
    if post is not None:
        post(licence=licence, actor=actor)


def _record_event(kind: str, licence: Licence, **extra: Any) -> None:
    """A webhook-ready event for both parties, in the same transaction (§13)."""
    event_record(
        kind=kind,
        obj=licence,
        organisation_ids=[licence.licensor_id, licence.licensee_id],
        payload=licence_data(licence, **extra),
    )


def _activate(licence: Licence, *, now: datetime, actor: Actor | None) -> str:
    """approved → active on a locked row; posts the upfront fee in the same transaction.
    Returns the state before; the caller audits."""
    before = _transition(licence, LicenceState.ACTIVE, actor=actor)
    licence.activated_at = now
    licence.save(update_fields=["state", "activated_at"])
    _record_event("licence.activated", licence)
    _post_upfront_fee(licence, actor)
    licence.refresh_from_db(fields=["upfront_posted"])
    return before


def licence_approve(*, licence: Licence, actor: Actor) -> Licence:
    """A fund officer approves a pending licence; two of them, one per side, approve it.

    Guarantees:

    - fund officers of the JP or KR side only; the screening case is refreshed first (in
      its own transaction, so a new restricted-party match stays recorded even when the
      approval is refused);
    - the licence row is locked, then its live approval: officers approving at the same
      moment are serialised — one records the first approval, the other completes it (one
      live approval per licence is also a database constraint);
    - the second approval must come from another person of the other side (also database
      checks); it needs screening ``cleared`` or ``not_required`` and a term that has not
      ended;
    - both approvals lock the asset rows in pk order and refuse an exclusive overlap
      (§10.2) with a pending, approved, active or suspended licence, naming it, so two
      overlapping licences can never both be approved, whatever runs concurrently;
    - on completion the licence is approved, and active at once if its start date
      (Asia/Tokyo) has come, with the upfront fee posted in the same transaction;
    - a refusal changes nothing; every step is audited; the other side's officers are told
      an approval is needed, the parties' people that the licence is approved.
    """
    officer = _require_approver(actor)
    if licence.parent_id is not None:
        raise Conflict(
            _("A sublicence is approved by the licensor's consent, not by the fund's officers."),
            code="sublicence",
        )
    if Licence.objects.filter(pk=licence.pk, state=LicenceState.PENDING).exists():
        with transaction.atomic():
            licence_screening_open(licence=licence, actor=officer)

    with transaction.atomic():
        locked = _lock(licence)
        if locked.state != LicenceState.PENDING:
            if locked.state in (LicenceState.APPROVED, LicenceState.ACTIVE):
                raise Conflict(_("This licence has already been approved."), code="invalid_state")
            raise Conflict(
                _("Only a pending licence can be approved; this one is “%(state)s”.")
                % {"state": _state_label(locked.state)},
                code="invalid_state",
            )
        live = (
            LicenceApproval.objects.select_for_update(of=("self",))
            .filter(licence=locked)
            .filter(state__in=LIVE_STATES)
            .select_related("first_officer")
            .first()
        )
        if live is None:
            return _first_approval(locked, officer)
        decision_complete(
            live,
            actor=officer,
            on_complete=lambda approval: _complete_approval(locked, approval, officer),
            audit={"licence": locked.pk},
        )
        return locked


def _first_approval(licence: Licence, officer: User) -> Licence:
    _refuse_ended(licence, tokyo_today())
    _refuse_conflicts(licence)
    decision_start(
        LicenceApproval(licence=licence),
        actor=officer,
        audit={"licence": licence.pk, "licence_state": licence.state},
    )
    tell_other_side(
        officer=officer,
        message="licence.awaits_approval",
        params={**_named(licence), "officer": officer.pk, "side": officer.side},
        url=_url(licence),
    )
    return licence


def _complete_approval(licence: Licence, approval: LicenceApproval, officer: User) -> Licence:
    """The licence's consequence of a completed approval, in the same transaction."""
    _refuse_unless_cleared(licence_screening_clearance(licence))
    today = tokyo_today()
    _refuse_ended(licence, today)
    _refuse_conflicts(licence)
    now = approval.second_at or timezone.now()
    before = _transition(licence, LicenceState.APPROVED, actor=officer, agreed=True)
    licence.approved_at = now
    licence.save(update_fields=["state", "approved_at"])
    _record_event("licence.approved", licence)
    activated = licence.start_on <= today
    if activated:
        _activate(licence, now=now, actor=officer)
    audit_record(
        actor=officer,
        action="licence.approved",
        obj=licence,
        before={"state": before},
        after={
            "state": LicenceState.APPROVED,
            "approval": approval.pk,
            "first_side": approval.first_side,
            "second_side": officer.side,
        },
    )
    if activated:
        audit_record(
            actor=officer,
            action="licence.activated",
            obj=licence,
            before={"state": LicenceState.APPROVED},
            after={"state": licence.state, "start_on": licence.start_on},
        )
    notify_people(
        users=_party_people(licence),
        message="licence.approved",
        params={**_named(licence), "start": licence.start_on, "end": licence.end_on},
        url=_url(licence),
    )
    return licence


def licence_approval_withdraw(*, approval: LicenceApproval, actor: Actor) -> LicenceApproval:
    """The officer who approved first withdraws a pending licence approval; the licence
    stays pending and a new approval can be started. Locks the licence, then the approval;
    audited ``licence_approval.withdrawn`` (``decision_withdraw``)."""
    _require_approver(actor)
    return decision_withdraw(
        decision=approval, actor=actor, lock_subject=lambda: _lock(approval.licence_id)
    )


def licence_approval_decline(
    *, approval: LicenceApproval, actor: Actor, reason: Any
) -> LicenceApproval:
    """A fund officer of the other side declines a pending licence approval with a reason;
    the licence stays pending and a new approval can be started. Locks the licence, then the
    approval; audited ``licence_approval.declined`` (``decision_decline``)."""
    _require_approver(actor)
    return decision_decline(
        decision=approval,
        actor=actor,
        reason=reason,
        lock_subject=lambda: _lock(approval.licence_id),
    )


# -- suspend, resume, terminate ------------------------------------------------------------


def _reason(reason: Any) -> str:
    problems = Problems()
    text = inputs.text(problems, "reason", reason, max_length=MAX_REASON, required=True)
    if problems:
        raise ValidationFailed(_("Give the reason."), errors=problems.as_dict())
    return text


def _change_state(
    *,
    licence: Licence,
    actor: Actor,
    reason: Any,
    target: str,
    action: str,
    only_from: tuple[str, ...] | None = None,
) -> Licence:
    text = _reason(reason)
    with transaction.atomic():
        locked = _lock(licence)
        if only_from is not None and locked.state not in only_from:
            raise PermissionDenied(_("Only fund officers may terminate this licence."))
        if target == LicenceState.ACTIVE and locked.state == LicenceState.SUSPENDED:
            _refuse_ended(locked, tokyo_today())
        before = _transition(locked, target, actor=actor)
        update = ["state"]
        if target == LicenceState.TERMINATED:
            locked.ended_at = timezone.now()
            locked.end_reason = text
            update += ["ended_at", "end_reason"]
            # The licence it would approve has ended: ended by the system, not withdrawn
            # (a move of the decisions' table, checked as such before the set update).
            DECISION_WORKFLOW.check(APPROVAL_PENDING, APPROVAL_CANCELLED, actor=None)
            cancelled = LicenceApproval.objects.filter(
                licence=locked, state=APPROVAL_PENDING
            ).update(state=APPROVAL_CANCELLED)
        else:
            cancelled = 0
        locked.save(update_fields=update)
        if target == LicenceState.TERMINATED:
            # §23: its sublicences end with it, in this transaction.
            from .sublicences import sublicences_end_with

            sublicences_end_with(licence=locked, actor=actor, reason=text)
        after: dict[str, Any] = {"state": locked.state, "reason": text}
        if cancelled:
            after["approval_cancelled"] = True
        audit_record(actor=actor, action=action, obj=locked, before={"state": before}, after=after)
        if action in _STATE_CHANGE_EVENTS:
            _record_event(action, locked)
    return locked


# The state changes partner systems are told about (§13.2); a resumption is not one.
_STATE_CHANGE_EVENTS = frozenset({"licence.suspended", "licence.terminated"})


def licence_suspend(*, licence: Licence, actor: Actor, reason: str) -> Licence:
    """active → suspended, by a fund officer with a reason. Locked, checked against
    ``LICENCE_WORKFLOW``, audited. A suspended licence still holds its terms against
    exclusive licences and denies every check (§10.4)."""
    _require(permissions.can_change_licence_state(actor))
    return _change_state(
        licence=licence,
        actor=actor,
        reason=reason,
        target=LicenceState.SUSPENDED,
        action="licence.suspended",
    )


def licence_resume(*, licence: Licence, actor: Actor, reason: str) -> Licence:
    """suspended → active, by a fund officer with a reason, while the term has not ended
    (after the end date the licence expires instead). Locked, checked, audited."""
    _require(permissions.can_change_licence_state(actor))
    return _change_state(
        licence=licence,
        actor=actor,
        reason=reason,
        target=LicenceState.ACTIVE,
        action="licence.resumed",
    )


def licence_terminate(*, licence: Licence, actor: Actor, reason: str) -> Licence:
    """Any live licence → terminated, by a fund officer with a reason; a party may also
    withdraw its own draft this way. Records ``ended_at`` and ``end_reason``, cancels a
    pending first approval, locked, checked against ``LICENCE_WORKFLOW``, audited."""
    only_from = None
    if not permissions.can_change_licence_state(actor)[0]:
        _require(permissions.can_withdraw_draft(actor, licence))
        only_from = (LicenceState.DRAFT,)
    return _change_state(
        licence=licence,
        actor=actor,
        reason=reason,
        target=LicenceState.TERMINATED,
        action="licence.terminated",
        only_from=only_from,
    )


# -- the daily jobs (§16) ------------------------------------------------------------------


def _each_locked(ids: Iterable[int], work: Any, label: str) -> list[int]:
    """Run ``work(locked_licence)`` per id in its own transaction; return the ids it acted
    on. A refusal for one licence is logged and does not stop the others."""
    done: list[int] = []
    for pk in ids:
        try:
            with transaction.atomic():
                if work(_lock(pk)):
                    done.append(pk)
        except (DomainError, Licence.DoesNotExist) as exc:
            logger.warning("licence %s not %s: %s", pk, label, exc)
    return done


def licences_activate_and_expire(*, today: date) -> dict[str, list[int]]:
    """Move licences along their terms for ``today`` (an Asia/Tokyo date), idempotently.

    - approved with ``start_on ≤ today`` → active (the upfront fee posted);
    - approved, active or suspended with ``end_on < today`` → expired (the end date is
      inclusive: a licence ending on the 31st is active all of the 31st and expired from
      the 1st); the parties' people are told (``licence_expired``);
    - an active licence whose upfront fee was not posted yet gets it posted (catch-up).

    Each licence is locked and re-checked in its own transaction, so reruns, overlapping
    runs and several workers change each licence once. Returns the ids changed.
    """
    now = timezone.now()

    def activate(locked: Licence) -> bool:
        if locked.state != LicenceState.APPROVED or locked.start_on > today:
            return False
        _activate(locked, now=now, actor=None)
        audit_record(
            actor=None,
            action="licence.activated",
            obj=locked,
            before={"state": LicenceState.APPROVED},
            after={"state": locked.state, "start_on": locked.start_on, "today": today},
        )
        return True

    def expire(locked: Licence) -> bool:
        if locked.state not in TERM_STATES or locked.end_on >= today:
            return False
        before = _transition(locked, LicenceState.EXPIRED, actor=None)
        locked.ended_at = now
        locked.end_reason = "term ended"
        locked.save(update_fields=["state", "ended_at", "end_reason"])
        _record_event("licence.expired", locked)
        audit_record(
            actor=None,
            action="licence.expired",
            obj=locked,
            before={"state": before},
            after={"state": locked.state, "end_on": locked.end_on, "today": today},
        )
        notify_people(
            users=_party_people(locked),
            message="licence.expired",
            params={**_named(locked), "end": locked.end_on},
            url=_url(locked),
        )
        return True

    def post_upfront(locked: Licence) -> bool:
        if locked.state != LicenceState.ACTIVE or locked.upfront_posted:
            return False
        _post_upfront_fee(locked, None)
        return True

    activated = _each_locked(
        Licence.objects.filter(state=LicenceState.APPROVED, start_on__lte=today)
        .order_by("pk")
        .values_list("pk", flat=True),
        activate,
        "activated",
    )
    expired = _each_locked(
        Licence.objects.filter(state__in=TERM_STATES, end_on__lt=today)
        .order_by("pk")
        .values_list("pk", flat=True),
        expire,
        "expired",
    )
    _each_locked(
        Licence.objects.filter(state=LicenceState.ACTIVE, upfront_posted=False, upfront_fee__gt=0)
        .exclude(pk__in=activated)
        .order_by("pk")
        .values_list("pk", flat=True),
        post_upfront,
        "charged its upfront fee",
    )
    return {"activated": activated, "expired": expired}


def licence_expiry_reminders(*, today: date) -> dict[str, list[int]]:
    """Tell the parties a licence is about to end: 30 and 7 days before ``end_on``, once each.

    A reminder still unsent is sent late (the job did not run that day) while the next one
    is not due: the 30-day one from 30 down to 8 days before the end, the 7-day one from 7
    days before to the end date. ``reminded_30_at`` / ``reminded_7_at`` are set under the
    row lock in the same transaction as the notification, so each goes out once whatever
    reruns. Approved, active and suspended licences are reminded.
    """
    now = timezone.now()
    sent: dict[str, list[int]] = {"30": [], "7": []}
    windows = {30: (8, 30), 7: (0, 7)}
    for days in REMINDER_DAYS:
        low, high = windows[days]
        field = f"reminded_{days}_at"
        ids = (
            Licence.objects.filter(
                state__in=TERM_STATES,
                end_on__gte=today + timedelta(days=low),
                end_on__lte=today + timedelta(days=high),
                **{f"{field}__isnull": True},
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )

        def remind(locked: Licence, days: int = days, field: str = field) -> bool:
            left = (locked.end_on - today).days
            low, high = windows[days]
            if locked.state not in TERM_STATES or getattr(locked, field) is not None:
                return False
            if not low <= left <= high:
                return False
            setattr(locked, field, now)
            locked.save(update_fields=[field])
            _record_event("licence.expiring", locked, days_left=left)
            notify_people(
                users=_party_people(locked),
                message="licence.expiring",
                params={**_named(locked), "end": locked.end_on},
                url=_url(locked),
            )
            return True

        sent[str(days)] = _each_locked(list(ids), remind, f"reminded ({days} days)")
    return sent
