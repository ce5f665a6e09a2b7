"""Duplicate-funding checks and their resolution (§5, §22).

The check runs at submission (inside the submission's transaction) and again whenever a
fund officer approves an award (in a transaction of its own, so that a flag it raises stays
even when the completion is then refused). An open flag, or one resolved as "refuse",
keeps the award from completing (``award_refusal``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Role, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record_many
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.notices import page_url
from fundapp.kernel.problems import Problems
from fundapp.notifications.services import notify
from fundapp.workflow import transition
from projects.models import (
    DuplicateCheckPoint,
    DuplicateFlagState,
    DuplicateFundingFlag,
    DuplicateResolution,
    Proposal,
)
from projects.permissions import can_resolve_duplicate_flag
from projects.selectors.duplicates import duplicate_candidates
from projects.services.outbox import proposal_event

MAX_NOTE_LENGTH = 4000


def _flags_url() -> str:
    return page_url("duplicates:list")


def duplicate_check(
    *, proposal: Proposal, actor: Actor | None, during: str
) -> list[DuplicateFundingFlag]:
    """Raise a flag for every duplicate-funding candidate of ``proposal`` not flagged yet
    (``projects.selectors.duplicates``) and return the new ones.

    Guarantees: runs in the caller's transaction (one is opened if none); the caller holds
    the proposal's row lock, so two checks of one proposal run one after the other, and the
    unique (proposal, matched proposal) pair keeps one flag per pair — a resolved flag is
    never raised again. Each new flag is audited ``duplicate_flag.raised``; the fund
    officers of both sides are told once per check that raised any. One query when
    nothing is found. Two proposals of one person submitted at the same moment cannot see
    each other's uncommitted submission; the check before the award finds them.
    """
    candidates = duplicate_candidates(proposal.pk)
    if not candidates:
        return []
    with transaction.atomic():
        flagged = set(
            DuplicateFundingFlag.objects.filter(
                proposal=proposal, matched_proposal_id__in=[c.proposal_id for c in candidates]
            ).values_list("matched_proposal_id", flat=True)
        )
        now = timezone.now()
        new = DuplicateFundingFlag.objects.bulk_create(
            [
                DuplicateFundingFlag(
                    proposal=proposal,
                    matched_proposal_id=c.proposal_id,
                    matched_project_id=c.project_id,
                    identifiers=c.identifiers,
                    similarity={name: str(score) for name, score in c.similarity.items()},
                    best_similarity=c.best_similarity,
                    raised_at=now,
                    raised_during=during,
                )
                for c in candidates
                if c.proposal_id not in flagged
            ]
        )
        if not new:
            return []
        audit_record_many(
            [
                AuditEntry(
                    actor=actor,
                    action="duplicate_flag.raised",
                    obj=flag,
                    after={
                        "proposal": flag.proposal_id,
                        "matched_proposal": flag.matched_proposal_id,
                        "matched_project": flag.matched_project_id,
                        "identifiers": sorted({i["kind"] for i in flag.identifiers}),
                        "similarity": flag.similarity,
                        "best_similarity": str(flag.best_similarity),
                        "during": during,
                    },
                )
                for flag in new
            ]
        )
        proposal_event(
            "proposal.duplicate_flagged",
            proposal,
            flags=sorted(flag.pk for flag in new),
            during=during,
        )
        notify(
            users=User.objects.filter(role=Role.FUND_OFFICER, is_active=True),
            message="proposal.duplicate_flagged",
            params={"title": proposal.pk},
            url=_flags_url(),
        )
    return new


def duplicate_check_at_award(*, proposal: Proposal, actor: Actor) -> list[DuplicateFundingFlag]:
    """The check before an award completes, committed on its own (under the proposal's
    row lock) so that a refused completion keeps the flags it raised."""
    with transaction.atomic():
        locked = Proposal.objects.select_for_update(of=("self",)).get(pk=proposal.pk)
        return duplicate_check(proposal=locked, actor=actor, during=DuplicateCheckPoint.AWARD)


def award_refusal(proposal: Proposal) -> Conflict | None:
    """Why an award of the proposal may not complete because of duplicate funding, or
    ``None`` (one query)."""
    states = {
        (state, resolution)
        for state, resolution in DuplicateFundingFlag.objects.filter(proposal=proposal).values_list(
            "state", "resolution"
        )
    }
    if any(state == DuplicateFlagState.OPEN for state, _r in states):
        return Conflict(
            _(
                "A possible duplicate funding of this proposal awaits a fund officer's "
                "resolution; the award cannot complete until it is resolved. The decision "
                "stays pending."
            ),
            code="duplicate_funding_unresolved",
        )
    if any(resolution == DuplicateResolution.REFUSE for _s, resolution in states):
        return Conflict(
            _(
                "A fund officer resolved a duplicate funding of this proposal as “refuse”; it "
                "cannot be awarded. Withdraw the pending decision and reject the proposal "
                "instead."
            ),
            code="duplicate_funding_refused",
        )
    return None


def duplicate_flag_resolve(
    *, flag: DuplicateFundingFlag, actor: Actor, resolution: Any, note: Any
) -> DuplicateFundingFlag:
    """A fund officer records the resolution of an open flag: not a duplicate, duplicate
    accepted with the effort to be reduced, or refuse (the award then cannot complete);
    a reason is always required.

    Guarantees: the flag's row is locked and moved open → resolved along
    ``DUPLICATE_FLAG_WORKFLOW`` with the resolution, the reason, who and when, audited
    ``duplicate_flag.resolved``; a second resolution answers 409 and changes nothing.
    """
    allowed, reason = can_resolve_duplicate_flag(actor)
    if not allowed:
        raise PermissionDenied(reason)
    problems = Problems()
    resolution = inputs.choice(problems, "resolution", resolution, DuplicateResolution)
    note = inputs.text(problems, "note", note, max_length=MAX_NOTE_LENGTH, required=True)
    if problems:
        raise ValidationFailed(
            _("The resolution has errors; see the fields."), errors=problems.as_dict()
        )
    if flag.state != DuplicateFlagState.OPEN:
        raise Conflict(_("This flag has already been resolved."), code="invalid_state")
    return transition(
        flag,
        DuplicateFlagState.RESOLVED,
        actor=actor,
        action="duplicate_flag.resolved",
        changes={
            "resolution": resolution,
            "resolution_note": note,
            "resolved_by_id": actor.pk,
            "resolved_at": timezone.now(),
        },
    )
