"""The licence check (§10.4, §21): may organisation X use asset A for purpose P in field F
and territory T on day D?

Guarantees:

- **read-only**: nothing is written, not even an audit event (a check is a question, not
  a change);
- **deterministic**: the answer depends only on the checks and the licences stored, never
  on the clock (``on`` is part of every check) nor on row order (``rules.check_use``);
- **a constant number of queries whatever the batch size**: the actor's organisations
  (people only), then one query for the assets and organisations named and the granted
  licences of exactly the (asset, licensee) pairs asked about (:func:`_load`), then
  ``rules.check_use`` in memory. With the API key's lookup that is two queries per
  request for a partner system, for one check or a thousand — one for a single
  well-formed check, whose load the API view sends with the key's lookup in one
  statement (:func:`single_check_load`);
- **all or nothing**: one malformed or unknown item refuses the whole batch (422, errors
  keyed ``checks.<index>.<field>``); a use the actor may not ask about refuses it too (403,
  same keys). An answered batch has one result per check, in the same order;
- **at most 1,000 checks** per request (:data:`MAX_BATCH`); more is refused with 413
  ``batch_too_large`` (the request is too large to be served as one, whatever its fields).

Sublicences (§23): a sublicence's row carries its parent's terms and state (a primary-key
join in the same query), and ``rules.check_use`` allows it only where the parent allows
too, else adds the parent's reasons (``parent_expired``, ``parent_suspended``,
``parent_terminated``, ``parent_denied``). The direct path of the API
(``ip_licensing.api._answer_directly``) answers through :func:`licence_check_one` with
the same statement, so both paths answer alike.

Who may ask: fund staff about anything; anyone else (a person, or an API key with
``licences:check``) only about their own organisation's use (``licensee`` is one of their
organisations) or about the assets their organisation owns (the licensor).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from fundapp.accounts.models import Organisation
from fundapp.actors import Actor, is_fund_staff, organisation_ids
from fundapp.errors import PayloadTooLarge, PermissionDenied, ValidationFailed
from fundapp.prepared import fetch_prepared
from ip_licensing import rules
from ip_licensing.models import IPAsset, Licence, LicenceAsset, LicenceState

MAX_BATCH: Final = 1000
CHECK_FIELDS: Final = ("asset", "licensee", "field", "purpose", "territory", "on")
# The rules ignore licences that were never granted; leaving them out in SQL only saves rows.
_NOT_GRANTED: Final = [str(LicenceState.DRAFT), str(LicenceState.PENDING)]
_MAX_FIELD_LENGTH: Final = 120
_MAX_CODE_LENGTH: Final = 32
_PURPOSES: Final = frozenset(rules.PURPOSES)
# Ids beyond PostgreSQL's bigint name nothing; they are left out of the lookups (unknown).
_MAX_ID: Final = 2**63 - 1

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
    # §23: the use needs the licence's exclusivity (optional, false by default).
    exclusive: bool = False


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

    exclusive = item.get("exclusive", False)
    if exclusive is None:
        exclusive = False
    if not isinstance(exclusive, bool):
        refuse("exclusive", _("Give true or false."))

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
        exclusive=bool(exclusive),
    )


class _WellFormed:
    """The common case of a well-formed item, checked in one pass.

    Accepts a subset of what :func:`_parse_one` accepts and builds the same ``_Check``;
    anything else (strings for ids, blanks, bad values) goes to :func:`_parse_one`, which
    words the errors. Field codes and dates repeat across a batch, so each distinct one is
    validated once.
    """

    def __init__(self) -> None:
        self.fields: dict[str, bool] = {}
        self.days: dict[str, date | None] = {}

    def field_ok(self, field: str) -> bool:
        ok = self.fields.get(field)
        if ok is None:
            ok = len(field) <= _MAX_FIELD_LENGTH and bool(rules.FIELD_CODE_PATTERN.fullmatch(field))
            self.fields[field] = ok
        return ok

    def day(self, text: str) -> date | None:
        if text not in self.days:
            try:
                self.days[text] = parse_date(text)
            except ValueError:
                self.days[text] = None
        return self.days[text]

    def parse(self, item: Any) -> _Check | None:
        if type(item) is not dict:
            return None
        asset, licensee, field = item.get("asset"), item.get("licensee"), item.get("field")
        purpose, territory, on = item.get("purpose"), item.get("territory"), item.get("on")
        exclusive = item.get("exclusive", False)
        if (
            type(exclusive) is not bool
            or type(asset) is not int
            or asset <= 0
            or type(licensee) is not str
            or type(field) is not str
            or type(purpose) is not str
            or purpose not in _PURPOSES
            or type(territory) is not str
            or type(on) is not str
            or not on
        ):
            return None
        licensee = licensee.strip().upper()
        territory = territory.strip().upper()
        if (
            not licensee
            or len(licensee) > _MAX_CODE_LENGTH
            or not field
            or not self.field_ok(field)
        ):
            return None
        if len(territory) != 2 or not territory.isalpha() or not territory.isascii():
            return None
        day = self.day(on)
        if day is None:
            return None
        return _Check(asset, licensee, field, purpose, territory, day, exclusive)


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
    well_formed = _WellFormed()
    parsed = [
        well_formed.parse(item) or _parse_one(item, index, key, errors)
        for index, item in enumerate(checks)
    ]
    if errors:
        raise ValidationFailed(_("Some checks have errors; see the fields."), errors=errors)
    return [check for check in parsed if check is not None]


# --------------------------------------------------------------------------- loading


@dataclass
class _Loaded:
    asset_owner: dict[int, int]
    by_code: dict[str, int]
    known_ids: set[int]
    terms: dict[tuple[int, int], list[rules.LicenceTerms]]

    def licensee_id(self, check: _Check) -> int | None:
        if isinstance(check.licensee, int):
            return check.licensee if check.licensee in self.known_ids else None
        return self.by_code.get(check.licensee)


def _load(checks: Sequence[_Check]) -> _Loaded:
    """Everything the batch needs, in one query whatever its size: the owner of every
    asset named, the id of every organisation named (by code or id), and the granted
    licences of exactly the (asset, licensee) pairs asked about.

    Each list of values is one array parameter, so a thousand checks cost no more to send
    than one, and the text of the statement never changes: it is a prepared statement
    (``fundapp.prepared``), parsed and planned once per connection rather than on every
    check, where planning it cost several times executing it; its rows come in the binary
    format, whose dates and arrays are neither printed by PostgreSQL nor parsed by psycopg
    as text. The pairs are joined row by row (``unnest``) and each is one probe of
    ``licence_asset_lookup_idx`` and the licence's primary key, never a hash of every
    link in the table. A licence of several assets gives one ``LicenceTerms`` per asset
    (as the rules want). Licences are read before the caller's right to ask is judged,
    but nothing of them is answered unless it is.

    A single check (a partner system's common request, §19's load test) takes
    :data:`_LOAD_ONE_SQL` instead: the same rows for one asset and one organisation, with
    two plain values for parameters rather than seven arrays, which cost more to send and
    to plan around than the lookup itself.
    """
    if len(checks) == 1 and checks[0].asset_id <= _MAX_ID:
        check = checks[0]
        by_code = isinstance(check.licensee, str)
        if by_code or int(check.licensee) <= _MAX_ID:
            return _loaded(
                fetch_prepared(
                    _LOAD_ONE_BY_CODE_SQL if by_code else _LOAD_ONE_BY_ID_SQL,
                    {"asset": check.asset_id, "licensee": check.licensee},
                    binary=True,
                )
            )
    pairs = {
        (c.asset_id, c.licensee)
        for c in checks
        if c.asset_id <= _MAX_ID and (isinstance(c.licensee, str) or c.licensee <= _MAX_ID)
    }
    pair_assets = [asset_id for asset_id, _licensee in pairs]
    pair_codes = [licensee if isinstance(licensee, str) else None for _a, licensee in pairs]
    pair_ids = [licensee if isinstance(licensee, int) else None for _a, licensee in pairs]
    return _loaded(
        fetch_prepared(
            _LOAD_SQL,
            {
                "pair_assets": pair_assets,
                "pair_codes": pair_codes,
                "pair_ids": pair_ids,
                "assets": sorted(set(pair_assets)),
                "codes": sorted({code for code in pair_codes if code is not None}),
                "ids": sorted({pk for pk in pair_ids if pk is not None}),
                "not_granted": _NOT_GRANTED,
            },
            binary=True,
        )
    )


def _loaded(rows: Sequence[Sequence[Any]]) -> _Loaded:
    loaded = _Loaded(asset_owner={}, by_code={}, known_ids=set(), terms=defaultdict(list))
    terms = rules.LicenceTerms
    for kind, pk, other, code, *licence in rows:
        if kind == "asset":
            loaded.asset_owner[pk] = other
        elif kind == "organisation":
            loaded.by_code[code] = pk
            loaded.known_ids.add(pk)
        else:
            licensee_id, fields, purposes, territories, start, end, excl, state, lost_on = licence[
                :9
            ]
            parent_id, p_fields, p_purposes, p_territories, p_start, p_end, p_excl, p_state = (
                licence[9:17]
            )
            parent = None
            if parent_id is not None:
                parent = terms(
                    licence_id=parent_id,
                    asset_id=pk,
                    licensee_id=0,  # the parent's licensee is the sublicensor; not asked about
                    fields=tuple(p_fields),
                    purposes=tuple(p_purposes),
                    territories=tuple(p_territories),
                    start=p_start,
                    end=p_end,
                    exclusivity=p_excl,
                    state=p_state,
                )
            loaded.terms[(pk, licensee_id)].append(
                terms(
                    licence_id=other,
                    asset_id=pk,
                    licensee_id=licensee_id,
                    fields=tuple(fields),
                    purposes=tuple(purposes),
                    territories=tuple(territories),
                    start=start,
                    end=end,
                    exclusivity=excl,
                    state=state,
                    exclusivity_lost_on=lost_on,
                    parent=parent,
                )
            )
    return loaded


# A sublicence's row carries its parent's terms (§23: it allows only where the parent
# does too), read by a primary-key probe of the parent; a licence's parent columns are NULL.
_PARENT_COLUMNS: Final = (
    "parent.id, parent.fields_of_use, parent.purposes, parent.territories, "
    "parent.start_on, parent.end_on, parent.exclusivity, parent.state"
)
_PARENT_JOIN: Final = (
    f"LEFT JOIN {Licence._meta.db_table} AS parent ON parent.id = licence.parent_id"
)
_NO_PARENT_TYPED: Final = (
    "NULL::bigint, NULL::text[], NULL::text[], NULL::text[], NULL::date, NULL::date, "
    "NULL::text, NULL::text"
)
_NO_PARENT: Final = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"


# Rows of three kinds in one answer: ("asset", asset id, owner id), ("organisation", id,
# NULL, code) and ("licence", asset id, licence id, NULL, licensee id, terms…, the
# parent's id and terms…).
_LOAD_SQL: Final = f"""
WITH asked AS (
    SELECT DISTINCT asset_id, code, organisation_id
      FROM unnest(%(pair_assets)s::bigint[], %(pair_codes)s::text[], %(pair_ids)s::bigint[])
           AS asked(asset_id, code, organisation_id)
), named AS (
    SELECT organisation.id, organisation.code
      FROM {Organisation._meta.db_table} AS organisation
     WHERE organisation.code = ANY(%(codes)s::text[])
    UNION
    SELECT organisation.id, organisation.code
      FROM {Organisation._meta.db_table} AS organisation
     WHERE organisation.id = ANY(%(ids)s::bigint[])
), pairs AS (
    SELECT asked.asset_id, named.id AS licensee_id
      FROM asked JOIN named ON named.code = asked.code
    UNION
    SELECT asked.asset_id, named.id AS licensee_id
      FROM asked JOIN named ON named.id = asked.organisation_id
)
SELECT 'asset', asset.id, asset.owner_id, NULL, NULL::bigint, NULL::text[], NULL::text[],
       NULL::text[], NULL::date, NULL::date, NULL, NULL, NULL::date, {_NO_PARENT_TYPED}
  FROM {IPAsset._meta.db_table} AS asset
 WHERE asset.id = ANY(%(assets)s::bigint[])
 UNION ALL
