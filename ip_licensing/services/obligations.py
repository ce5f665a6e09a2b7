"""Licence obligations (diligence, §23): adding them, the licensee's evidence, the
licensor's acceptance, the daily job, and the officers' two-person waivers and answers to
a breach.

States (``OBLIGATION_WORKFLOW``): ``open`` → ``met`` when the licensor's people (or a fund
officer) accept the licensee's evidence; ``open`` → ``overdue`` the day after the due date
(the daily job, Asia/Tokyo days) with a cure notice; ``overdue`` → ``cured`` when evidence
is accepted during the cure period (``Fund.cure_days``, default 60, both ends included);
``overdue`` → ``breached`` the day after it ends; ``open``/``overdue`` → ``waived`` by two
fund officers, one of each side, with a reason.

A breached obligation of an exclusive licence lets two fund officers (one of each side)
**convert** the licence to non-exclusive (``Licence.exclusivity_lost_on`` records the day;
the licence check then answers ``diligence_breach`` to uses that need the exclusivity),
**suspend** it or **terminate** it (the licence services' own moves, run as the second
officer's consequence).

Lock order: licence → obligation → its decision → the audit chain (written last).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Membership, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.errors import Conflict, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.approvals import (
    LIVE_STATES,
    DecisionState,
    decision_approve,
    decision_decline,
    decision_withdraw,
    decisions_cancel,
)
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.decisions import require
from fundapp.kernel.models import Fund
from fundapp.kernel.notices import (
    PeopleNotice,
    notify_people,
    notify_people_many,
    officers,
    page_url,
    tell_other_side,
)
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import Event, event_record, event_record_many
from fundapp.workflow import transition
from ip_licensing import permissions, rules
from ip_licensing.events import obligation_data
from ip_licensing.models import (
    BreachDecision,
    BreachRemedy,
    Exclusivity,
    Licence,
    LicenceState,
    Obligation,
    ObligationKind,
    ObligationState,
    ObligationWaiver,
)
from ip_licensing.models.obligations import DEFAULT_CURE_DAYS, OBLIGATION_WORKFLOW, PENDING_STATES
from ip_licensing.services import licences as licence_services

__all__ = [
    "breach_decide",
    "breach_decision_decline",
    "breach_decision_withdraw",
    "obligation_accept",
    "obligation_create",
    "obligation_submit_evidence",
    "obligation_waive",
    "obligation_waiver_decline",
    "obligation_waiver_withdraw",
    "obligations_mark_due",
]

MAX_DESCRIPTION = 4000
MAX_NOTE = 8000
MAX_REASON = 5000
LANGUAGES = ("en", "ja", "ko")
# States of a licence whose obligations still run (an ended licence asks nothing more).
RUNNING_LICENCE_STATES = (
    LicenceState.DRAFT,
    LicenceState.PENDING,
    LicenceState.APPROVED,
    LicenceState.ACTIVE,
    LicenceState.SUSPENDED,
)
# What a remedy needs of the licence.
REMEDY_LICENCE_STATES = {
    BreachRemedy.CONVERT: (LicenceState.APPROVED, LicenceState.ACTIVE, LicenceState.SUSPENDED),
    BreachRemedy.SUSPEND: (LicenceState.ACTIVE,),
    BreachRemedy.TERMINATE: (LicenceState.APPROVED, LicenceState.ACTIVE, LicenceState.SUSPENDED),
}


def licence_url(licence_id: int) -> str:
    return page_url("ip:licence", licence_id)


def _named(obligation: Obligation, licence: Licence) -> dict[str, Any]:
    """How a notification names the obligation: the licence (by id) and its kind."""
    return {
        "reference": licence.pk,
        "licensor": licence.licensor_id,
        "licensee": licence.licensee_id,
        "kind": obligation.kind,
        "due": obligation.due_on,
    }


def _parties(licence: Licence) -> list[int]:
    return [licence.licensor_id, licence.licensee_id]


def _record_event(kind: str, obligation: Obligation, licence: Licence) -> None:
    event_record(
        kind=kind,
        obj=obligation,
        organisation_ids=_parties(licence),
        payload=obligation_data(obligation),
    )


def _people_of(organisation_ids: Sequence[int]) -> dict[int, list[User]]:
    """Each organisation's research office (active people): who is told for it. One query."""
    people: dict[int, list[User]] = defaultdict(list)
    rows = (
        Membership.objects.filter(
            organisation_id__in=list(organisation_ids), research_office=True, user__is_active=True
        )
        .select_related("user")
        .order_by("user_id")
    )
    for membership in rows:
        people[membership.organisation_id].append(membership.user)
    return people


