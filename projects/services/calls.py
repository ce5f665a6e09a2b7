"""Creating, editing and moving calls for proposals through their states (§4).

Every function here takes the acting person (``actor``); ``None`` means the system (the
beat task). Only fund officers and the system change calls. Each change runs in one
transaction with its audit event (§12), so a refused request leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.actors import Actor, is_fund_officer
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import registry
from fundapp.kernel.problems import check_decimal, with_places
from fundapp.money import MAX_AMOUNT
from fundapp.workflow import transition
from projects.models import Call, CallState, Fund, ResearchArea, ReviewCriterion
from projects.models.calls import CALL_WORKFLOW

logger = logging.getLogger(__name__)

MIN_STAGES, MAX_STAGES = 2, 5
MAX_PROJECT_MONTHS = 120
MAX_EXTENSIONS = 5
MAX_EXTENSION_MONTHS = 24
MAX_CRITERION_WEIGHT = Decimal("999.999")
# The highest stage score there is: achievements are clamped to 1.5 (§8).
MAX_SCORE = Decimal("1.5")

TITLE_FIELDS = ("title_en", "title_ja", "title_ko")
DESCRIPTION_FIELDS = ("description_en", "description_ja", "description_ko")
TEXT_FIELDS = TITLE_FIELDS + DESCRIPTION_FIELDS
GATE_POLICY_DECIMALS = (
    "pass_threshold",
    "conditional_threshold",
    "conditional_floor",
    "bonus_rate",
    "max_multiplier",
    "conditional_rate",
)
GATE_POLICY_FIELDS = (
    *GATE_POLICY_DECIMALS,
    "max_extensions",
    "max_extension_months",
    "auto_release_on_pass",
)

# What may still change once a call has left draft. Applicants have read the published
# rules, reviewers score by its criteria and gates are judged by its policy, so those stay
# as published; wording can always be corrected, and an open call's deadline moved.
EDITABLE_AFTER_DRAFT: dict[str, frozenset[str]] = {
    CallState.OPEN: frozenset({*TEXT_FIELDS, "closes_at", "criteria_names"}),
    CallState.CLOSED: frozenset({*TEXT_FIELDS, "criteria_names"}),
    CallState.ARCHIVED: frozenset(),
}


@dataclass(frozen=True, kw_only=True)
class CriterionData:
    """One review criterion; ``id`` names an existing one of the call when editing."""

    name_en: str
    name_ja: str = ""
    name_ko: str = ""
    weight: Decimal
    id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CallData:
    """Everything an officer states about a call. Defaults are the §4 gate policy."""

    title_en: str
    title_ja: str = ""
    title_ko: str = ""
    description_en: str = ""
    description_ja: str = ""
    description_ko: str = ""
    research_areas: Sequence[ResearchArea]
    opens_at: datetime
    closes_at: datetime
    max_budget_jpy: int
    max_budget_krw: int
    min_stages: int = 2
    max_stages: int = 5
    max_project_months: int = 60
    criteria: Sequence[CriterionData] = ()
    pass_threshold: Decimal = Decimal("1.0")
    conditional_threshold: Decimal = Decimal("0.8")
    conditional_floor: Decimal = Decimal("0.8")
    bonus_rate: Decimal = Decimal("0.5")
    max_multiplier: Decimal = Decimal("1.2")
    conditional_rate: Decimal = Decimal("0.8")
    max_extensions: int = 1
    max_extension_months: int = 6
    auto_release_on_pass: bool = True

    @classmethod
    def from_call(cls, call: Call) -> CallData:
        """The call as it stands, ready for ``dataclasses.replace`` with a partial change."""
        values = {name: getattr(call, name) for name in SCALAR_FIELDS}
        return cls(
            **values,
            research_areas=list(call.research_areas.all()),
            criteria=[
                CriterionData(
                    id=c.id,
                    name_en=c.name_en,
                    name_ja=c.name_ja,
                    name_ko=c.name_ko,
                    weight=c.weight,
                )
                for c in call.criteria.all()
            ],
        )


# The CallData fields that are columns of Call (the rest are relations).
SCALAR_FIELDS = tuple(
    f.name for f in dataclasses.fields(CallData) if f.name not in ("research_areas", "criteria")
)


@dataclass(frozen=True)
class OpenCloseSummary:
    opened: tuple[int, ...] = ()
    closed: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, list[int]]:
        return {
            "opened": list(self.opened),
            "closed": list(self.closed),
            "failed": list(self.failed),
        }


# --- validation (pure: plain values in, field errors out) ---------------------------------


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_call_data(data: CallData) -> dict[str, list[str]]:
    """Every rule of §4 that a call's own values must keep, as {field: [messages]}."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for name in TEXT_FIELDS:
        value = getattr(data, name)
        if not isinstance(value, str):
            add(name, _("Enter text."))
        elif "\x00" in value:
            add(name, _("Text may not contain NUL characters."))
        elif name in TITLE_FIELDS and len(value) > 300:
            add(name, _("Use at most %(n)d characters.") % {"n": 300})
    if isinstance(data.title_en, str) and not data.title_en.strip():
        add("title_en", _("Enter the title in English."))

    times_ok = True
    for name in ("opens_at", "closes_at"):
        value = getattr(data, name)
        if not isinstance(value, datetime) or timezone.is_naive(value):
            add(name, _("Enter a date and time with its time zone."))
            times_ok = False
    if times_ok and data.closes_at <= data.opens_at:
        add("closes_at", _("The call must close after it opens."))

    for name in ("max_budget_jpy", "max_budget_krw"):
        value = getattr(data, name)
        if not _is_whole(value):
            add(name, _("Enter a whole amount (no fractions)."))
        elif value < 0:
            add(name, _("An amount cannot be negative."))
        elif value > MAX_AMOUNT:
            add(name, _("An amount may be at most 10¹⁵."))

    stages_ok = True
    for name in ("min_stages", "max_stages"):
        value = getattr(data, name)
        if not _is_whole(value) or not MIN_STAGES <= value <= MAX_STAGES:
            add(
                name,
                _("Use a number of stages from %(lo)d to %(hi)d.")
                % {"lo": MIN_STAGES, "hi": MAX_STAGES},
            )
            stages_ok = False
    if stages_ok and data.min_stages > data.max_stages:
        add("max_stages", _("The maximum number of stages cannot be below the minimum."))

    months = data.max_project_months
    if not _is_whole(months) or not 1 <= months <= MAX_PROJECT_MONTHS:
        add(
            "max_project_months",
            _("Use a number of months from 1 to %(n)d.") % {"n": MAX_PROJECT_MONTHS},
        )
    elif stages_ok and months < data.min_stages:
        add(
            "max_project_months",
            _("A project needs at least one month per stage (%(n)d months).")
            % {"n": data.min_stages},
        )

    if not data.research_areas:
        add("research_areas", _("Choose at least one research area."))

    if not data.criteria:
        add("criteria", _("Add at least one review criterion."))
    seen_ids: set[int] = set()
    for i, criterion in enumerate(data.criteria):
        if not isinstance(criterion.name_en, str) or not criterion.name_en.strip():
            add(f"criteria.{i}.name_en", _("Enter the criterion's name in English."))
        for lang in ("en", "ja", "ko"):
            name = getattr(criterion, f"name_{lang}")
            if isinstance(name, str) and (len(name) > 200 or "\x00" in name):
                add(f"criteria.{i}.name_{lang}", _("Use at most %(n)d characters.") % {"n": 200})
        problem = check_decimal(criterion.weight, places=3, max_digits=6)
        if problem:
            add(f"criteria.{i}.weight", problem)
        elif criterion.weight <= 0:
            add(f"criteria.{i}.weight", _("A weight must be greater than zero."))
        if criterion.id is not None:
            if criterion.id in seen_ids:
                add(f"criteria.{i}.id", _("This criterion is listed twice."))
            seen_ids.add(criterion.id)

    policy_ok = True
    for name in GATE_POLICY_DECIMALS:
        problem = check_decimal(getattr(data, name), places=4, max_digits=6)
        if problem:
            add(name, problem)
            policy_ok = False
    if policy_ok:
        if not Decimal(0) < data.pass_threshold <= MAX_SCORE:
            add("pass_threshold", _("Use a threshold above 0 and at most 1.5."))
        if not Decimal(0) <= data.conditional_threshold <= data.pass_threshold:
            add(
                "conditional_threshold",
                _("Use a threshold from 0 up to the pass threshold."),
            )
        if not Decimal(0) <= data.conditional_floor <= Decimal(1):
            add("conditional_floor", _("Use a value from 0 to 1."))
        if data.bonus_rate < 0:
            add("bonus_rate", _("A rate cannot be negative."))
        if data.max_multiplier < 1:
            add("max_multiplier", _("The maximum multiplier must be at least 1."))
        if not Decimal(0) < data.conditional_rate <= Decimal(1):
            add("conditional_rate", _("Use a rate above 0 and at most 1."))
    if not _is_whole(data.max_extensions) or not 0 <= data.max_extensions <= MAX_EXTENSIONS:
        add("max_extensions", _("Use a number from 0 to %(n)d.") % {"n": MAX_EXTENSIONS})
    ext_months = data.max_extension_months
    if not _is_whole(ext_months) or not 0 <= ext_months <= MAX_EXTENSION_MONTHS:
        add(
            "max_extension_months",
            _("Use a number of months from 0 to %(n)d.") % {"n": MAX_EXTENSION_MONTHS},
        )
    elif ext_months == 0 and _is_whole(data.max_extensions) and data.max_extensions > 0:
        add("max_extension_months", _("Allow at least one month per extension, or no extensions."))
    if not isinstance(data.auto_release_on_pass, bool):
        add("auto_release_on_pass", _("Enter true or false."))
    return errors


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