SELECT 'organisation', named.id, NULL, named.code, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, {_NO_PARENT}
  FROM named
 UNION ALL
SELECT 'licence', granted.*
  FROM pairs
 CROSS JOIN LATERAL (
       SELECT link.asset_id, licence.id, NULL::text, licence.licensee_id, licence.fields_of_use,
              licence.purposes, licence.territories, licence.start_on, licence.end_on,
              licence.exclusivity, licence.state, licence.exclusivity_lost_on,
              {_PARENT_COLUMNS}
         FROM {LicenceAsset._meta.db_table} AS link
         JOIN {Licence._meta.db_table} AS licence ON licence.id = link.licence_id
         {_PARENT_JOIN}
        WHERE link.asset_id = pairs.asset_id
          AND licence.licensee_id = pairs.licensee_id
          AND licence.state <> ALL(%(not_granted)s::text[])
       -- OFFSET 0 keeps the subquery per pair (an index probe each), never a hash of
       -- every link in the table.
       OFFSET 0
       ) AS granted
"""  # noqa: S608 - table names from the models; every value is a parameter


def _load_one_sql(organisation_column: str) -> str:
    """The rows of :data:`_LOAD_SQL` for one asset and one organisation named by
    ``organisation_column`` (``code`` or ``id``): two scalar parameters, the states never
    granted written into the statement (they are constants of the code)."""
    not_granted = ", ".join(f"'{state}'" for state in _NOT_GRANTED)
    return f"""