def _lock_licence(pk: int) -> Licence:
    return (
        Licence.objects.select_for_update(of=("self",), no_key=True)
        .select_related("licensor", "licensee")
        .get(pk=pk)
    )


def _lock_obligation(pk: int) -> Obligation:
    return Obligation.objects.select_for_update(of=("self",)).get(pk=pk)


def _actor_fields(actor: Actor, prefix: str) -> dict[str, Any]:
    if isinstance(actor, ApiKey):
        return {f"{prefix}_by": None, f"{prefix}_by_api_key": actor}
    return {f"{prefix}_by": actor, f"{prefix}_by_api_key": None}


def _date(problems: Problems, path: str, value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if value in (None, ""):
        problems.add(path, _("This field is required."))
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(path, _("Enter a date (YYYY-MM-DD)."))
    return None


def _fail(problems: Problems) -> None:
    if problems:
        raise ValidationFailed(
            _("The obligation has errors; see the fields."), errors=problems.as_dict()
        )


def _reason(reason: Any) -> str:
    problems = Problems()
    text = inputs.text(problems, "reason", reason, max_length=MAX_REASON, required=True)
    if problems:
        raise ValidationFailed(_("Give the reason."), errors=problems.as_dict())
    return text


# -- adding obligations ----------------------------------------------------------------------


def obligation_create(*, licence: Licence, actor: Actor, data: Mapping[str, Any]) -> Obligation:
    """Add an obligation to a licence that has not ended: the licensor's members (or its
    key with ``licences:check``) or a fund officer.

    Guarantees: kind, a description in at least one language (each at most 4,000
    characters) and a due date inside the licence's term are checked, every problem per
    field (422) and nothing saved; the licence row is locked, so a licence ending at the
    same moment takes no obligation; audited ``obligation.created``.
    """
    problems = Problems()
    kind = inputs.choice(problems, "kind", data.get("kind"), ObligationKind)
    descriptions = {
        lang: inputs.text(
            problems,
            f"description_{lang}",
            data.get(f"description_{lang}"),
            max_length=MAX_DESCRIPTION,
        )
        for lang in LANGUAGES
    }
    if not any(descriptions.values()) and not any(
        f"description_{lang}" in problems.as_dict() for lang in LANGUAGES
    ):
        problems.add("description_en", _("Describe the obligation in at least one language."))
    due_on = _date(problems, "due_on", data.get("due_on"))
    with transaction.atomic():
        locked = _lock_licence(licence.pk)
        require(permissions.can_add_obligation(actor, locked))
        if due_on is not None and not locked.start_on <= due_on <= locked.end_on:
            problems.add(
                "due_on",
                _("Choose a day within the licence's term (%(start)s to %(end)s).")
                % {"start": locked.start_on.isoformat(), "end": locked.end_on.isoformat()},
            )
        _fail(problems)
        assert due_on is not None
        obligation = Obligation.objects.create(
            licence=locked,
            kind=kind,
            due_on=due_on,
            created_by=actor if isinstance(actor, User) else None,
            **{f"description_{lang}": text for lang, text in descriptions.items()},
        )
        audit_record(
            actor=actor,
            action="obligation.created",
            obj=obligation,
            after={
                "licence": locked.pk,
                "kind": kind,
                "due_on": due_on,
                "state": obligation.state,
            },
        )
    return obligation


# -- evidence and acceptance -----------------------------------------------------------------


def obligation_submit_evidence(*, obligation: Obligation, actor: Actor, note: Any) -> Obligation:
    """The licensee's members (or its key with ``licences:check``) submit evidence for an
    open or overdue obligation: a note (required, at most 8,000 characters) that replaces
    any earlier one. Locked, audited ``obligation.evidence_submitted``; the licensor's
    research office is told. 409 once the obligation is settled."""
    problems = Problems()
    text = inputs.text(problems, "note", note, max_length=MAX_NOTE, required=True)
    if problems:
        raise ValidationFailed(_("Describe the evidence."), errors=problems.as_dict())
    with transaction.atomic():
        locked = _lock_obligation(obligation.pk)
        licence = Licence.objects.select_related("licensor", "licensee").get(pk=locked.licence_id)
        require(permissions.can_submit_obligation_evidence(actor, licence))
        if locked.state not in PENDING_STATES:
            raise Conflict(
                _(
                    "Evidence is taken only while the obligation is open or overdue; it is “%(state)s”."
                )
                % {"state": ObligationState(locked.state).label},
                code="invalid_state",
            )
        now = timezone.now()
        locked.evidence_note = text
        locked.evidence_submitted_at = now
        for name, value in _actor_fields(actor, "evidence_submitted").items():
            setattr(locked, name, value)
        locked.save(
            update_fields=[
                "evidence_note",
                "evidence_submitted_at",
                "evidence_submitted_by",
                "evidence_submitted_by_api_key",
            ]
        )
        audit_record(
            actor=actor,
            action="obligation.evidence_submitted",
            obj=locked,
            after={"licence": licence.pk, "state": locked.state, "note": text},
        )
        notify_people(
            users=_people_of([licence.licensor_id]).get(licence.licensor_id, []),
            message="obligation.evidence_submitted",
            params=_named(locked, licence),
            url=licence_url(licence.pk),
        )
    return locked


def obligation_accept(*, obligation: Obligation, actor: Actor) -> Obligation:
    """The licensor's members (or its key with ``licences:check``) or a fund officer accept
    the licensee's evidence: an open obligation is ``met``, an overdue one (in its cure
    period) ``cured``.

    Guarantees: the row is locked and moved along ``OBLIGATION_WORKFLOW`` (the database's
    FSM trigger holds the same table); evidence must have been submitted (409 otherwise);
    a breached, waived or settled obligation answers 409. Audited ``obligation.met`` or
    ``obligation.cured``; the same outbox event for both parties; the licensee's research
    office is told. Once the cure period has ended the evidence comes too late (409
    ``cure_period_over``), even when the daily job has not yet run to breach the
    obligation (or to make it overdue): the days decide, not the job. A waiver awaiting
    its second approval has lost its ground: it is cancelled in the same transaction
    (``obligation_waiver.cancelled``, and ``obligation.waiver_cancelled`` in the
    obligation's history).
    """
    with transaction.atomic():
        current = _lock_obligation(obligation.pk)
        licence = Licence.objects.select_related("licensor", "licensee").get(pk=current.licence_id)
        require(permissions.can_accept_obligation_evidence(actor, licence))
        if current.state not in PENDING_STATES:
            raise Conflict(
                _("Only an open or overdue obligation can be accepted; this one is “%(state)s”.")
                % {"state": ObligationState(current.state).label},
                code="invalid_state",
            )
        if current.evidence_submitted_at is None:
            raise Conflict(
                _("The licensee has not submitted evidence for this obligation yet."),
                code="no_evidence",
            )
        _refuse_after_cure_period(current)
        target = (
            ObligationState.MET if current.state == ObligationState.OPEN else ObligationState.CURED
        )
        action = f"obligation.{target}"
        accepted = transition(
            current,
            target,
            actor=actor,
            action=action,
            changes={"accepted_at": timezone.now(), **_actor_fields(actor, "accepted")},
        )
        _waivers_cancel([accepted], actor=actor)
        _record_event(action, accepted, licence)
        notify_people(
            users=_people_of([licence.licensee_id]).get(licence.licensee_id, []),
            message=action,
            params=_named(accepted, licence),
            url=licence_url(licence.pk),
        )
    return accepted


def _refuse_after_cure_period(obligation: Obligation) -> None:
    """409 when the obligation's cure period is over by the days (Asia/Tokyo): it is due
    to be breached whether or not the daily job has run since (a job that missed days
    must not let late evidence cure it, or leave a breach unrecorded)."""
    today = today_in_tokyo()
    if obligation.due_on >= today:
        return
    cure_ends_on = obligation.cure_ends_on
    if obligation.state == ObligationState.OPEN:
        # Never made overdue (the job has not run since the due date): its cure period
        # counts from the due date all the same.
        cure_days = (
            Obligation.objects.filter(pk=obligation.pk)
            .annotate(fund_cure_days=_cure_days())
            .values_list("fund_cure_days", flat=True)
            .get()
        )
        cure_ends_on = rules.obligation_due(
            state=obligation.state,
            due_on=obligation.due_on,
            cure_ends_on=None,
            cure_days=cure_days,
            today=today,
        ).cure_ends_on
    if cure_ends_on is not None and cure_ends_on < today:
        raise Conflict(
            _(
                "The cure period ended on %(day)s: evidence can no longer settle this "
                "obligation, which is breached."
            )
            % {"day": cure_ends_on.isoformat()},
            code="cure_period_over",
        )


# -- the daily job (§16) ---------------------------------------------------------------------


def _cure_days() -> Any:
    """The cure period of each obligation's fund: that of the project of one of its
    licence's assets, else the installation's fund, else the default."""
    of_project = (
        Fund.objects.filter(
            calls__projects__results__licence_links__licence_id=OuterRef("licence_id")
        )
        .order_by("pk")
        .values("cure_days")[:1]
    )
    first = Fund.objects.order_by("pk").values("cure_days")[:1]
    return Coalesce(
        Subquery(of_project, output_field=IntegerField()),
        Subquery(first, output_field=IntegerField()),
        Value(DEFAULT_CURE_DAYS),
    )


def _due(today: date) -> QuerySet[Obligation]:
    return Obligation.objects.filter(
        Q(state=ObligationState.OPEN, due_on__lt=today)
        | Q(state=ObligationState.OVERDUE, cure_ends_on__lt=today)
    )


def _move_due(today: date, state: str) -> list[Obligation]:
    """One pass of the daily job over the obligations in ``state`` that are due to move
    on ``today``: locked in pk order, moved in memory by the pure rule, written in bulk,
    audited, evented and notified in one statement each. Returns the moved rows."""
    rows: list[Any] = list(
        _due(today)
        .filter(state=state)
        .select_for_update(of=("self",))
        .annotate(fund_cure_days=_cure_days())
        .order_by("pk")
    )
    moved: list[Obligation] = []
    for row in rows:
        step = rules.obligation_due(
            state=row.state,
            due_on=row.due_on,
            cure_ends_on=row.cure_ends_on,
            cure_days=row.fund_cure_days,
            today=today,
        )
        if step.target is None:
            continue
        OBLIGATION_WORKFLOW.move(row, step.target, actor=None)
        if step.target == ObligationState.OVERDUE:
            row.overdue_on, row.cure_ends_on = step.overdue_on, step.cure_ends_on
        else:
            row.breached_on = step.breached_on
        moved.append(row)
    if not moved:
        return []
    fields = (
        ["state", "overdue_on", "cure_ends_on"]
        if state == ObligationState.OPEN
        else ["state", "breached_on"]
    )
    Obligation.objects.bulk_update(moved, fields)
    if state == ObligationState.OVERDUE:
        _waivers_cancel(moved, actor=None)
    licences = Licence.objects.in_bulk({row.licence_id for row in moved})
    action = "obligation.overdue" if state == ObligationState.OPEN else "obligation.breached"
    audit_record_many(
        [
            AuditEntry(
                actor=None,
                action=action,
                obj=row,
                before={"state": state},
                after={
                    "state": row.state,
                    "licence": row.licence_id,
                    "due_on": row.due_on,
                    "cure_ends_on": row.cure_ends_on,
                    "breached_on": row.breached_on,
                    "today": today,
                },
            )
            for row in moved
        ]
    )
    event_record_many(
        [
            Event(
                kind=action,
                obj=row,
                organisation_ids=_parties(licences[row.licence_id]),
                payload=obligation_data(row),
            )
            for row in moved
        ]
    )
    people = _people_of(sorted({org for lic in licences.values() for org in _parties(lic)}))
    staff = officers(roles=[Role.FUND_OFFICER]) if state == ObligationState.OVERDUE else []
    notices = []
    for row in moved:
        licence = licences[row.licence_id]
        users = [*people.get(licence.licensee_id, []), *people.get(licence.licensor_id, [])]
        params = {**_named(row, licence), "cure_ends": row.cure_ends_on}
        notices.append(
            PeopleNotice(
                users=[*users, *staff],
                message=action,
                params=params,
                url=licence_url(licence.pk),
            )
        )
    notify_people_many(notices)
    return moved


def obligations_mark_due(*, today: date) -> dict[str, list[int]]:
    """Move obligations along their due dates for ``today`` (an Asia/Tokyo date),
    idempotently.

    - open with ``due_on < today`` → overdue (from the day after the due date), its cure
      period ending ``cure_days − 1`` days later; a cure notice (notification and the
      ``obligation.overdue`` event) goes to both parties;
    - overdue with ``cure_ends_on < today`` → breached; ``obligation.breached`` to both
      parties, and fund officers are told (they decide the remedy); the pending waivers of
      the breached obligations are cancelled in bulk (``obligation_waiver.cancelled`` and
      ``obligation.waiver_cancelled``).

    Set-based: each pass locks its rows in pk order (a second run waits, then finds them
    moved: nothing is moved or sent twice), moves them in memory by
    :func:`ip_licensing.rules.obligation_due` and writes the rows, the audit events, the
    outbox events and the notifications in a fixed number of statements whatever their
    number. The days recorded come from the due date, never the day the job ran. An
    obligation left open past its whole cure period (the job did not run) becomes overdue
    and breached in the same run. Returns the ids moved.
    """
    with transaction.atomic():
        overdue = _move_due(today, ObligationState.OPEN)
        breached = _move_due(today, ObligationState.OVERDUE)
    return {"overdue": [o.pk for o in overdue], "breached": [o.pk for o in breached]}


# -- waivers (two-person rule) ---------------------------------------------------------------


def _require_officer(actor: Actor) -> User:
    require(permissions.can_decide_obligation(actor))
    assert isinstance(actor, User)
    return actor


def _waivers_cancel(settled: Sequence[Obligation], *, actor: Actor | None) -> None:
    """Cancel the pending waivers of obligations that have just been settled (met, cured
    or breached): a waiver of a settled obligation has lost its ground, and no second
    approval may complete it later. The caller holds the obligations' locks; the waivers
    are locked after them (``decisions_cancel``). Each cancellation also writes a sentence
    in its obligation's history (``obligation.waiver_cancelled``). Set-based: a fixed
    number of statements whatever the number of obligations."""
    by_id = {obligation.pk: obligation for obligation in settled}
    cancelled = decisions_cancel(
        ObligationWaiver.objects.filter(obligation_id__in=list(by_id)),
        actor=actor,
        reason="obligation settled",
    )
    audit_record_many(
        [
            AuditEntry(
                actor=actor,
                action="obligation.waiver_cancelled",
                obj=by_id[waiver.obligation_id],
                after={
                    "state": by_id[waiver.obligation_id].state,
                    "waiver": waiver.pk,
                    "licence": by_id[waiver.obligation_id].licence_id,
                },
            )
            for waiver in cancelled
        ]
    )


def _live_waiver(obligation: Obligation) -> ObligationWaiver | None:
    return (
        ObligationWaiver.objects.select_for_update(of=("self",))
        .filter(obligation=obligation, state__in=LIVE_STATES)
        .select_related("first_officer")
        .first()
    )


def obligation_waive(*, obligation: Obligation, actor: Actor, reason: Any) -> Obligation:
    """Two fund officers, one of each side, waive an open or overdue obligation with a
    reason (the first approval's; 422 without).

    Guarantees: the licence, then the obligation, then its live waiver are locked; the
    first approval is recorded (the other side's officers are told), the second — another
    person of the other side, ``decision_complete``'s rules — waives it in the same
    transaction; 409 once the obligation is settled. Audited ``obligation_waiver.*`` and
    ``obligation.waived``.
    """
    officer = _require_officer(actor)
    text = _reason(reason)
    with transaction.atomic():
        licence = _lock_licence(obligation.licence_id)
        locked = _lock_obligation(obligation.pk)
        if locked.state not in PENDING_STATES:
            _refuse_settled_waiver(locked)

        def complete(waiver: ObligationWaiver) -> None:
            transition(
                locked,
                ObligationState.WAIVED,
                actor=officer,
                action="obligation.waived",
                agreed=True,
                changes={"waived_at": waiver.second_at, "waiver_reason": waiver.reason},
            )

        waiver = decision_approve(
            live=_live_waiver(locked),
            new=lambda: ObligationWaiver(obligation=locked, reason=text),
            actor=officer,
            on_complete=complete,
            audit_first={"obligation": locked.pk, "licence": licence.pk, "reason": text},
            audit_complete={"obligation": locked.pk, "licence": licence.pk},
        )
        if waiver.state == DecisionState.PENDING:
            _tell_other_side(officer, "obligation.waiver_awaits", locked, licence, text)
    locked.refresh_from_db()
    return locked


def _refuse_settled_waiver(obligation: Obligation) -> None:
    """409 for a waiver approval of an obligation no longer open or overdue, saying so
    plainly when a waiver awaiting this approval was cancelled by the settlement."""
    state = ObligationState(obligation.state).label
    if ObligationWaiver.objects.filter(
        obligation=obligation, state=DecisionState.CANCELLED
    ).exists():
        raise Conflict(
            _(
                "The waiver awaiting a second approval was cancelled when the obligation "
                "became “%(state)s”; a settled obligation cannot be waived."
            )
            % {"state": state},
            code="waiver_cancelled",
        )
    raise Conflict(
        _("Only an open or overdue obligation can be waived; this one is “%(state)s”.")
        % {"state": state},
        code="invalid_state",
    )


def _tell_other_side(
    officer: User, message: str, obligation: Obligation, licence: Licence, reason: str
) -> None:
    tell_other_side(
        officer=officer,
        message=message,
        params={**_named(obligation, licence), "reason": reason},
        url=licence_url(licence.pk),
    )


def obligation_waiver_withdraw(*, waiver: ObligationWaiver, actor: Actor) -> ObligationWaiver:
    """The officer who approved first takes a pending waiver back (``decision_withdraw``);
    locks the licence and the obligation first."""
    _require_officer(actor)
    return decision_withdraw(
        decision=waiver, actor=actor, lock_subject=lambda: _lock_subject(waiver.obligation_id)
    )


def obligation_waiver_decline(
    *, waiver: ObligationWaiver, actor: Actor, reason: Any
) -> ObligationWaiver:
    """An officer of the other side declines a pending waiver with a reason
    (``decision_decline``); locks the licence and the obligation first."""
    _require_officer(actor)
    return decision_decline(
        decision=waiver,
        actor=actor,
        reason=reason,
        lock_subject=lambda: _lock_subject(waiver.obligation_id),
    )


def _lock_subject(obligation_id: int) -> Obligation:
    licence_id = Obligation.objects.values_list("licence_id", flat=True).get(pk=obligation_id)
    _lock_licence(licence_id)
    return _lock_obligation(obligation_id)


# -- answering a breach (two-person rule) ----------------------------------------------------


def _remedy(value: Any) -> str:
    problems = Problems()
    remedy = inputs.choice(problems, "remedy", value, BreachRemedy)
    if problems:
        raise ValidationFailed(_("Choose the remedy."), errors=problems.as_dict())
    return remedy


def _refuse_remedy(licence: Licence, obligation: Obligation, remedy: str) -> None:
    if obligation.licence_id != licence.pk or obligation.state != ObligationState.BREACHED:
        raise Conflict(
            _("Only a breached obligation of this licence can be answered."),
            code="not_breached",
        )
    was_exclusive = (
        licence.exclusivity == Exclusivity.EXCLUSIVE or licence.exclusivity_lost_on is not None
    )
    if not was_exclusive:
        raise Conflict(
            _("Only the breach of an exclusive licence is answered this way."),
            code="not_exclusive",
        )
    if remedy == BreachRemedy.CONVERT and licence.exclusivity_lost_on is not None:
        raise Conflict(_("This licence is already non-exclusive."), code="invalid_state")
    if licence.state not in REMEDY_LICENCE_STATES[BreachRemedy(remedy)]:
        raise Conflict(
            _("A licence that is “%(state)s” cannot be answered with “%(remedy)s”.")
            % {
                "state": LicenceState(licence.state).label,
                "remedy": BreachRemedy(remedy).label,
            },
            code="invalid_state",
        )


def _apply_remedy(licence: Licence, decision: BreachDecision, officer: User) -> None:
    """The consequence of a completed breach decision, in its transaction."""
    _refuse_remedy(licence, decision.obligation, decision.remedy)
    reason = _("Diligence breach: %(reason)s") % {"reason": decision.reason}
    if decision.remedy == BreachRemedy.CONVERT:
        lost_on = today_in_tokyo()
        licence.exclusivity = Exclusivity.NON_EXCLUSIVE
        licence.exclusivity_lost_on = lost_on
        licence.save(update_fields=["exclusivity", "exclusivity_lost_on"])
        audit_record(
            actor=officer,
            action="licence.converted_non_exclusive",
            obj=licence,
            before={"exclusivity": Exclusivity.EXCLUSIVE},
            after={
                "exclusivity": Exclusivity.NON_EXCLUSIVE,
                "exclusivity_lost_on": lost_on,
                "obligation": decision.obligation_id,
                "decision": decision.pk,
                "reason": decision.reason,
            },
        )
        licence_services._record_event(
            "licence.converted_non_exclusive",
            licence,
            exclusivity_lost_on=lost_on.isoformat(),
        )
    elif decision.remedy == BreachRemedy.SUSPEND:
        licence_services.licence_suspend(licence=licence, actor=officer, reason=reason)
    else:
        licence_services.licence_terminate(licence=licence, actor=officer, reason=reason)


def breach_decide(
    *, licence: Licence, obligation: Obligation, actor: Actor, remedy: Any, reason: Any
) -> BreachDecision:
    """Two fund officers, one of each side, answer a breached obligation of an exclusive
    licence: ``convert`` it to non-exclusive (from today, Asia/Tokyo), ``suspend`` or
    ``terminate`` it, with a reason.

    Guarantees: the licence, the obligation and the licence's pending decision are
    locked in that order; the first approval is recorded (the other side is told); the
    second must be another officer of the other side approving the same remedy for the
    same obligation (409 otherwise), and applies it in the same transaction — a
    refusal there (the licence moved meanwhile) rolls the completion back. Audited
    ``breach_decision.*`` and the licence's own ``licence.converted_non_exclusive`` /
    ``licence.suspended`` / ``licence.terminated`` with their events.
    """
    officer = _require_officer(actor)
    chosen = _remedy(remedy)
    text = _reason(reason)
    with transaction.atomic():
        locked = _lock_licence(licence.pk)
        subject = _lock_obligation(obligation.pk)
        _refuse_remedy(locked, subject, chosen)
        live = (
            BreachDecision.objects.select_for_update(of=("self",))
            .filter(licence=locked, state=DecisionState.PENDING)
            .select_related("first_officer", "obligation")
            .first()
        )

        def matches(pending: BreachDecision) -> None:
            if pending.remedy != chosen or pending.obligation_id != subject.pk:
                raise Conflict(
                    _(
                        "Another answer is awaiting approval: “%(remedy)s”. Approve that one, "
                        "or decline it first."
                    )
                    % {"remedy": BreachRemedy(pending.remedy).label},
                    code="different_remedy",
                )

        decision = decision_approve(
            live=live,
            new=lambda: BreachDecision(
                licence=locked, obligation=subject, remedy=chosen, reason=text
            ),
            actor=officer,
            matches=matches,
            on_complete=lambda done: _apply_remedy(locked, done, officer),
            audit_first={"licence": locked.pk, "obligation": subject.pk, "remedy": chosen},
            audit_complete={"licence": locked.pk, "obligation": subject.pk, "remedy": chosen},
        )
        if decision.state == DecisionState.PENDING:
            _tell_other_side(officer, "obligation.remedy_awaits", subject, locked, text)
    return decision


def breach_decision_withdraw(*, decision: BreachDecision, actor: Actor) -> BreachDecision:
    """The officer who approved first takes a pending breach decision back."""
    _require_officer(actor)
    return decision_withdraw(
        decision=decision, actor=actor, lock_subject=lambda: _lock_licence(decision.licence_id)
    )


def breach_decision_decline(
    *, decision: BreachDecision, actor: Actor, reason: Any
) -> BreachDecision:
    """An officer of the other side declines a pending breach decision with a reason."""
    _require_officer(actor)
    return decision_decline(
        decision=decision,
        actor=actor,
        reason=reason,
        lock_subject=lambda: _lock_licence(decision.licence_id),
    )
