"""The host organisation's endorsement of a visit application (§25, as §5's lead
organisations endorse proposals), and what the call's deadline decides."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.errors import Conflict, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require
from fundapp.kernel.problems import Problems
from mobility import permissions
from mobility.models import ApplicationState, VisitApplication
from mobility.services.applications import lock, move
from projects.models import Call


def _before_deadline(application: VisitApplication, now: datetime, message: str) -> None:
    if now >= application.call.closes_at:
        raise ValidationFailed(message, errors={"call": [message]})


def application_endorse(
    *, application: VisitApplication, actor: Actor, comment: str = "", now: datetime | None = None
) -> VisitApplication:
    """The host organisation's research office (or its partner system) endorses a
    submitted application before the call's deadline.

    Guarantees: the row is locked; a repeated endorsement answers as the first did and
    writes nothing; an application in any other state answers 409; audited
    ``visit_application.endorsed``.
    """
    now = now or timezone.now()
    problems = Problems()
    comment = inputs.text(problems, "comment", comment, max_length=2000)
    if problems:
        raise ValidationFailed(
            _("The endorsement has errors; see the fields."), errors=problems.as_dict()
        )
    with transaction.atomic():
        locked = lock(application)
        require(permissions.can_endorse_application(actor, locked))
        if locked.state != ApplicationState.SUBMITTED:
            if locked.endorsed_at is not None and locked.state in (
                ApplicationState.ENDORSED,
                ApplicationState.UNDER_REVIEW,
            ):
                return locked
            raise Conflict(
                _("Only a submitted application awaiting endorsement can be endorsed."),
                code="invalid_state",
            )
        _before_deadline(
            locked, now, _("The call has closed; endorsements are no longer accepted.")
        )
        before = move(locked, ApplicationState.ENDORSED, actor=actor)
        locked.endorsed_at = now
        locked.endorsed_by_user = actor if isinstance(actor, User) else None
        locked.endorsed_by_api_key = actor if isinstance(actor, ApiKey) else None
        locked.endorsement_comment = comment
        locked.updated_at = now
        locked.save(
            update_fields=[
                "state",
                "endorsed_at",
                "endorsed_by_user",
                "endorsed_by_api_key",
                "endorsement_comment",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action="visit_application.endorsed",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "organisation": locked.host_organisation_id,
                "comment": comment,
            },
        )
    return locked


def application_return(
    *, application: VisitApplication, actor: Actor, reason: str, now: datetime | None = None
) -> VisitApplication:
    """The host organisation's research office declines to endorse for now and returns the
    application to the visitor as a draft, with a reason, before the deadline. Locked; the
    version goes up (the visitor's open wizard must reload); audited
    ``visit_application.returned``."""
    now = now or timezone.now()
    problems = Problems()
    reason = inputs.text(problems, "reason", reason, max_length=2000, required=True)
    with transaction.atomic():
        locked = lock(application)
        require(permissions.can_endorse_application(actor, locked))
        if locked.state != ApplicationState.SUBMITTED:
            raise Conflict(
                _("Only a submitted application awaiting endorsement can be returned."),
                code="invalid_state",
            )
        if problems:
            raise ValidationFailed(
                _("Say why the application goes back to the visitor."),
                errors=problems.as_dict(),
            )
        _before_deadline(
            locked, now, _("The call has closed; the application can no longer be returned.")
        )
        before = move(locked, ApplicationState.DRAFT, actor=actor)
        locked.submitted_at = None
        locked.version += 1
        locked.updated_at = now
        locked.save(update_fields=["state", "submitted_at", "version", "updated_at"])
        audit_record(
            actor=actor,
            action="visit_application.returned",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "organisation": locked.host_organisation_id,
                "reason": reason,
                "version": locked.version,
            },
        )
    return locked


def applications_close_for_call(*, call: Call) -> int:
    """At the deadline, a submitted application the host has not endorsed is ineligible
    (§25, as §5). Runs in the transaction that closes the call (registered with the
    kernel's call-close hooks): the rows are locked in ``pk`` order, moved by the system
    along the table and saved in one statement, and audited
    ``visit_application.ineligible`` in one more — a fixed number of queries whatever the
    number of applications. Returns how many."""
    rows = list(
        VisitApplication.objects.select_for_update(of=("self",))
        .filter(call=call, state=ApplicationState.SUBMITTED)
        .select_related("host_organisation")
        .order_by("pk")
    )
    now = timezone.now()
    entries = []
    for locked in rows:
        reason = str(
            _("Not endorsed by the research office of %(org)s before the deadline.")
            % {"org": locked.host_organisation.name}
        )
        before = move(locked, ApplicationState.INELIGIBLE, actor=None)
        locked.eligibility_reasons = [reason]
        locked.updated_at = now
        entries.append(
            AuditEntry(
                actor=None,
                action="visit_application.ineligible",
                obj=locked,
                before={"state": before},
                after={"state": locked.state, "reasons": [reason]},
            )
        )
    VisitApplication.objects.bulk_update(rows, ["state", "eligibility_reasons", "updated_at"])
    audit_record_many(entries)
    return len(rows)