def _normalised_text(data: CallData) -> CallData:
    """Text as sent, in NFC, without surrounding blanks (§17)."""
    return dataclasses.replace(
        data,
        **{name: _nfc(getattr(data, name)) for name in TEXT_FIELDS},
        criteria=[
            dataclasses.replace(
                c, name_en=_nfc(c.name_en), name_ja=_nfc(c.name_ja), name_ko=_nfc(c.name_ko)
            )
            for c in data.criteria
        ],
    )


def _quantised(data: CallData) -> CallData:
    """Decimals at the precision they are stored with, so before/after compare exactly:
    written with the column's places, never rounded (``validate_call_data`` has refused
    more), whatever the thread's decimal context."""
    policy: dict[str, Any] = {
        name: with_places(getattr(data, name), 4) for name in GATE_POLICY_DECIMALS
    }
    return dataclasses.replace(
        data,
        **policy,
        criteria=[dataclasses.replace(c, weight=with_places(c.weight, 3)) for c in data.criteria],
    )


def _checked(data: CallData) -> CallData:
    data = _normalised_text(data)
    errors = validate_call_data(data)
    if errors:
        raise ValidationFailed(_("The call has invalid fields."), errors=errors)
    return _quantised(data)


# --- snapshots for the audit trail --------------------------------------------------------


