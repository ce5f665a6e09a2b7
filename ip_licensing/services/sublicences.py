"""Sublicences (§23): child licences granted by the licensee of a sublicensable licence.

A sublicence is a ``Licence`` whose ``parent`` is the licence it is granted under. Its
licensor is the parent's licensee (the sublicensor), its licensee another organisation
(the sublicensee); it names some or all of the parent's assets, and its fields of use,
purposes, territories and term lie inside the parent's (:func:`rules.sublicence_scope_excess`):
anything that sticks out is refused per field, naming it. Its royalty terms are the
sublicensor's business with the sublicensee: the fund sees the income the parent's
licensee reports with its quarterly royalty report, of which the parent's
``sublicence_share_bp`` is due (``ip_licensing.services.royalties``); a sublicence itself
takes no royalty report and no upfront fee (its royalty fields are zero, its currency the
parent's).

Life of a sublicence:

* **granted** by the licensee (:func:`sublicence_grant`): pending, with a
  ``SublicenceConsent`` requested from the parent's licensor; screening opens where §11
  asks for it (the licence hook: licensee outside JP/KR, a controlled field, a
  restricted-party match);
* **consented** by the licensor's people or a fund officer (:func:`sublicence_consent`):
  approved, and active at once if its start has come (else by the daily job); event
  ``sublicence.granted``; needs screening cleared or not required and the parent approved
  or active. The fund officers' two-person approval of licences does not apply (the
  licensor's consent takes its place; ``licence_approve`` refuses a sublicence);
* **refused** (:func:`sublicence_refuse`): terminated, with the licensor's reason;
* it **ends with its parent**: by date (its end is never after the parent's, so the daily
  job expires both), by termination (:func:`sublicences_end_with`, called in the
  parent's termination transaction, terminates every live sublicence and cancels a consent
  still asked for), and while the parent is suspended the licence check denies
  (``parent_suspended``).

Exclusivity: a sublicence is exclusive only under an exclusive parent, and is judged
against its siblings (the other sublicences of the parent) with the §10.2 rule; the parent
itself never conflicts with what lies inside it.

Lock order: parent → sublicence → its consent → asset rows (pk order) → audit chain, the
same as a licence's (parent first, as its termination locks it before its sublicences).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict
from fundapp.kernel.clearance import refuse_unless_cleared
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.notices import notify_people
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import event_record
from ip_licensing import permissions, rules
from ip_licensing.events import licence_data
from ip_licensing.models import (
    ConsentState,
    Exclusivity,
    Licence,
    LicenceAsset,
    LicenceState,
    SublicenceConsent,
)
from ip_licensing.models.licences import LICENCE_WORKFLOW
from ip_licensing.models.sublicences import CONSENT_WORKFLOW
from ip_licensing.selectors import licence_asset_ids

from .assets import organisation_from_input
from .licences import (
    _activate,
    _assets,
    _clean_terms,
    _fail,
    _lock,
    _lock_assets,
    _next_reference,
    _party_people,
    _reason,
    _record_event,
    _refuse_ended,
    _require_signed_in,
    _snapshot,
    _url,
    licence_screening_clearance,
    licence_screening_open,
    tokyo_today,
)

__all__ = [
    "GRANT_FIELDS",
    "PARENT_IN_FORCE",
    "sublicence_consent",
    "sublicence_grant",
    "sublicence_refuse",
    "sublicences_end_with",
]

GRANT_FIELDS = (
    "licensee",
    "assets",
    "fields_of_use",
    "fields",
    "purposes",
    "territories",
    "start_on",
    "end_on",
    "exclusivity",
)
# A parent under which sublicences are granted and consented to.
PARENT_IN_FORCE = (LicenceState.APPROVED, LicenceState.ACTIVE)
# Sublicences still in being, which end with their parent.
_LIVE = (
    LicenceState.DRAFT,
    LicenceState.PENDING,
    LicenceState.APPROVED,
    LicenceState.ACTIVE,
    LicenceState.SUSPENDED,
)
_SIBLING_STATES = tuple(rules.CONFLICTING_STATES)


def _excess_message(excess: rules.ScopeExcess) -> str:
    messages = {
        "asset_not_in_parent": _("Asset %(value)s is not licensed by the parent licence."),
        "field_not_in_parent": _("Field of use %(value)s is not in the parent licence."),
        "purpose_not_in_parent": _("Purpose %(value)s is not in the parent licence."),
        "territory_not_in_parent": _("Territory %(value)s is not in the parent licence."),
        "starts_before_parent": _("It starts before the parent licence's start date, %(value)s."),
        "ends_after_parent": _("It ends after the parent licence's end date, %(value)s."),
        "exclusive_under_non_exclusive": _(
            "A non-exclusive licence cannot grant an exclusive sublicence."
        ),
    }
    return messages[excess.code] % {"value": excess.value}


def _notify(licence: Licence, message: str, organisation_ids: list[int], **params: Any) -> None:
    notify_people(
        users=list(
            User.objects.filter(
                permissions.party_people_filter(organisation_ids), is_active=True
            ).order_by("pk")
        ),
        message=message,
        params={
            "reference": licence.pk,
            "licensor": licence.licensor_id,
            "licensee": licence.licensee_id,
            **params,
        },
        url=_url(licence),
    )


def _sibling_conflicts(sublicence: Licence, parent: Licence) -> None:
    """Lock the assets, then refuse if an exclusive sibling overlaps (or this exclusive one
    overlaps a sibling), naming them (§10.2 among the parent's sublicences)."""
    asset_ids = licence_asset_ids(sublicence)
    _lock_assets(asset_ids)
    links = (
        LicenceAsset.objects.filter(
            asset_id__in=asset_ids,
            licence__parent_id=parent.pk,
            licence__state__in=_SIBLING_STATES,
        )
        .exclude(licence_id=sublicence.pk)
        .select_related("licence")
    )
    others = [_terms(link.licence, link.asset_id) for link in links]
    ids: set[int] = set()
    for asset_id in asset_ids:
        ids.update(rules.exclusive_conflicts(_terms(sublicence, asset_id), others))
    if ids:
        references = ", ".join(
            Licence.objects.filter(pk__in=ids).order_by("pk").values_list("reference", flat=True)
        )
        message = _(
            "This sublicence overlaps %(references)s in field, territory and time, and one of "
            "them is exclusive."
        ) % {"references": references}
        raise Conflict(message, code="exclusive_conflict", errors={"exclusivity": [message]})


def _terms(licence: Licence, asset_id: int) -> rules.LicenceTerms:
    return rules.LicenceTerms(
        licence_id=licence.pk,
        asset_id=asset_id,
        licensee_id=licence.licensee_id,
        fields=tuple(licence.fields_of_use),
        purposes=tuple(licence.purposes),
        territories=tuple(licence.territories),
        start=licence.start_on,
        end=licence.end_on,
        exclusivity=licence.exclusivity,
        state=licence.state,
    )


# -- granting ------------------------------------------------------------------------------


def sublicence_grant(*, parent: Licence, actor: Actor, data: Mapping[str, Any]) -> Licence:
    """The licensee of ``parent`` grants a sublicence; it waits for the licensor's consent.

    ``data``: ``licensee`` (the sublicensee: id or code), ``assets`` (ids; default every
    asset of the parent), ``fields_of_use`` (or ``fields``), ``purposes``,
    ``territories``, ``start_on``, ``end_on``, ``exclusivity`` (default non-exclusive).

    Guarantees: the parent's licensee only (its research office, a PI, or its key with
    ``licences:check``; 403 otherwise); the parent row is locked and must be sublicensable,
    approved or active (409); the terms pass the licence rules and lie inside the parent's
    (422 naming each asset, field, purpose, territory or date that sticks out; nothing is
    saved); the sublicensee is neither party of the parent; an exclusive sibling overlap is
    refused (409, naming it). The sublicence (pending, ``licensor_accepted_at`` the grant),
    its asset links, its ``SublicenceConsent`` (requested) and its screening case (where
    §11 asks) commit together with the audit events ``licence.created`` and
    ``sublicence.requested``; the licensor's people are asked to consent.
    """
    _require_signed_in(actor)
    _require(permissions.can_grant_sublicence(actor, parent))
    problems = Problems()
    if not isinstance(data, Mapping):
        problems.add("__all__", _("Expected an object."))
        _fail(problems)
    for key in sorted(str(key) for key in data if key not in GRANT_FIELDS):
        problems.add(key, _("Unknown field."))
    with transaction.atomic():
        locked = _lock(parent)
        if locked.parent_id is not None or not locked.sublicensable:
            raise Conflict(_("This licence is not sublicensable."), code="not_sublicensable")
        if locked.state not in PARENT_IN_FORCE:
            raise Conflict(
                _(
                    "Sublicences are granted under an approved or active licence; this one is "
                    "“%(state)s”."
                )
                % {"state": LicenceState(locked.state).label},
                code="parent_not_in_force",
            )
        parent_assets = licence_asset_ids(locked)
        assets = _assets(problems, data.get("assets", parent_assets))
        sublicensee = None
        if data.get("licensee") in (None, ""):
            problems.add("licensee", _("This field is required."))
        else:
            sublicensee = organisation_from_input(problems, "licensee", data["licensee"])
        if sublicensee is not None and sublicensee.pk in (locked.licensor_id, locked.licensee_id):
            problems.add(
                "licensee",
                _(
                    "A sublicence is granted to an organisation other than the parties of the "
                    "licence."
                ),
            )
        terms = _clean_terms(
            problems,
            {
                **{key: value for key, value in data.items() if key != "assets"},
                "sublicensable": False,
                "royalty_rate": "0",
                "minimum_annual_royalty": 0,
                "upfront_fee": 0,
                "currency": locked.currency,
            },
            assets=assets,
            base=None,
        )
        for excess in rules.sublicence_scope_excess(
            parent_assets=parent_assets,
            parent_fields=locked.fields_of_use,
            parent_purposes=locked.purposes,
            parent_territories=locked.territories,
            parent_start=locked.start_on,
            parent_end=locked.end_on,
            parent_exclusive=locked.exclusivity == Exclusivity.EXCLUSIVE,
            assets=[asset.pk for asset in assets],
            fields=terms["fields_of_use"],
            purposes=terms["purposes"],
            territories=terms["territories"],
            start=terms["start_on"],
            end=terms["end_on"],
            exclusive=terms["exclusivity"] == Exclusivity.EXCLUSIVE,
        ):
            problems.add(excess.field, _excess_message(excess))
        _fail(problems)
        assert sublicensee is not None
        now = timezone.now()
        sublicence = Licence.objects.create(
            reference=_next_reference(tokyo_today()),
            licensor_id=locked.licensee_id,
            licensee=sublicensee,
            parent=locked,
            created_by=actor if isinstance(actor, User) else None,
            state=LicenceState.DRAFT,
            licensor_accepted_at=now,
            **terms,
        )
        LicenceAsset.objects.bulk_create(
            [
                LicenceAsset(licence=sublicence, asset=asset)
                for asset in sorted(assets, key=lambda a: a.pk)
            ]
        )
        _refuse_ended(sublicence, tokyo_today())
        _sibling_conflicts(sublicence, locked)
        LICENCE_WORKFLOW.move(sublicence, LicenceState.PENDING, actor=actor)
        sublicence.save(update_fields=["state"])
        consent = SublicenceConsent.objects.create(sublicence=sublicence, requested_at=now)
        licence_screening_open(licence=sublicence, actor=actor)
        audit_record(
            actor=actor,
            action="licence.created",
            obj=sublicence,
            after={**_snapshot(sublicence), "parent": locked.pk},
        )
        audit_record(
            actor=actor,
            action="sublicence.requested",
            obj=sublicence,
            before={"state": LicenceState.DRAFT},
            after={
                "state": sublicence.state,
                "parent": locked.pk,
                "parent_reference": locked.reference,
                "consent": consent.pk,
            },
        )
        _notify(
            sublicence,
            "sublicence.consent_needed",
            [locked.licensor_id],
            parent=locked.pk,
        )
    return sublicence


# -- consent -------------------------------------------------------------------------------


def _lock_pair(sublicence: Licence) -> tuple[Licence, Licence, SublicenceConsent]:
    """Parent, sublicence and consent, locked in that order; 409 for a licence that is not
    a sublicence."""
    parent_id = Licence.objects.filter(pk=sublicence.pk).values_list("parent_id", flat=True).first()
    if parent_id is None:
        raise Conflict(_("This licence is not a sublicence."), code="not_a_sublicence")
    parent = _lock(parent_id)
    locked = _lock(sublicence.pk)
    consent = SublicenceConsent.objects.select_for_update(of=("self",)).get(sublicence=locked)
    return parent, locked, consent


def _decider(actor: Actor, consent: SublicenceConsent) -> None:
    consent.decided_at = timezone.now()
    consent.decided_by = actor if isinstance(actor, User) else None
    consent.decided_by_api_key = actor if isinstance(actor, ApiKey) else None


def _refuse_decided(consent: SublicenceConsent) -> None:
    if consent.state != ConsentState.REQUESTED:
        raise Conflict(
            _("The consent to this sublicence has already been decided: “%(state)s”.")
            % {"state": ConsentState(consent.state).label},
            code="consent_decided",
        )


def sublicence_consent(*, sublicence: Licence, actor: Actor) -> Licence:
    """The parent's licensor (or a fund officer) consents to a pending sublicence.

    Guarantees: the screening case is refreshed first (in its own transaction, so a new
    restricted-party match stays recorded even when the consent is refused); parent,
    sublicence and consent are locked in that order; the actor must speak for the licensor
    or be a fund officer (403); the consent must be requested, the parent approved or
    active, the sublicence's term not ended and screening cleared or not required (409);
    an exclusive sibling overlap is refused (409). Then, together: the consent is
    ``consented`` (``CONSENT_WORKFLOW``, by the actor), the sublicence approved (the move
    the consent authorises) and active at once if its start has come, the event
    ``sublicence.granted`` (webhook) and the audit event of the same name; the licensor,
    sublicensor and sublicensee are told.
    """
    _require_signed_in(actor)
    if Licence.objects.filter(
        pk=sublicence.pk, parent__isnull=False, state=LicenceState.PENDING
    ).exists():
        with transaction.atomic():
            licence_screening_open(licence=sublicence, actor=actor)
    with transaction.atomic():
        parent, locked, consent = _lock_pair(sublicence)
        _require(permissions.can_decide_sublicence_consent(actor, parent))
        _refuse_decided(consent)
        if parent.state not in PARENT_IN_FORCE:
            raise Conflict(
                _("The parent licence is “%(state)s”; a sublicence needs it in force.")
                % {"state": LicenceState(parent.state).label},
                code="parent_not_in_force",
            )
        today = tokyo_today()
        _refuse_ended(locked, today)
        refuse_unless_cleared(
            licence_screening_clearance(locked),
            blocked=_("Screening has blocked this sublicence; refuse the consent instead."),
            pending=_(
                "The consent waits for screening clearance: a screening officer must clear "
                "this sublicence first."
            ),
        )
        _sibling_conflicts(locked, parent)
        CONSENT_WORKFLOW.move(consent, ConsentState.CONSENTED, actor=actor)
        _decider(actor, consent)
        consent.save(update_fields=["state", "decided_at", "decided_by", "decided_by_api_key"])
        now = consent.decided_at or timezone.now()
        # The licensor's consent is what approves a sublicence: a move it authorises.
        before = LICENCE_WORKFLOW.move(locked, LicenceState.APPROVED, as_actor=False)
        locked.approved_at = now
        locked.save(update_fields=["state", "approved_at"])
        if locked.start_on <= today:
            _activate(locked, now=now, actor=None)
        event_record(
            kind="sublicence.granted",
            obj=locked,
            organisation_ids=[parent.licensor_id, locked.licensor_id, locked.licensee_id],
            payload=licence_data(locked, parent=parent.pk),
        )
        audit_record(
            actor=actor,
            action="sublicence.granted",
            obj=locked,
            before={"state": before, "consent": ConsentState.REQUESTED},
            after={"state": locked.state, "consent": consent.state, "parent": parent.pk},
        )
        _notify(
            locked,
            "sublicence.granted",
            [parent.licensor_id, locked.licensor_id, locked.licensee_id],
            parent=parent.pk,
            start=locked.start_on,
            end=locked.end_on,
        )
    return locked


def sublicence_refuse(*, sublicence: Licence, actor: Actor, reason: Any) -> Licence:
    """The parent's licensor (or a fund officer) refuses its consent, with a reason: the
    consent is ``refused`` and the sublicence terminated (``end_reason`` the reason), in
    one transaction with the locks of :func:`sublicence_consent`; audited
    ``sublicence.refused``; the sublicensor and sublicensee are told."""
    _require_signed_in(actor)
    text = _reason(reason)
    with transaction.atomic():
        parent, locked, consent = _lock_pair(sublicence)
        _require(permissions.can_decide_sublicence_consent(actor, parent))
        _refuse_decided(consent)
        CONSENT_WORKFLOW.move(consent, ConsentState.REFUSED, actor=actor)
        _decider(actor, consent)
        consent.reason = text
        consent.save(
            update_fields=["state", "decided_at", "decided_by", "decided_by_api_key", "reason"]
        )
        before = LICENCE_WORKFLOW.move(locked, LicenceState.TERMINATED, as_actor=False)
        locked.ended_at = consent.decided_at
        locked.end_reason = text
        locked.save(update_fields=["state", "ended_at", "end_reason"])
        audit_record(
            actor=actor,
            action="sublicence.refused",
            obj=locked,
            before={"state": before, "consent": ConsentState.REQUESTED},
            after={"state": locked.state, "consent": consent.state, "reason": text},
        )
        _notify(
            locked,
            "sublicence.refused",
            [locked.licensor_id, locked.licensee_id],
            parent=parent.pk,
            reason=text,
        )
    return locked


# -- ending with the parent ----------------------------------------------------------------


def sublicences_end_with(*, licence: Licence, actor: Actor | None, reason: str) -> list[int]:
    """In the caller's transaction, with ``licence`` locked and just terminated: cancel
    its own consent if still requested (a sublicence terminated before the licensor
    decided), then terminate every live sublicence of it (locked in pk order, each
    ``licence.terminated`` audited and sent as an event, their requested consents
    cancelled). Returns the ids of the sublicences terminated."""
    # Cancelled by the fund's own code, as the table allows (checked before the set update).
    CONSENT_WORKFLOW.check(ConsentState.REQUESTED, ConsentState.CANCELLED, actor=None)
    children = list(
        Licence.objects.select_for_update(of=("self",), no_key=True)
        .filter(parent_id=licence.pk, state__in=_LIVE)
        .order_by("pk")
    )
    SublicenceConsent.objects.filter(
        sublicence_id__in=[licence.pk, *(child.pk for child in children)],
        state=ConsentState.REQUESTED,
    ).update(state=ConsentState.CANCELLED, decided_at=timezone.now())
    now = timezone.now()
    for child in children:
        before = LICENCE_WORKFLOW.move(child, LicenceState.TERMINATED, as_actor=False)
        child.ended_at = now
        child.end_reason = _("The parent licence %(reference)s was terminated: %(reason)s") % {
            "reference": licence.reference,
            "reason": reason,
        }
        child.save(update_fields=["state", "ended_at", "end_reason"])
        audit_record(
            actor=actor,
            action="licence.terminated",
            obj=child,
            before={"state": before},
            after={"state": child.state, "parent": licence.pk, "reason": child.end_reason},
        )
        _record_event("licence.terminated", child)
        notify_people(
            users=_party_people(child),
            message="sublicence.ended_with_parent",
            params={
                "reference": child.pk,
                "licensor": child.licensor_id,
                "licensee": child.licensee_id,
                "parent": licence.pk,
            },
            url=_url(child),
        )
    if children:
        audit_record(
            actor=actor,
            action="sublicence.ended_with_parent",
            obj=licence,
            after={"sublicences": [child.pk for child in children]},
        )
    return [child.pk for child in children]