WITH named AS (
    SELECT organisation.id, organisation.code
      FROM {Organisation._meta.db_table} AS organisation
     WHERE organisation.{organisation_column} = %(licensee)s
)
SELECT 'asset', asset.id, asset.owner_id, NULL, NULL::bigint, NULL::text[], NULL::text[],
       NULL::text[], NULL::date, NULL::date, NULL, NULL, NULL::date, {_NO_PARENT_TYPED}
  FROM {IPAsset._meta.db_table} AS asset
 WHERE asset.id = %(asset)s
 UNION ALL
SELECT 'organisation', named.id, NULL, named.code, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, {_NO_PARENT}
  FROM named
 UNION ALL
SELECT 'licence', link.asset_id, licence.id, NULL::text, licence.licensee_id,
       licence.fields_of_use, licence.purposes, licence.territories, licence.start_on,
       licence.end_on, licence.exclusivity, licence.state, licence.exclusivity_lost_on,
       {_PARENT_COLUMNS}
  FROM named
  JOIN {Licence._meta.db_table} AS licence ON licence.licensee_id = named.id
  JOIN {LicenceAsset._meta.db_table} AS link ON link.licence_id = licence.id
  {_PARENT_JOIN}
 WHERE link.asset_id = %(asset)s
   AND licence.state NOT IN ({not_granted})