def _criteria_rows(criteria: Sequence[CriterionData]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "name_en": c.name_en,
            "name_ja": c.name_ja,
            "name_ko": c.name_ko,
            "weight": c.weight,
        }
        for c in criteria
    ]


def _snapshot(data: CallData) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(data, name) for name in SCALAR_FIELDS}
    values["research_areas"] = sorted(area.code for area in data.research_areas)
    values["criteria"] = _criteria_rows(data.criteria)
    return values


# --- create and edit ----------------------------------------------------------------------


def _require_officer(actor: Actor | None) -> None:
    if not is_fund_officer(actor):
        raise PermissionDenied(_("Only fund officers may manage calls."))


def _save_criteria(call: Call, criteria: Sequence[CriterionData]) -> None:
    """Make the call's criteria exactly ``criteria``, in that order (ids keep their rows)."""
    existing = {c.id: c for c in ReviewCriterion.objects.filter(call=call)}
    kept: set[int] = set()
    for order, item in enumerate(criteria):
        values = {
            "name_en": item.name_en,
            "name_ja": item.name_ja,
            "name_ko": item.name_ko,
            "weight": item.weight,
            "order": order,
        }
        row = existing.get(item.id) if item.id is not None else None
        if row is None:
            kept.add(ReviewCriterion.objects.create(call=call, **values).id)
            continue
        kept.add(row.id)
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if changed:
            for name in changed:
                setattr(row, name, values[name])
            row.save(update_fields=changed)
    ReviewCriterion.objects.filter(call=call).exclude(id__in=kept).delete()


