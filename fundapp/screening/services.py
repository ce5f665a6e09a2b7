"""Writes for research-security and export-control screening (§11).

Callers (projects, ip_licensing) describe a subject by ``subject_type`` and ``subject_id``
and call these functions; the kernel never imports them.

Lifecycle of a subject's case:

- ``screening_case_open`` creates the case when there is a reason to screen or a
  restricted-party match, and is idempotent: calling it again merges new reasons and
  matches into an **open** case, and changes nothing when there is nothing new.
- A **cleared** case stays cleared when called again with new reasons but no new
  restricted-party match (the officer's clearance covered the subject as it was). A new
  match supersedes it: the cleared case is kept unchanged as the record of that clearance
  (state ``superseded``), and a new open case, linked to it by ``previous``, carries every
  reason and match; approval is held again until an officer decides.
- A **blocked** case is final: nothing reopens it.
- ``screening_case_decide`` lets a screening officer clear or block an open case, with a
  reason (for a case with matches: why the match is a false positive).

Call ``screening_case_open`` again right before approval (award, licence) so a list
imported since the case opened is matched too, then read ``screening_clearance``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed

from .importing import PartyRow
from .models import (
    LIVE_STATES,
    SCREENING_WORKFLOW,
    RestrictedParty,
    ScreeningCase,
    ScreeningState,
)
from .permissions import can_decide_screening
from .reasons import RESTRICTED_PARTY_MATCH
from .selectors import restricted_party_matches, screening_clearance

__all__ = [
    "ImportSummary",
    "restricted_parties_import",
    "screening_case_decide",
    "screening_case_open",
    "screening_case_decided",
    "screening_clearance",
]

# Sent after the commit of a decision: sender=ScreeningCase, case_id, subject_type,
# subject_id, state. Callers may listen to tell people; they must not change the case.
screening_case_decided = Signal()

DECISIONS = {"clear": ScreeningState.CLEARED, "block": ScreeningState.BLOCKED}
MAX_REASON_LENGTH = 5000
_SUBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


# -- input checks ---------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean_subject(
    subject_type: str, subject_id: int, subject_label: str, subject_url: str
) -> tuple[str, str, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(subject_type, str) or not _SUBJECT_TYPE.match(subject_type):
        errors["subject_type"] = [_("Use lower-case letters, digits and underscores.")]
    if not _is_int(subject_id) or subject_id <= 0:
        errors["subject_id"] = [_("Use a positive whole number.")]
    label = (subject_label or "").strip() or f"{subject_type} #{subject_id}"
    if len(label) > 300:
        errors["subject_label"] = [_("Use at most 300 characters.")]
    url = (subject_url or "").strip()
    # A link the page renders: same-site paths or http(s) only, never javascript: and such.
    if url and not (
        (url.startswith("/") and not url.startswith("//"))
        or url.startswith(("https://", "http://"))
    ):
        errors["subject_url"] = [_("Use a path on this site or an http(s) address.")]
    elif len(url) > 500:
        errors["subject_url"] = [_("Use at most 500 characters.")]
    return label, url, errors


def _clean_reasons(reasons: Iterable[Any], errors: dict[str, list[str]]) -> list[dict[str, str]]:
    cleaned: list[dict[str, str]] = []
    for index, reason in enumerate(reasons or []):
        if isinstance(reason, str):
            reason = {"code": reason, "detail": ""}
        code = reason.get("code") if isinstance(reason, Mapping) else None
        detail = reason.get("detail", "") if isinstance(reason, Mapping) else ""
        if not isinstance(code, str) or not _REASON_CODE.match(code):
            errors.setdefault(f"reasons.{index}.code", []).append(
                _("Use a reason code of lower-case letters, digits and underscores.")
            )
            continue
        if not isinstance(detail, str):
            detail = str(detail)
        entry = {"code": code, "detail": detail.strip()[:500]}
        if entry not in cleaned:
            cleaned.append(entry)
    return cleaned


def _clean_parties(parties: Iterable[Any], errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    cleaned: dict[int, dict[str, Any]] = {}
    for index, party in enumerate(parties or []):
        if not isinstance(party, Mapping):
            errors.setdefault(f"parties.{index}", []).append(_("Expected an object."))
            continue
        org = party.get("organisation_id")
        name = party.get("name")
        aliases = party.get("aliases") or []
        if not _is_int(org):
            errors.setdefault(f"parties.{index}.organisation_id", []).append(
                _("Use the organisation's integer id.")
            )
        if not isinstance(name, str) or not name.strip():
            errors.setdefault(f"parties.{index}.name", []).append(_("This field is required."))
        if not isinstance(aliases, list | tuple) or not all(isinstance(a, str) for a in aliases):
            errors.setdefault(f"parties.{index}.aliases", []).append(_("Expected a list of names."))
        if not (_is_int(org) and isinstance(name, str) and name.strip()) or (
            f"parties.{index}.aliases" in errors
        ):
            continue
        assert isinstance(org, int) and isinstance(name, str)
        cleaned[org] = {
            "organisation_id": org,
            "name": name.strip(),
            "aliases": [a.strip() for a in aliases if a.strip()],
            "country": str(party.get("country") or "").strip().upper(),
        }
    return [cleaned[key] for key in sorted(cleaned)]


# -- opening and merging --------------------------------------------------------------------


def _match_key(match: Mapping[str, Any]) -> tuple[Any, Any]:
    # A clearance says "this organisation is not that listed party", whichever of their
    # names met; another name of the same pair is not a new match.
    return (match["party_id"], match["organisation"])


def _match_reason(match: Mapping[str, Any]) -> dict[str, str]:
    return {
        "code": RESTRICTED_PARTY_MATCH,
        "detail": f"{match['organisation_name']} ↔ {match['party_name']} ({match['party_source']})",
    }


def _merged(existing: list[Any], new: Iterable[Any], key=lambda item: item) -> list[Any]:
    merged = list(existing)
    seen = {_freeze(key(item)) for item in merged}
    for item in new:
        frozen = _freeze(key(item))
        if frozen not in seen:
            seen.add(frozen)
            merged.append(item)
    return merged


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _merged_parties(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Any]:
    by_org = {p["organisation_id"]: p for p in existing}
    by_org.update({p["organisation_id"]: p for p in new})
    return [by_org[key] for key in sorted(by_org)]


def _snapshot(case: ScreeningCase) -> dict[str, Any]:
    return {
        "subject_type": case.subject_type,
        "subject_id": case.subject_id,
        "state": case.state,
        "reasons": case.reasons,
        "matches": [
            {k: m[k] for k in ("party_id", "party_name", "organisation", "matched_name")}
            for m in case.matches
        ],
    }


def _locked_live_case(subject_type: str, subject_id: int) -> ScreeningCase | None:
    return (
        ScreeningCase.objects.select_for_update(of=("self",))
        .filter(subject_type=subject_type, subject_id=subject_id, state__in=LIVE_STATES)
        .first()
    )


def _create_case(
    *,
    subject_type: str,
    subject_id: int,
    label: str,
    url: str,
    reasons: list[dict[str, str]],
    parties: list[dict[str, Any]],
    matches: list[dict[str, Any]],
    previous: ScreeningCase | None,
    actor: Actor | None,
) -> ScreeningCase:
    case = ScreeningCase.objects.create(
        subject_type=subject_type,
        subject_id=subject_id,
        subject_label=label,
        subject_url=url,
        reasons=reasons,
        parties=parties,
        matches=matches,
        state=ScreeningState.OPEN,
        previous=previous,
    )
    after = _snapshot(case)
    if previous is not None:
        after["previous"] = previous.pk
    audit_record(actor=actor, action="screening.case_opened", obj=case, after=after)
    return case


def screening_case_open(
    *,
    subject_type: str,
    subject_id: int,
    reasons: list[dict[str, str]],
    parties: list[dict[str, Any]],
    subject_label: str = "",
    subject_url: str = "",
    actor: Actor | None = None,
) -> ScreeningCase | None:
    """Open (or refresh) the subject's screening case and match its organisations.

    ``reasons``: ``[{"code": "dual_use", "detail": "…"}]`` (codes in
    ``fundapp.screening.reasons``); ``parties``: ``[{"organisation_id": 7, "name": "…",
    "aliases": ["…"], "country": "US"}]``, every organisation of the subject.

    Returns the subject's live case, or ``None`` when there is no reason, no match and no
    case yet (screening not required). Guarantees: idempotent per subject (one live case,
    enforced by a partial unique index; concurrent calls converge on it); the live case is
    locked while it changes; every change writes an audit event in the same transaction;
    a call that adds nothing writes nothing. See the module docstring for what happens to
    decided cases.
    """
    errors: dict[str, list[str]] = {}
    label, url, subject_errors = _clean_subject(
        subject_type, subject_id, subject_label, subject_url
    )
    errors.update(subject_errors)
    clean_reasons = _clean_reasons(reasons, errors)
    clean_parties = _clean_parties(parties, errors)
    if errors:
        raise ValidationFailed(_("The screening request has invalid fields."), errors=errors)

    matches = restricted_party_matches(clean_parties)
    all_reasons = _merged(clean_reasons, [_match_reason(m) for m in matches])

    with transaction.atomic():
        case = _locked_live_case(subject_type, subject_id)
        if case is None:
            if not all_reasons:
                return None
            try:
                with transaction.atomic():
                    return _create_case(
                        subject_type=subject_type,
                        subject_id=subject_id,
                        label=label,
                        url=url,
                        reasons=all_reasons,
                        parties=clean_parties,
                        matches=matches,
                        previous=None,
                        actor=actor,
                    )
            except IntegrityError:
                # Another call opened it first: merge into that one.
                case = _locked_live_case(subject_type, subject_id)
                if case is None:
                    raise

        if case.state == ScreeningState.BLOCKED:
            return case

        if case.state == ScreeningState.CLEARED:
            known = {_match_key(m) for m in case.matches}
            if not any(_match_key(m) not in known for m in matches):
                return case
            return _supersede(
                case,
                label=label,
                url=url,
                reasons=_merged(case.reasons, all_reasons),
                parties=_merged_parties(case.parties, clean_parties),
                matches=_merged(case.matches, matches, key=_match_key),
                actor=actor,
            )

        before = _snapshot(case)
        new_reasons = _merged(case.reasons, all_reasons)
        new_matches = _merged(case.matches, matches, key=_match_key)
        new_parties = _merged_parties(case.parties, clean_parties)
        changes = {
            "reasons": new_reasons,
            "matches": new_matches,
            "parties": new_parties,
            "subject_label": label if subject_label else case.subject_label,
            "subject_url": url if subject_url else case.subject_url,
        }
        changed = [name for name, value in changes.items() if getattr(case, name) != value]
        if not changed:
            return case
        for name in changed:
            setattr(case, name, changes[name])
        case.save(update_fields=changed)
        audit_record(
            actor=actor,
            action="screening.case_updated",
            obj=case,
            before=before,
            after=_snapshot(case),
        )
        return case


def _supersede(
    case: ScreeningCase,
    *,
    label: str,
    url: str,
    reasons: list[dict[str, str]],
    parties: list[dict[str, Any]],
    matches: list[dict[str, Any]],
    actor: Actor | None,
) -> ScreeningCase:
    """Retire a cleared case in favour of a new open one (new restricted-party matches)."""
    target = ScreeningState.SUPERSEDED
    if not SCREENING_WORKFLOW.allows(case.state, target):
        raise Conflict(_("This screening case cannot be reopened."))
    before = {"state": case.state}
    # New matches retire the case whoever's change brought them: the fund's move.
    SCREENING_WORKFLOW.move(case, target, actor=None)
    case.save(update_fields=["state"])
    audit_record(
        actor=actor,
        action="screening.case_superseded",
        obj=case,
        before=before,
        after={"state": case.state, "reason": "new restricted-party match"},
    )
    return _create_case(
        subject_type=case.subject_type,
        subject_id=case.subject_id,
        label=label or case.subject_label,
        url=url or case.subject_url,
        reasons=reasons,
        parties=parties,
        matches=matches,
        previous=case,
        actor=actor,
    )


# -- deciding -------------------------------------------------------------------------------


def screening_case_decide(
    *, case: ScreeningCase, actor: Actor, decision: str, reason: str
) -> ScreeningCase:
    """Clear or block an open case.

    Guarantees: screening officers (and admins) only, else ``PermissionDenied``; a reason
    is required, and for a case with restricted-party matches clearing means the officer
    states why the match is a false positive; the row is locked and its state checked
    against ``SCREENING_WORKFLOW`` (a decided case answers ``Conflict``; blocked is final); the
    decision and its audit event commit together; ``screening_case_decided`` is sent after
    the commit.
    """
    allowed, why = can_decide_screening(actor)
    if not allowed or not isinstance(actor, User):
        raise PermissionDenied(why or _("Only screening officers may decide."))
    errors: dict[str, list[str]] = {}
    target = DECISIONS.get(decision) if isinstance(decision, str) else None
    if target is None:
        errors["decision"] = [_("Choose clear or block.")]
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        if target == ScreeningState.CLEARED and case.matches:
            errors["reason"] = [_("State why the restricted-party match is a false positive.")]
        else:
            errors["reason"] = [_("Give the reason for the decision.")]
    elif len(text) > MAX_REASON_LENGTH:
        errors["reason"] = [_("Use at most %(count)d characters.") % {"count": MAX_REASON_LENGTH}]
    if errors:
        raise ValidationFailed(_("The decision has invalid fields."), errors=errors)
    assert target is not None

    with transaction.atomic():
        locked = ScreeningCase.objects.select_for_update(of=("self",)).get(pk=case.pk)
        if not SCREENING_WORKFLOW.allows(locked.state, target):
            if locked.state == ScreeningState.BLOCKED:
                raise Conflict(_("This case is blocked for good; the decision is final."))
            raise Conflict(_("This case has already been decided."))
        before = {"state": locked.state}
        SCREENING_WORKFLOW.move(locked, target, actor=actor)
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_reason = text
        locked.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        after: dict[str, Any] = {"state": locked.state, "decision_reason": text}
        if target == ScreeningState.CLEARED and locked.matches:
            after["false_positive_matches"] = [m["party_id"] for m in locked.matches]
        audit_record(
            actor=actor,
            action=f"screening.case_{locked.state}",
            obj=locked,
            before=before,
            after=after,
        )
        case_id, subject_type, subject_id, state = (
            locked.pk,
            locked.subject_type,
            locked.subject_id,
            locked.state,
        )
        transaction.on_commit(
            lambda: screening_case_decided.send(
                sender=ScreeningCase,
                case_id=case_id,
                subject_type=subject_type,
                subject_id=subject_id,
                state=state,
            )
        )
    return locked


# -- the restricted-party list --------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    deactivated: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def restricted_parties_import(
    *, rows: list[PartyRow], actor: Actor | None = None, deactivate_missing: bool = False
) -> ImportSummary:
    """Insert or update parties by (normalized name, country, source), all or nothing.

    Guarantees: one transaction (a failure imports nothing); re-importing the same rows
    changes nothing; with ``deactivate_missing`` the parties of the file's sources that the
    file no longer lists are deactivated (delisted), never deleted, so past matches keep
    their party. One audit event records the counts.
    """
    now = timezone.now()
    with transaction.atomic():
        sources = sorted({row.source for row in rows})
        existing = {
            (p.normalized_name, p.country, p.source): p
            for p in RestrictedParty.objects.select_for_update().filter(source__in=sources)
        }
        to_create: list[RestrictedParty] = []
        to_update: list[RestrictedParty] = []
        unchanged = 0
        for row in rows:
            party = existing.get(row.key)
            fields = {
                "name": row.name,
                "aliases": list(row.aliases),
                "normalized_names": list(row.normalized_names),
                "active": True,
            }
            if party is None:
                to_create.append(
                    RestrictedParty(
                        country=row.country,
                        source=row.source,
                        normalized_name=row.normalized_name,
                        imported_at=now,
                        **fields,
                    )
                )
                continue
            if all(getattr(party, name) == value for name, value in fields.items()):
                unchanged += 1
                continue
            for name, value in fields.items():
                setattr(party, name, value)
            party.imported_at = now
            to_update.append(party)
        RestrictedParty.objects.bulk_create(to_create, batch_size=1000)
        RestrictedParty.objects.bulk_update(
            to_update,
            ["name", "aliases", "normalized_names", "active", "imported_at"],
            batch_size=1000,
        )
        deactivated = 0
        if deactivate_missing:
            listed = {row.key for row in rows}
            gone = [p.pk for key, p in existing.items() if key not in listed and p.active]
            deactivated = RestrictedParty.objects.filter(pk__in=gone).update(active=False)
        summary = ImportSummary(
            created=len(to_create),
            updated=len(to_update),
            unchanged=unchanged,
            deactivated=deactivated,
        )
        if summary.created or summary.updated or summary.deactivated:
            audit_record(
                actor=actor,
                action="screening.restricted_parties_imported",
                object_type=RestrictedParty._meta.label_lower,
                object_id="",
                after={
                    "sources": sources,
                    "created": summary.created,
                    "updated": summary.updated,
                    "unchanged": summary.unchanged,
                    "deactivated": summary.deactivated,
                },
            )
    return summary
