"""Who may do what to IP assets and licences (§2, §10). Pure questions with a reason.

Seeing is decided by ``ip_licensing.selectors`` (404 otherwise); these functions decide the
actions on an object the actor can already see. Services ask them before changing
anything; views and the API ask the same functions to show or hide actions.

Decisions made here:

* **Assets** are registered and edited by people: a member of the owner organisation (a
  researcher reporting a result) or a fund officer. Partner systems read the registry;
  no API-key scope writes it.
* **Licences** are proposed (drafted) by any member of the licensor or licensee
  organisation, or by a fund officer.
* **Accepting** binds an organisation, so a person accepts for an organisation only as a
  member of its research office or as a principal investigator of one of its projects.
  A partner system accepts for its own organisation with an API key carrying the
  ``licences:check`` scope — there is no ``licences:write`` scope in §14, and a licensee
  system that checks its uses against its licences is the one that signs them. The same
  key may draft and renew its organisation's licences.
* **Approving** (two-person rule), **suspending**, **resuming** and **terminating** are
  fund officers' decisions, people only; the parties may withdraw (terminate) a draft
  they have not all accepted yet.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Membership, Scope, Side, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.kernel.approvals import can_act_on_decision
from fundapp.kernel.decisions import Decision
from fundapp.kernel.registry import project_directory
from ip_licensing.models import IPAsset, Licence, LicenceApproval, LicenceState

LICENSOR = "licensor"
LICENSEE = "licensee"
# The scope with which a partner system drafts, accepts and renews its organisation's
# licences (see the module docstring).
PARTY_WRITE_SCOPE = Scope.LICENCES_CHECK
FUNDED_SIDES = (Side.JP, Side.KR)


def _active_user(actor: Actor | None) -> User | None:
    if isinstance(actor, User) and actor.is_authenticated and actor.is_active:
        return actor
    return None


def _is_member(user: User, organisation_id: int) -> bool:
    return Membership.objects.filter(user=user, organisation_id=organisation_id).exists()


def speaks_for(user: User, organisation_id: int) -> bool:
    """Whether a person may bind the organisation: its research office, or a principal
    investigator of one of its projects."""
    return Membership.objects.filter(
        user=user, organisation_id=organisation_id, research_office=True
    ).exists() or project_directory.get().is_pi_for(user.pk, organisation_id)


def party_people_filter(organisation_ids: list[int]) -> Q:
    """A ``User`` filter for the people who speak for any of the organisations."""
    office = Membership.objects.filter(
        organisation_id__in=organisation_ids, research_office=True
    ).values("user_id")
    pis = project_directory.get().pi_user_ids(organisation_ids)
    return Q(pk__in=office) | Q(pk__in=pis)


# -- assets --------------------------------------------------------------------------------


def can_register_asset(actor: Actor | None, owner_id: int | None) -> Decision:
    """A member of the owner organisation, or a fund officer."""
    if isinstance(actor, ApiKey):
        return False, _("IP assets are registered by people, not through an API key.")
    user = _active_user(actor)
    if user is None:
        return False, _("Sign in to register IP assets.")
    if is_fund_officer(user):
        return True, ""
    if owner_id is not None and _is_member(user, owner_id):
        return True, ""
    return False, _("Only members of the owner organisation or fund officers may register it.")


def can_edit_asset(actor: Actor | None, asset: IPAsset) -> Decision:
    """A member of the (current) owner organisation, or a fund officer."""
    allowed, reason = can_register_asset(actor, asset.owner_id)
    if allowed:
        return True, ""
    if isinstance(actor, ApiKey) or _active_user(actor) is None:
        return False, reason
    return False, _(
        "Only members of the owner organisation or fund officers may change this asset."
    )


# -- licences: the parties -----------------------------------------------------------------


def licence_sides_of(actor: Actor | None, licence: Licence) -> list[str]:
    """The parties (``licensor``, ``licensee``) the actor may accept for, licensor first."""
    parties = ((LICENSOR, licence.licensor_id), (LICENSEE, licence.licensee_id))
    if isinstance(actor, ApiKey):
        if not actor.has_scope(PARTY_WRITE_SCOPE):
            return []
        return [side for side, org_id in parties if org_id == actor.organisation_id]
    user = _active_user(actor)
    if user is None:
        return []
    return [side for side, org_id in parties if speaks_for(user, org_id)]


def can_create_licence(actor: Actor | None, licensor_id: int, licensee_id: int) -> Decision:
    if isinstance(actor, ApiKey):
        if not actor.has_scope(PARTY_WRITE_SCOPE):
            return False, _("This API key lacks the licences:check scope.")
        if actor.organisation_id in (licensor_id, licensee_id):
            return True, ""
        return False, _("An API key may propose licences of its own organisation only.")
    user = _active_user(actor)
    if user is None:
        return False, _("Sign in to propose a licence.")
    if is_fund_officer(user):
        return True, ""
    if Membership.objects.filter(
        user=user, organisation_id__in=[licensor_id, licensee_id]
    ).exists():
        return True, ""
    return False, _(
        "Only members of the licensor or the licensee organisation, or fund officers, may "
        "propose this licence."
    )


def can_accept_licence(actor: Actor | None, licence: Licence) -> Decision:
    if licence.state != LicenceState.DRAFT:
        return False, _("Only a draft licence can be accepted; this one is “%(state)s”.") % {
            "state": LicenceState(licence.state).label
        }
    if isinstance(actor, ApiKey) and not actor.has_scope(PARTY_WRITE_SCOPE):
        return False, _("This API key lacks the licences:check scope.")
    if not licence_sides_of(actor, licence):
        return False, _(
            "Only the research office or a principal investigator of the licensor or the "
            "licensee may accept this licence."
        )
    return True, ""


def can_renew_licence(actor: Actor | None, licence: Licence) -> Decision:
    if is_fund_officer(actor) and isinstance(actor, User) and actor.is_active:
        return True, ""
    return can_create_licence(actor, licence.licensor_id, licence.licensee_id)


def can_withdraw_draft(actor: Actor | None, licence: Licence) -> Decision:
    """A party withdraws (terminates) its own draft; officers may terminate anything."""
    if licence.state == LicenceState.DRAFT and licence_sides_of(actor, licence):
        return True, ""
    return False, _("Only fund officers may terminate this licence.")


# -- licences: fund officers ---------------------------------------------------------------


def officer_side(actor: Actor | None) -> str:
    if isinstance(actor, User) and actor.side in FUNDED_SIDES:
        return actor.side
    return ""


def can_approve_licence(actor: Actor | None) -> Decision:
    """Licence approvals are taken by fund officers of the JP or KR side (§2)."""
    if not is_fund_officer(actor):
        return False, _("Only fund officers may approve licences.")
    if not officer_side(actor):
        return False, _(
            "Your account has no side (JP or KR); a licence approval needs one officer of each "
            "side."
        )
    return True, ""


def can_complete_licence_approval(actor: Actor | None, pending: LicenceApproval) -> Decision:
    """The second approval: a different fund officer, of the other side, with the messages
    every two-person decision gives (§2)."""
    allowed, reason = can_approve_licence(actor)
    if not allowed:
        return allowed, reason
    return can_act_on_decision(actor, pending, "approve")


def can_change_licence_state(actor: Actor | None) -> Decision:
    """Suspending, resuming and terminating licences are fund officers' decisions."""
    if is_fund_officer(actor) and isinstance(actor, User) and actor.is_active:
        return True, ""
    return False, _("Only fund officers may suspend, resume or terminate licences.")


