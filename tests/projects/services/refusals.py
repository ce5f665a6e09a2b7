"""Checking that a refused change is refused for the right reason and leaves nothing behind.

§17: a failed request changes nothing. ``refused`` snapshots everything a proposal service
can touch (the row, its sections, versions, endorsements, grants, files, the audit chain),
runs the call, and compares the snapshot again after the domain error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from fundapp.accounts.models import User
from fundapp.audit.models import AuditEvent
from fundapp.errors import DomainError, ValidationFailed
from projects.models import Proposal, ProposalUserObjectPermission
from projects.services import proposals as svc


def stored_files() -> list[str]:
    root = Path(settings.PRIVATE_MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def fingerprint(proposal: Proposal) -> dict[str, Any]:
    p = Proposal.objects.select_related("call", "research_area").get(pk=proposal.pk)
    return {
        "row": {
            f: getattr(p, f)
            for f in (
                "state",
                "version",
                "updated_at",
                "submitted_at",
                "withdrawn_at",
                "eligibility_reasons",
            )
        },
        "content": svc.proposal_snapshot(p),
        "versions": list(p.versions.values_list("number", "content")),
        "endorsements": sorted(p.endorsements.values_list("organisation_id", flat=True)),
        "grants": sorted(
            ProposalUserObjectPermission.objects.filter(content_object=p).values_list(
                "user_id", "permission__codename"
            )
        ),
        "last_audit_event": AuditEvent.objects.order_by("-id").values_list("id", flat=True).first(),
        "files": stored_files(),
    }


@contextmanager
def refused(
    proposal: Proposal,
    error: type[DomainError] | tuple[type[DomainError], ...] = ValidationFailed,
    *,
    field: str | None = None,
    message: str | None = None,
    code: str | None = None,
) -> Iterator[pytest.ExceptionInfo]:
    """Expect ``error`` (with ``message`` under ``field``) and no change at all."""
    before = fingerprint(proposal)
    with pytest.raises(error) as info:
        yield info
    assert fingerprint(proposal) == before, "a refused change must leave everything as it was"
    exc = info.value
    if code is not None:
        assert exc.code == code
    if field is not None:
        assert field in exc.errors, exc.errors
        if message is not None:
            messages = [str(m) for m in exc.errors[field]]
            assert any(message in m for m in messages), messages
    elif message is not None:
        assert message in str(exc.message)


def save(proposal: Proposal, actor: Any, **sections: Any) -> Proposal:
    """Save sections the way the wizard does: against the version just read."""
    current = Proposal.objects.get(pk=proposal.pk)
    return svc.proposal_update(
        proposal=current, actor=actor, expected_version=current.version, changes=sections
    )


def submit(proposal: Proposal, actor: User, **kwargs: Any) -> Proposal:
    return svc.proposal_submit(proposal=Proposal.objects.get(pk=proposal.pk), actor=actor, **kwargs)