def call_create(*, actor: Actor | None, fund: Fund, data: CallData) -> Call:
    """Create a draft call with its areas and criteria, audited as ``call.created``.

    Fund officers only. Nothing is saved when a rule is broken (ValidationFailed, 422).
    """
    _require_officer(actor)
    data = _checked(data)
    if any(c.id is not None for c in data.criteria):
        raise ValidationFailed(
            _("The call has invalid fields."),
            errors={"criteria": [_("A new call cannot name existing criteria.")]},
        )
    with transaction.atomic():
        call = Call(
            fund=fund,
            state=CallState.DRAFT,
            **{name: getattr(data, name) for name in SCALAR_FIELDS},
        )
        call.save()
        call.research_areas.set(data.research_areas)
        _save_criteria(call, data.criteria)
        after = _snapshot(CallData.from_call(call))
        audit_record(
            actor=actor, action="call.created", obj=call, after={"state": call.state, **after}
        )
    return call


def call_update(*, actor: Actor | None, call: Call, data: CallData) -> Call:
    """Replace what an officer states about a call, audited as ``call.updated`` (changes only).

    Locks the call row. A draft can change in every respect; once published only wording
    and (while open) a future deadline can, see ``EDITABLE_AFTER_DRAFT``. Saving without a
    change writes nothing. Fund officers only; nothing is saved on refusal.
    """
    _require_officer(actor)
    data = _checked(data)
    with transaction.atomic():
        locked = Call.objects.select_for_update(of=("self",)).get(pk=call.pk)
        current = CallData.from_call(locked)
        before, after = _snapshot(current), _snapshot(data)
        changed = [name for name in after if after[name] != before[name]]
        errors: dict[str, list[str]] = {}

        known_ids = {c.id for c in current.criteria}
        for i, criterion in enumerate(data.criteria):
            if criterion.id is not None and criterion.id not in known_ids:
                errors.setdefault(f"criteria.{i}.id", []).append(
                    _("This criterion is not part of the call.")
                )

        if locked.state != CallState.DRAFT:
            allowed = EDITABLE_AFTER_DRAFT[locked.state]
            locked_message = _(
                "This can no longer be changed: the call has been published (state: %(state)s)."
            ) % {"state": CallState(locked.state).label}
            for name in changed:
                if name == "criteria":
                    # Names may be corrected; which criteria there are and their weights stay.
                    same_shape = [(c["id"], c["weight"]) for c in before["criteria"]] == [
                        (c["id"], c["weight"]) for c in after["criteria"]
                    ]
                    if same_shape and "criteria_names" in allowed:
                        continue
                    errors.setdefault("criteria", []).append(locked_message)
                elif name not in allowed:
                    errors.setdefault(name, []).append(locked_message)
            if (
                "closes_at" in changed
                and "closes_at" in allowed
                and data.closes_at <= timezone.now()
            ):
                errors.setdefault("closes_at", []).append(
                    _("The deadline of an open call can only be moved to a time still ahead.")
                )
        if errors:
            raise ValidationFailed(_("The call has invalid fields."), errors=errors)
        if not changed:
            return locked

        scalars = [name for name in changed if name in SCALAR_FIELDS]
        for name in scalars:
            setattr(locked, name, getattr(data, name))
        if scalars:
            locked.save(update_fields=scalars)
        if "research_areas" in changed:
            locked.research_areas.set(data.research_areas)
        if "criteria" in changed:
            _save_criteria(locked, data.criteria)
            # New rows got ids: record them as saved.
            after["criteria"] = _criteria_rows(CallData.from_call(locked).criteria)
        audit_record(
            actor=actor,
            action="call.updated",
            obj=locked,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
        )
    return locked


# --- state transitions --------------------------------------------------------------------


def _transition(
    *,
    actor: Actor | None,
    call: Call,
    target: CallState,
    action: str,
    guard: Callable[[Call], None] | None = None,
) -> Call:
    """The kernel's ``transition`` along ``CALL_WORKFLOW`` (lock, table, actor, guard, save,
    audit); closing settles the call's proposals in the same transaction."""
    if actor is not None:
        _require_officer(actor)
    with transaction.atomic():
        locked = transition(
            call, target, actor=actor, workflow=CALL_WORKFLOW, action=action, guard=guard
        )
        if target == CallState.CLOSED:
            _after_close(locked)
    return locked