# -- return allocation and royalties --------------------------------------------------------


def can_change_allocation(actor: Actor | None) -> Decision:
    """Fund officers of the Japanese or the Korean side (§2, §10.5)."""
    if not is_fund_officer(actor) or not isinstance(actor, User):
        return False, _("Only fund officers may change a return-allocation table.")
    if actor.side not in (Side.JP, Side.KR):
        return False, _(
            "Only fund officers of the Japanese or the Korean side may change a "
            "return-allocation table; your account has no side."
        )
    return True, ""


def can_report_royalties(actor: Actor | None, licence: Licence) -> Decision:
    """The licensee's people, or its API keys with ``royalties:write``."""
    if isinstance(actor, ApiKey):
        if actor.organisation_id != licence.licensee_id:
            return False, _("Only the licensee reports royalties for this licence.")
        if not actor.has_scope(Scope.ROYALTIES_WRITE):
            return False, _("This API key lacks the royalties:write scope.")
        return True, ""
    if (
        isinstance(actor, User)
        and actor.is_active
        and actor.memberships.filter(organisation_id=licence.licensee_id).exists()
    ):
        return True, ""
    return False, _("Only the licensee reports royalties for this licence.")


# -- licence obligations (§23) ---------------------------------------------------------------


def _party_member(actor: Actor | None, organisation_id: int) -> bool:
    """A member of the organisation, or its API key with ``licences:check``."""
    if isinstance(actor, ApiKey):
        return actor.organisation_id == organisation_id and actor.has_scope(PARTY_WRITE_SCOPE)
    user = _active_user(actor)
    return user is not None and _is_member(user, organisation_id)


