"""The licence check (§10.4, §21): may organisation X use asset A for purpose P in field F
and territory T on day D?

Guarantees:

- **read-only**: nothing is written, not even an audit event (a check is a question, not
  a change);
- **deterministic**: the answer depends only on the checks and the licences stored, never
  on the clock (``on`` is part of every check) nor on row order (``rules.check_use``);
- **a constant number of queries whatever the batch size**: the actor's organisations
  (people only), the assets named, the organisations named, and every licence of those
  assets held by those organisations — one query each — then ``rules.check_use`` in memory;
- **all or nothing**: one malformed or unknown item refuses the whole batch (422, errors
  keyed ``checks.<index>.<field>``); a use the actor may not ask about refuses it too (403,
  same keys). An answered batch has one result per check, in the same order;
- **at most 1,000 checks** per request (:data:`MAX_BATCH`); more is refused with 413
  ``batch_too_large`` (the request is too large to be served as one, whatever its fields).

Who may ask: fund staff about anything; anyone else (a person, or an API key with
``licences:check``) only about their own organisation's use (``licensee`` is one of their
organisations) or about the assets their organisation owns (the licensor).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from django.db.models import Q
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from fundapp.accounts.models import Organisation
from fundapp.actors import Actor, is_fund_staff, organisation_ids
from fundapp.errors import PayloadTooLarge, PermissionDenied, ValidationFailed
from ip_licensing import rules
from ip_licensing.models import IPAsset, LicenceAsset, LicenceState

MAX_BATCH: Final = 1000
CHECK_FIELDS: Final = ("asset", "licensee", "field", "purpose", "territory", "on")
# The rules ignore licences that were never granted; leaving them out in SQL only saves rows.
_NOT_GRANTED: Final = (LicenceState.DRAFT, LicenceState.PENDING)
_MAX_FIELD_LENGTH: Final = 120
_MAX_CODE_LENGTH: Final = 32

ErrorKey = Callable[[int, str], str]


@dataclass(frozen=True)
class _Check:
    """One check, well-formed; the licensee as given (a code, or an integer id)."""

    asset_id: int
    licensee: str | int
    field: str
    purpose: str
    territory: str
    on: date


def _batch_key(index: int, name: str) -> str:
    return f"checks.{index}.{name}"


def _single_key(index: int, name: str) -> str:
    return name


# --------------------------------------------------------------------------- parsing


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number < 2**63 else None
    return None


def _parse_one(item: Any, index: int, key: ErrorKey, errors: dict[str, list[str]]) -> _Check | None:
    def refuse(name: str, message: str) -> None:
        errors.setdefault(key(index, name), []).append(message)

    if not isinstance(item, dict):
        errors.setdefault(key(index, "non_field_errors"), []).append(
            _("Each check is an object with asset, licensee, field, purpose, territory and on.")
        )
        return None
    before = len(errors)
    for name in CHECK_FIELDS:
        if item.get(name) in (None, ""):
            refuse(name, _("This field is required."))

    asset_id = _positive_int(item.get("asset"))
    if item.get("asset") not in (None, "") and asset_id is None:
        refuse("asset", _("Give the asset's id (a positive integer)."))

    raw_licensee = item.get("licensee")
    licensee: str | int | None = None
    if isinstance(raw_licensee, str) and raw_licensee.strip():
        licensee = raw_licensee.strip().upper()
        if len(licensee) > _MAX_CODE_LENGTH:
            refuse("licensee", _("Give the licensee organisation's code (e.g. JP-OSK-01)."))
    elif isinstance(raw_licensee, int) and not isinstance(raw_licensee, bool):
        licensee = raw_licensee if raw_licensee > 0 else None
        if licensee is None:
            refuse("licensee", _("Give the licensee organisation's code (e.g. JP-OSK-01)."))
    elif raw_licensee not in (None, ""):
        refuse("licensee", _("Give the licensee organisation's code (e.g. JP-OSK-01)."))

    field = item.get("field")
    if field not in (None, "") and (
        not isinstance(field, str)
        or len(field) > _MAX_FIELD_LENGTH
        or not rules.FIELD_CODE_PATTERN.fullmatch(field)
    ):
        refuse("field", _("Give a research-area code such as semiconductor.ai.edge."))

    purpose = item.get("purpose")
    if purpose not in (None, "") and purpose not in rules.PURPOSES:
        refuse(
            "purpose",
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(rules.PURPOSES)},
        )

    territory = item.get("territory")
    if isinstance(territory, str):
        territory = territory.strip().upper()
    if territory not in (None, "") and (
        not isinstance(territory, str)
        or len(territory) != 2
        or not territory.isalpha()
        or not territory.isascii()
    ):
        refuse("territory", _("Give an ISO 3166-1 alpha-2 country code, or WW."))

    on = item.get("on")
    day: date | None = None
    if isinstance(on, date):
        day = on
    elif isinstance(on, str) and on:
        try:
            day = parse_date(on)
        except ValueError:
            day = None
        if day is None:
            refuse("on", _("Give a date as YYYY-MM-DD."))
    elif on not in (None, ""):
        refuse("on", _("Give a date as YYYY-MM-DD."))

    if len(errors) != before:
        return None
    assert asset_id is not None and licensee is not None and day is not None
    return _Check(
        asset_id=asset_id,
        licensee=licensee,
        field=str(field),
        purpose=str(purpose),
        territory=str(territory),
        on=day,
    )


def _parse(checks: Any, key: ErrorKey) -> list[_Check]:
    if not isinstance(checks, list | tuple):
        message = _("Give a list of checks.")
        raise ValidationFailed(message, errors={"checks": [message]})
    if not checks:
        message = _("Give at least one check.")
        raise ValidationFailed(message, errors={"checks": [message]})
    if len(checks) > MAX_BATCH:
        message = _("At most %(max)d checks fit in one request; this one has %(count)d.") % {
            "max": MAX_BATCH,
            "count": len(checks),
        }
        raise PayloadTooLarge(message, code="batch_too_large", errors={"checks": [message]})
    errors: dict[str, list[str]] = {}
    parsed = [_parse_one(item, index, key, errors) for index, item in enumerate(checks)]
    if errors:
        raise ValidationFailed(_("Some checks have errors; see the fields."), errors=errors)
    return [check for check in parsed if check is not None]


# --------------------------------------------------------------------------- loading


def _organisations(checks: Sequence[_Check]) -> tuple[dict[str, int], set[int]]:
    codes = {c.licensee for c in checks if isinstance(c.licensee, str)}
    ids = {c.licensee for c in checks if isinstance(c.licensee, int)}
    by_code: dict[str, int] = {}
    known_ids: set[int] = set()
    for pk, code in Organisation.objects.filter(Q(code__in=codes) | Q(pk__in=ids)).values_list(
        "pk", "code"
    ):
        by_code[code] = pk
        known_ids.add(pk)
    return by_code, known_ids


def _licensee_id(check: _Check, by_code: dict[str, int], known_ids: set[int]) -> int | None:
    if isinstance(check.licensee, int):
        return check.licensee if check.licensee in known_ids else None
    return by_code.get(check.licensee)


def _licence_terms(
    asset_ids: set[int], licensee_ids: set[int]
) -> dict[tuple[int, int], list[rules.LicenceTerms]]:
    """Every granted licence of these assets held by these organisations: one query.

    A licence of several assets gives one ``LicenceTerms`` per asset (as the rules want).
    """
    rows = (
        LicenceAsset.objects.filter(asset_id__in=asset_ids, licence__licensee_id__in=licensee_ids)
        .exclude(licence__state__in=_NOT_GRANTED)
        .values_list(
            "asset_id",
            "licence_id",
            "licence__licensee_id",
            "licence__fields_of_use",
            "licence__purposes",
            "licence__territories",
            "licence__start_on",
            "licence__end_on",
            "licence__exclusivity",
            "licence__state",
        )
    )
    grouped: dict[tuple[int, int], list[rules.LicenceTerms]] = defaultdict(list)
    for (
        asset_id,
        licence_id,
        licensee_id,
        fields,
        purposes,
        territories,
        start,
        end,
        excl,
        state,
    ) in rows:
        grouped[(asset_id, licensee_id)].append(
            rules.LicenceTerms(
                licence_id=licence_id,
                asset_id=asset_id,
                licensee_id=licensee_id,
                fields=tuple(fields),
                purposes=tuple(purposes),
                territories=tuple(territories),
                start=start,
                end=end,
                exclusivity=excl,
                state=state,
            )
        )
    return grouped


# --------------------------------------------------------------------------- the check


def _run(*, actor: Actor, checks: Any, key: ErrorKey) -> list[dict[str, object]]:
    parsed = _parse(checks, key)
    asset_owner = dict(
        IPAsset.objects.filter(pk__in={c.asset_id for c in parsed}).values_list("pk", "owner_id")
    )
    by_code, known_ids = _organisations(parsed)

    errors: dict[str, list[str]] = {}
    licensee_ids: list[int] = []
    for index, check in enumerate(parsed):
        if check.asset_id not in asset_owner:
            errors.setdefault(key(index, "asset"), []).append(_("Unknown asset."))
        licensee_id = _licensee_id(check, by_code, known_ids)
        if licensee_id is None:
            errors.setdefault(key(index, "licensee"), []).append(_("Unknown organisation."))
        licensee_ids.append(licensee_id or 0)
    if errors:
        raise ValidationFailed(_("Some checks have errors; see the fields."), errors=errors)

    if not is_fund_staff(actor):
        own = set(organisation_ids(actor))
        refused = {
            key(index, "licensee"): [
                _(
                    "You may check only your own organisation's use, or the use of assets "
                    "your organisation owns."
                )
            ]
            for index, (check, licensee_id) in enumerate(zip(parsed, licensee_ids, strict=True))
            if licensee_id not in own and asset_owner[check.asset_id] not in own
        }
        if refused:
            raise PermissionDenied(
                _("You may check only your own organisation's use of an asset."),
                code="check_not_own_use",
                errors=refused,
            )

    terms = _licence_terms({c.asset_id for c in parsed}, set(licensee_ids))
    results: list[dict[str, object]] = []
    for check, licensee_id in zip(parsed, licensee_ids, strict=True):
        result = rules.check_use(
            licences=terms.get((check.asset_id, licensee_id), ()),
            licensee_id=licensee_id,
            asset_id=check.asset_id,
            purpose=check.purpose,
            field=check.field,
            territory=check.territory,
            on=check.on,
        )
        results.append(result.as_contract())
    return results


def licence_check(*, actor: Actor, checks: list[dict[str, Any]]) -> list[dict[str, object]]:
    """Answer a batch of at most 1,000 checks, in order, each as §21's
    ``{decision, licence, reasons}``.

    Read-only, deterministic, a constant number of queries whatever the batch size (see
    the module docstring). Refuses the whole batch: 413 over :data:`MAX_BATCH`; 422 for a
    malformed item, an unknown asset or organisation (errors keyed
    ``checks.<index>.<field>``); 403 when the actor may not ask about one of the uses.
    """
    return _run(actor=actor, checks=checks, key=_batch_key)


def licence_check_one(*, actor: Actor, check: dict[str, Any]) -> dict[str, object]:
    """One check, as :func:`licence_check`, with its field errors keyed by field name."""
    return _run(actor=actor, checks=[check], key=_single_key)[0]