def _after_close(call: Call) -> None:
    """Let the proposals side settle what a deadline decides (unendorsed → ineligible, §5).

    Runs in the closing transaction, so the call never stands closed with that work undone.
    Imported late: the proposals services import this module's neighbours.
    """
    try:
        proposal_services = importlib.import_module("projects.services.proposals")
    except ModuleNotFoundError as exc:  # pragma: no cover - until the proposals services exist
        if exc.name != "projects.services.proposals":
            raise
        return
    hook = getattr(proposal_services, "proposals_close_for_call", None)
    if hook is not None:
        hook(call=call)
    # What other domains settle at the deadline (the talent exchange's applications, §25).
    registry.call_close_hooks_run(call)


def _opening_window(now: datetime) -> Callable[[Call], None]:
    def guard(call: Call) -> None:
        if now < call.opens_at:
            raise Conflict(
                _("This call opens at %(when)s; move its opening time to open it now.")
                % {"when": timezone.localtime(call.opens_at).strftime("%Y-%m-%d %H:%M %Z")},
                code="call_not_due",
            )
        if now >= call.closes_at:
            raise Conflict(
                _("This call's deadline has passed; move its closing time to open it."),
                code="call_deadline_passed",
            )

    return guard


def _deadline_passed(now: datetime) -> Callable[[Call], None]:
    def guard(call: Call) -> None:
        if now < call.closes_at:
            raise Conflict(_("This call's deadline has not passed yet."), code="call_not_due")

    return guard


def call_open(*, actor: Actor | None, call: Call, now: datetime | None = None) -> Call:
    """draft → open, audited as ``call.opened``. Only inside opens_at ≤ now < closes_at."""
    return _transition(
        actor=actor,
        call=call,
        target=CallState.OPEN,
        action="call.opened",
        guard=_opening_window(now or timezone.now()),
    )


def call_close(*, actor: Actor | None, call: Call) -> Call:
    """open → closed, audited as ``call.closed``; an officer may close before the deadline.

    In the same transaction the proposals of the call are settled (``_after_close``).
    """
    return _transition(actor=actor, call=call, target=CallState.CLOSED, action="call.closed")


def call_archive(*, actor: Actor | None, call: Call) -> Call:
    """closed → archived, audited as ``call.archived``."""
    return _transition(actor=actor, call=call, target=CallState.ARCHIVED, action="call.archived")


def calls_open_and_close(*, now: datetime) -> OpenCloseSummary:
    """Move calls by the clock, as the system: open drafts with opens_at ≤ now < closes_at,
    close open calls with closes_at ≤ now.

    Idempotent and safe with several workers at once: each call is re-read under its row
    lock and its condition checked again, so a call is moved exactly once; one failing call
    (logged, reported in ``failed``) does not hold up the others and is retried next run.
    """
    due_open = Call.objects.filter(
        state=CallState.DRAFT, opens_at__lte=now, closes_at__gt=now
    ).order_by("pk")
    due_close = Call.objects.filter(state=CallState.OPEN, closes_at__lte=now).order_by("pk")
    opened: list[int] = []
    closed: list[int] = []
    failed: list[int] = []
    for call in due_open.only("pk"):
        try:
            _transition(
                actor=None,
                call=call,
                target=CallState.OPEN,
                action="call.opened",
                guard=_opening_window(now),
            )
        except Conflict:
            continue  # moved or rescheduled meanwhile: nothing to do
        except Exception:
            logger.exception("Opening call %s failed", call.pk)
            failed.append(call.pk)
        else:
            opened.append(call.pk)
    for call in due_close.only("pk"):
        try:
            _transition(
                actor=None,
                call=call,
                target=CallState.CLOSED,
                action="call.closed",
                guard=_deadline_passed(now),
            )
        except Conflict:
            continue
        except Exception:
            logger.exception("Closing call %s failed", call.pk)
            failed.append(call.pk)
        else:
            closed.append(call.pk)
    return OpenCloseSummary(opened=tuple(opened), closed=tuple(closed), failed=tuple(failed))