def can_add_obligation(actor: Actor | None, licence: Licence) -> Decision:
    """The licensor sets the licensee's diligence obligations: its members or its key with
    ``licences:check``, or a fund officer; while the licence has not ended."""
    if licence.state in (LicenceState.EXPIRED, LicenceState.TERMINATED):
        return False, _("This licence has ended; it takes no new obligations.")
    if is_fund_officer(actor) or _party_member(actor, licence.licensor_id):
        return True, ""
    return False, _("Only the licensor's members or fund officers may add obligations.")


def can_submit_obligation_evidence(actor: Actor | None, licence: Licence) -> Decision:
    """The licensee's members, or its key with ``licences:check``."""
    if _party_member(actor, licence.licensee_id):
        return True, ""
    return False, _("Only the licensee's members submit evidence for its obligations.")


def can_accept_obligation_evidence(actor: Actor | None, licence: Licence) -> Decision:
    """The licensor's members or its key with ``licences:check``, or a fund officer."""
    if is_fund_officer(actor) or _party_member(actor, licence.licensor_id):
        return True, ""
    return False, _("Only the licensor's members or fund officers may accept the evidence.")


def can_decide_obligation(actor: Actor | None) -> Decision:
    """Waivers and answers to a breach: fund officers of the JP or KR side, two of them."""
    if not is_fund_officer(actor):
        return False, _("Only fund officers may waive obligations or answer a breach.")
    if not officer_side(actor):
        return False, _(
            "Your account has no side (JP or KR); this decision needs one officer of each side."
        )
    return True, ""


# -- sublicences (§23) ---------------------------------------------------------------------


def _speaks_or_keys_for(actor: Actor | None, organisation_id: int) -> bool:
    """A person who may bind the organisation (research office, PI) or its partner system
    with ``licences:check`` (as for accepting a licence)."""
    if isinstance(actor, ApiKey):
        return actor.has_scope(PARTY_WRITE_SCOPE) and actor.organisation_id == organisation_id
    user = _active_user(actor)
    return user is not None and speaks_for(user, organisation_id)


def can_grant_sublicence(actor: Actor | None, parent: Licence) -> Decision:
    """The licensee of a sublicensable licence grants sublicences: its research office or
    a principal investigator, or its partner system with ``licences:check``. Not the
    fund's officers: a sublicence is the licensee's grant."""
    if isinstance(actor, ApiKey) and not actor.has_scope(PARTY_WRITE_SCOPE):
        return False, _("This API key lacks the licences:check scope.")
    if not _speaks_or_keys_for(actor, parent.licensee_id):
        return False, _(
            "Only the research office or a principal investigator of the licensee may grant "
            "a sublicence of this licence."
        )
    if not parent.sublicensable:
        return False, _("This licence is not sublicensable.")
    return True, ""


def can_decide_sublicence_consent(actor: Actor | None, parent: Licence) -> Decision:
    """The parent's licensor consents to a sublicence (or refuses): its research office or
    a principal investigator, its partner system with ``licences:check``, or a fund
    officer."""
    if is_fund_officer(actor) and isinstance(actor, User) and actor.is_active:
        return True, ""
    if isinstance(actor, ApiKey) and not actor.has_scope(PARTY_WRITE_SCOPE):
        return False, _("This API key lacks the licences:check scope.")
    if _speaks_or_keys_for(actor, parent.licensor_id):
        return True, ""
    return False, _(
        "Only the licensor's research office or a principal investigator, or a fund officer, "
        "may decide on the consent to this sublicence."
    )


# -- royalty audits (§23) -------------------------------------------------------------------


def can_audit_royalties(actor: Actor | None) -> tuple[bool, str]:
    """Fund officers, people only."""
    if isinstance(actor, User) and actor.is_active and is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers audit royalties.")