"""  # noqa: S608 - table and column names from the models, states from the code


_LOAD_ONE_BY_CODE_SQL: Final = _load_one_sql("code")
_LOAD_ONE_BY_ID_SQL: Final = _load_one_sql("id")


@dataclass(frozen=True)
class SingleCheckLoad:
    """A body that is one well-formed check, and the statement (text and parameters) that
    loads what answering it needs: for a caller that sends it along with another read in
    one round trip (the API key's lookup, ``fundapp.api.authentication.find_key_with``).
    ``item`` is the object the check was parsed from: given that very object again,
    :func:`licence_check_one` takes the check as parsed here instead of parsing it twice."""

    check: _Check
    sql: str
    params: dict[str, Any]
    item: Any = dataclasses.field(default=None, compare=False, repr=False)


def single_check_load(item: Any) -> SingleCheckLoad | None:
    """The load of ``item`` if it is one well-formed check naming its licensee by code
    (a partner system's common request); None for anything else, which is parsed, worded
    and loaded the usual way. Nothing is checked here that :func:`licence_check_one` does
    not check again: the rows answer only the same check, for an actor allowed to ask."""
    check = _WellFormed().parse(item)
    if check is None or check.asset_id > _MAX_ID:
        return None
    return SingleCheckLoad(
        check,
        _LOAD_ONE_BY_CODE_SQL,
        {"asset": check.asset_id, "licensee": check.licensee},
        item=item,
    )


Preloaded = tuple[SingleCheckLoad, Sequence[Sequence[Any]]]


# --------------------------------------------------------------------------- the check


def _run(
    *, actor: Actor, checks: Any, key: ErrorKey, preloaded: Preloaded | None = None
) -> list[dict[str, object]]:
    if (
        preloaded is not None
        and type(checks) is list
        and len(checks) == 1
        and checks[0] is preloaded[0].item
    ):
        parsed = [preloaded[0].check]
    else:
        parsed = _parse(checks, key)
    if preloaded is not None and parsed == [preloaded[0].check]:
        loaded = _loaded(preloaded[1])
    else:
        loaded = _load(parsed)
    asset_owner = loaded.asset_owner

    errors: dict[str, list[str]] = {}
    licensee_ids: list[int] = []
    for index, check in enumerate(parsed):
        if check.asset_id not in asset_owner:
            errors.setdefault(key(index, "asset"), []).append(_("Unknown asset."))
        licensee_id = loaded.licensee_id(check)
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

    terms = loaded.terms
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
            exclusive=check.exclusive,
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


def licence_check_one(
    *, actor: Actor, check: dict[str, Any], preloaded: Preloaded | None = None
) -> dict[str, object]:
    """One check, as :func:`licence_check`, with its field errors keyed by field name.

    ``preloaded``: the rows of :func:`single_check_load`'s statement, read by the caller
    in this request; used if they load this very check, else it is loaded anew.
    """
    return _run(actor=actor, checks=[check], key=_single_key, preloaded=preloaded)[0]
