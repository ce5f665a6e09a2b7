"""Proposal services (§5, §6 eligibility): every change to a proposal goes through here.

Each function runs in one transaction, locks the proposal row first, checks who may act
and what state allows, validates the whole change before writing anything, and writes an
audit event. A refused change raises a ``DomainError`` with field-level messages and
leaves the database as it was.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from fundapp.accounts.models import ApiKey, Membership, Organisation, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from fundapp.kernel import inputs
from fundapp.kernel.approvals import decisions_cancel
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.notices import page_url
from fundapp.kernel.problems import Problems
from fundapp.uploads.pdf import check_pdf_upload
from projects import permissions
from projects.models import (
    Attachment,
    AwardDecision,
    BackgroundIP,
    BudgetCategory,
    BudgetLine,
    Call,
    CallKind,
    ConsortiumMember,
    ConsortiumRole,
    DeliverableKind,
    DuplicateCheckPoint,
    Endorsement,
    EvidenceLevel,
    KpiAggregation,
    KpiDirection,
    PersonRole,
    Proposal,
    ProposalDeliverable,
    ProposalKPI,
    ProposalPerson,
    ProposalStage,
    ProposalState,
    ProposalVersion,
    ResearchArea,
)
from projects.models.proposals import PROPOSAL_WORKFLOW
from projects.rules import proposals as rules
from projects.selectors.proposals import claimed_effort
from projects.services.duplicates import duplicate_check
from projects.services.notices import notify_people
from projects.services.outbox import proposal_event

# A mobility call (§25) takes visit applications, not proposals.
MOBILITY_CALL_REFUSED = gettext_lazy(
    "This is a talent-exchange call; it takes visit applications, not proposals."
)
SECTIONS = ("basics", "consortium", "stages", "budget", "ip_plan", "security")
PDF_MAGIC = b"%PDF-"
# How a KPI is verified (§22): a paragraph, not a report.
MEANS_OF_VERIFICATION_MAX = 2000


# --------------------------------------------------------------------------- helpers


def _lock(proposal: Proposal) -> Proposal:
    return (
        Proposal.objects.select_for_update(of=("self",)).select_related("call").get(pk=proposal.pk)
    )


def _transition(
    proposal: Proposal, target: str, *, actor: Actor | None, agreed: bool = False
) -> str:
    """``PROPOSAL_WORKFLOW``'s check of the move and the actor; sets the state and returns
    the one before (the caller holds the row lock, saves and audits)."""
    return PROPOSAL_WORKFLOW.move(proposal, target, actor=actor, agreed=agreed)


def _require_draft(proposal: Proposal) -> None:
    if proposal.state != ProposalState.DRAFT:
        raise Conflict(
            _("Only a draft can be changed; this proposal is “%(state)s”.")
            % {"state": ProposalState(proposal.state).label},
            code="invalid_state",
        )


def _fail(problems: Problems) -> None:
    if problems:
        raise ValidationFailed(
            _("The proposal has errors; see the fields."), errors=problems.as_dict()
        )


def _actor_fields(actor: Actor) -> dict[str, Any]:
    if isinstance(actor, ApiKey):
        return {"created_by": None, "created_by_api_key": actor}
    return {"created_by": actor, "created_by_api_key": None}


def _bump(proposal: Proposal, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != proposal.version:
        raise Conflict(
            _(
                "Someone saved this proposal after you opened it (version %(current)d, yours %(yours)d). Reload to see their changes; nothing of yours was lost on screen."
            )
            % {"current": proposal.version, "yours": int(expected_version)},
            code="stale_version",
            errors={
                "version": [
                    _("This version is out of date; the current version is %(v)d.")
                    % {"v": proposal.version}
                ]
            },
        )
    proposal.version += 1
    proposal.updated_at = timezone.now()


# --------------------------------------------------------------------------- creation


def proposal_create(*, actor: Actor, call: Call, basics: dict[str, Any] | None = None) -> Proposal:
    """Start a draft in an open call. A person becomes its principal investigator for their
    first organisation and may edit it (guardian ``change_proposal``)."""
    if call.kind != CallKind.RESEARCH:
        raise ValidationFailed(MOBILITY_CALL_REFUSED, errors={"call": [MOBILITY_CALL_REFUSED]})
    if not call.is_open_at(timezone.now()):
        raise ValidationFailed(
            _("This call is not open for proposals."),
            errors={"call": [_("This call is not open for proposals.")]},
        )
    problems = Problems()
    lead_member: tuple[Organisation, str] | None = None
    if isinstance(actor, User):
        membership = actor.memberships.select_related("organisation").order_by("id").first()
        if membership is None:
            raise PermissionDenied(
                _("Only members of a research organisation can start a proposal.")
            )
        org = membership.organisation
        role = {"JP": ConsortiumRole.LEAD_JP, "KR": ConsortiumRole.LEAD_KR}.get(
            org.country, ConsortiumRole.IN_KIND
        )
        lead_member = (org, role)
    elif isinstance(actor, ApiKey):
        if not actor.has_scope("proposals:write"):
            raise PermissionDenied(_("This API key lacks the proposals:write scope."))
        org = actor.organisation
        key_role = {"JP": ConsortiumRole.LEAD_JP, "KR": ConsortiumRole.LEAD_KR}.get(org.country)
        if key_role is None:
            raise PermissionDenied(
                _("Only a Japanese or Korean lead organisation's system can start a proposal.")
            )
        lead_member = (org, key_role)
    with transaction.atomic():
        proposal = Proposal(call=call, state=ProposalState.DRAFT, **_actor_fields(actor))
        values = _clean_basics(problems, basics or {}, call) if basics else {}
        _fail(problems)
        for key, value in values.items():
            setattr(proposal, key, value)
        proposal.save()
        if lead_member:
            member = ConsortiumMember.objects.create(
                proposal=proposal, organisation=lead_member[0], role=lead_member[1], order=0
            )
            if isinstance(actor, User):
                ProposalPerson.objects.create(
                    proposal=proposal,
                    member=member,
                    user=actor,
                    role=PersonRole.PI,
                    effort_percent=10,
                )
        if isinstance(actor, User):
            assign_perm("projects.view_proposal", actor, proposal)
            assign_perm("projects.change_proposal", actor, proposal)
        audit_record(
            actor=actor,
            action="proposal.created",
            obj=proposal,
            after={"call": call.pk, "state": proposal.state},
        )
    return proposal


# --------------------------------------------------------------------------- sections


def _clean_basics(
    problems: Problems, data: dict[str, Any], call: Call, current: Proposal | None = None
) -> dict[str, Any]:
    """Clean the basics that ``data`` names; fields it leaves out keep their value."""
    values: dict[str, Any] = {}
    for lang in ("en", "ja", "ko"):
        if f"title_{lang}" in data:
            values[f"title_{lang}"] = inputs.text(
                problems, f"title_{lang}", data.get(f"title_{lang}"), max_length=300
            )
        if f"abstract_{lang}" in data:
            values[f"abstract_{lang}"] = inputs.text(
                problems, f"abstract_{lang}", data.get(f"abstract_{lang}"), max_length=10000
            )
    if "research_area" in data:
        area_ref = data.get("research_area")
        area = None
        if isinstance(area_ref, ResearchArea):
            area = area_ref
        elif area_ref not in (None, ""):
            lookup = Q(code=str(area_ref))
            if str(area_ref).isascii() and str(area_ref).isdigit():
                lookup |= Q(pk=int(str(area_ref)))
            area = ResearchArea.objects.filter(lookup).first()
            if area is None:
                problems.add("research_area", _("Unknown research area."))
        if area is not None:
            call_codes = list(call.research_areas.values_list("code", flat=True))
            if not any(area.code == c or area.code.startswith(c + ".") for c in call_codes):
                problems.add("research_area", _("This research area is not part of the call."))
        values["research_area"] = area
    if "keywords" in data:
        values["keywords"] = inputs.string_list(
            problems, "keywords", data.get("keywords"), max_items=10, max_length=60
        )
    for name in ("trl_now", "trl_target"):
        if name in data:
            values[name] = inputs.integer(
                problems, name, data.get(name), minimum=1, maximum=9, required=False
            )
    trl_now = values.get("trl_now", current.trl_now if current else None)
    trl_target = values.get("trl_target", current.trl_target if current else None)
    if trl_now and trl_target and trl_target < trl_now:
        problems.add("trl_target", _("The target TRL cannot be below the current TRL."))
    return values


def _apply_basics(
    proposal: Proposal, data: dict[str, Any], problems: Problems
) -> Callable[[], None]:
    values = _clean_basics(problems, data, proposal.call, proposal)

    def write() -> None:
        for key, value in values.items():
            setattr(proposal, key, value)

    return write


def _apply_consortium(
    proposal: Proposal, data: dict[str, Any], problems: Problems
) -> Callable[[], None]:
    members_in = inputs.item_list(problems, "members", data.get("members"))
    people_in = inputs.item_list(problems, "people", data.get("people"))
    members: list[tuple[Organisation, str]] = []
    facts: list[rules.MemberFacts] = []
    for i, item in enumerate(members_in):
        org = inputs.organisation(problems, f"members.{i}.organisation", item.get("organisation"))
        role = inputs.choice(problems, f"members.{i}.role", item.get("role"), ConsortiumRole)
        if org and role:
            members.append((org, role))
            facts.append(rules.MemberFacts(org.pk, org.country, role))
    problems.extend(rules.consortium_problems(facts, complete=False))
    org_ids = {org.pk for org, _role in members}
    people: list[tuple[User, int, str, int]] = []
    positions: list[int] = []
    seen_users: set[int] = set()
    for i, item in enumerate(people_in):
        user = inputs.person(problems, f"people.{i}.user", item.get("user"))
        org = inputs.organisation(problems, f"people.{i}.organisation", item.get("organisation"))
        role = inputs.choice(problems, f"people.{i}.role", item.get("role"), PersonRole)
        effort = inputs.integer(
            problems,
            f"people.{i}.effort_percent",
            item.get("effort_percent"),
            minimum=1,
            maximum=100,
        )
        if org and org.pk not in org_ids:
            problems.add(
                f"people.{i}.organisation", _("This organisation is not in the consortium.")
            )
        if user and user.pk in seen_users:
            problems.add(f"people.{i}.user", _("This person is already named."))
        if user and org and role and effort:
            seen_users.add(user.pk)
            people.append((user, org.pk, role, effort))
            positions.append(i)
    # A named person speaks for an organisation they belong to (their e-Rad affiliation).
    affiliations = set(
        Membership.objects.filter(
            user_id__in=[p[0].pk for p in people], organisation_id__in=[p[1] for p in people]
        ).values_list("user_id", "organisation_id")
    )
    for i, (user, org_id, _role, _effort) in zip(positions, people, strict=True):
        if (user.pk, org_id) not in affiliations:
            problems.add(f"people.{i}.user", _("This person is not a member of this organisation."))
    pis_per_org: dict[int, int] = {}
    for _user, org_id, role, _effort in people:
        if role == PersonRole.PI:
            pis_per_org[org_id] = pis_per_org.get(org_id, 0) + 1
    if any(count > 1 for count in pis_per_org.values()):
        problems.add("people", _("Each organisation names at most one principal investigator."))

    def write() -> None:
        previous_users = set(proposal.people.values_list("user_id", flat=True))
        ProposalPerson.objects.filter(proposal=proposal).delete()
        proposal.members.all().delete()
        member_by_org: dict[int, ConsortiumMember] = {}
        for order, (org, role) in enumerate(members):
            member_by_org[org.pk] = ConsortiumMember.objects.create(
                proposal=proposal, organisation=org, role=role, order=order
            )
        for user, org_id, role, effort in people:
            ProposalPerson.objects.create(
                proposal=proposal,
                member=member_by_org[org_id],
                user=user,
                role=role,
                effort_percent=effort,
            )
        _sync_people_permissions(proposal, previous_users, people)

    return write


def _sync_people_permissions(
    proposal: Proposal, previous_user_ids: set[int], people: list[tuple[User, int, str, int]]
) -> None:
    """Named people see the proposal; PIs (and the creator) may edit it (guardian grants)."""
    current = {user.pk: (user, role) for user, _org, role, _effort in people}
    creator_id = proposal.created_by_id
    for user_id in previous_user_ids - set(current):
        if user_id == creator_id:
            continue
        gone = User.objects.get(pk=user_id)
        remove_perm("projects.view_proposal", gone, proposal)
        remove_perm("projects.change_proposal", gone, proposal)
    for user, role in current.values():
        assign_perm("projects.view_proposal", user, proposal)
        if role == PersonRole.PI:
            assign_perm("projects.change_proposal", user, proposal)
        elif user.pk != creator_id:
            remove_perm("projects.change_proposal", user, proposal)


MAX_DELIVERABLES_PER_STAGE = 20


def _clean_deliverables(problems: Problems, path: str, raw: Any) -> list[dict[str, Any]]:
    """A stage's deliverables (§24): a title in at least one language, a kind, the month of
    the stage it is due in (by default the stage's last), and whether it is mandatory
    (by default it is: a deliverable holds its gate unless the plan says otherwise)."""
    items = inputs.item_list(problems, f"{path}.deliverables", raw)
    if len(items) > MAX_DELIVERABLES_PER_STAGE:
        problems.add(
            f"{path}.deliverables",
            _("At most %(n)d deliverables per stage.") % {"n": MAX_DELIVERABLES_PER_STAGE},
        )
    cleaned = []
    for j, item in enumerate(items):
        dpath = f"{path}.deliverables.{j}"
        titles = {
            f"title_{lang}": inputs.text(
                problems, f"{dpath}.title_{lang}", item.get(f"title_{lang}"), max_length=300
            )
            for lang in rules.NAME_LANGUAGES
        }
        if not any(titles.values()):
            language = (get_language() or "en")[:2]
            field = f"title_{language}" if language in rules.NAME_LANGUAGES else "title_en"
            problems.add(
                f"{dpath}.{field}",
                _("Give the deliverable a title in at least one language."),
            )
        due_month = item.get("due_month")
        if due_month in (None, ""):
            month = 0  # left out: due at the end of the stage (the caller fills it in)
        else:
            month = (
                inputs.integer(problems, f"{dpath}.due_month", due_month, minimum=1, maximum=60)
                or 0
            )
        cleaned.append(
            {
                **titles,
                "kind": inputs.choice(
                    problems, f"{dpath}.kind", item.get("kind") or "", DeliverableKind
                ),
                "due_month": month,
                "mandatory": inputs.boolean(
                    problems, f"{dpath}.mandatory", item.get("mandatory", True)
                ),
            }
        )
    return cleaned


def _apply_stages(proposal: Proposal, data: Any, problems: Problems) -> Callable[[], None]:
    stages_in = inputs.item_list(problems, "stages", data)
    cleaned: list[dict[str, Any]] = []
    codes: set[str] = set()
    for i, item in enumerate(stages_in):
        path = f"stages.{i}"
        kpis: list[dict[str, Any]] = []
        stage: dict[str, Any] = {
            "number": i + 1,
            "title": inputs.text(
                problems, f"{path}.title", item.get("title"), max_length=300, required=True
            ),
            "months": inputs.integer(
                problems, f"{path}.months", item.get("months"), minimum=1, maximum=60
            )
            or 0,
            "deliverable": inputs.text(
                problems, f"{path}.deliverable", item.get("deliverable"), max_length=5000
            ),
            "planned_jpy": inputs.amount(problems, f"{path}.planned_jpy", item.get("planned_jpy")),
            "planned_krw": inputs.amount(problems, f"{path}.planned_krw", item.get("planned_krw")),
            "kpis": kpis,
            "deliverables": _clean_deliverables(problems, path, item.get("deliverables")),
        }
        for j, kpi in enumerate(inputs.item_list(problems, f"{path}.kpis", item.get("kpis"))):
            kpath = f"{path}.kpis.{j}"
            code = inputs.text(
                problems, f"{kpath}.code", kpi.get("code"), max_length=40, required=True
            )
            if code and code in codes:
                problems.add(f"{kpath}.code", _("KPI codes must be unique in the proposal."))
            codes.add(code)
            baseline = inputs.decimal(problems, f"{kpath}.baseline", kpi.get("baseline"))
            target = inputs.decimal(problems, f"{kpath}.target", kpi.get("target"))
            weight = inputs.decimal(
                problems, f"{kpath}.weight", kpi.get("weight", "1"), max_digits=8, places=4
            )
            if baseline is not None and target is not None and weight is not None:
                problems.extend(
                    rules.kpi_problems(
                        kpath,
                        baseline=baseline,
                        target=target,
                        weight=weight,
                        direction=str(kpi.get("direction") or ""),
                    )
                )
            names = {
                f"name_{lang}": inputs.text(
                    problems, f"{kpath}.name_{lang}", kpi.get(f"name_{lang}"), max_length=200
                )
                for lang in rules.NAME_LANGUAGES
            }
            problems.extend(
                rules.kpi_name_problems(
                    kpath,
                    {lang: names[f"name_{lang}"] for lang in rules.NAME_LANGUAGES},
                    language=(get_language() or "en")[:2],
                )
            )
            mandatory = inputs.boolean(problems, f"{kpath}.mandatory", kpi.get("mandatory", False))
            # Left out, the evidence level is the least the KPI may have (§22).
            evidence = inputs.choice(
                problems,
                f"{kpath}.evidence",
                kpi.get("evidence")
                or (EvidenceLevel.DOCUMENT if mandatory else EvidenceLevel.NONE),
                EvidenceLevel,
            )
            problems.extend(
                rules.kpi_evidence_problems(kpath, mandatory=mandatory, evidence=evidence)
            )
            kpis.append(
                {
                    "code": code,
                    **names,
                    **{
                        f"means_of_verification_{lang}": inputs.text(
                            problems,
                            f"{kpath}.means_of_verification_{lang}",
                            kpi.get(f"means_of_verification_{lang}"),
                            max_length=MEANS_OF_VERIFICATION_MAX,
                        )
                        for lang in rules.NAME_LANGUAGES
                    },
                    "evidence": evidence or EvidenceLevel.NONE,
                    "unit": inputs.text(problems, f"{kpath}.unit", kpi.get("unit"), max_length=40),
                    "direction": inputs.choice(
                        problems, f"{kpath}.direction", kpi.get("direction"), KpiDirection
                    ),
                    "baseline": baseline,
                    "target": target,
                    "weight": weight,
                    "mandatory": mandatory,
                    "aggregation": inputs.choice(
                        problems,
                        f"{kpath}.aggregation",
                        kpi.get("aggregation") or KpiAggregation.LATEST,
                        KpiAggregation,
                    ),
                }
            )
        for j, deliverable in enumerate(stage["deliverables"]):
            deliverable["due_month"] = deliverable["due_month"] or stage["months"] or 1
            if stage["months"] and deliverable["due_month"] > stage["months"]:
                problems.add(
                    f"{path}.deliverables.{j}.due_month",
                    _("A deliverable is due by its stage's gate: month %(months)d at the latest.")
                    % {"months": stage["months"]},
                )
        cleaned.append(stage)
    facts = [
        rules.StageFacts(
            s["number"], s["months"], s["planned_jpy"], s["planned_krw"], len(s["kpis"])
        )
        for s in cleaned
    ]
    problems.extend(rules.stage_plan_problems(facts, _call_bounds(proposal.call), complete=False))

    def write() -> None:
        proposal.kpis.all().delete()
        proposal.stages.all().delete()
        for s in cleaned:
            stage = ProposalStage.objects.create(
                proposal=proposal,
                number=s["number"],
                title=s["title"],
                months=s["months"],
                deliverable=s["deliverable"],
                planned_jpy=s["planned_jpy"],
                planned_krw=s["planned_krw"],
            )
            ProposalKPI.objects.bulk_create(
                ProposalKPI(proposal=proposal, stage=stage, **k) for k in s["kpis"]
            )
            ProposalDeliverable.objects.bulk_create(
                ProposalDeliverable(proposal=proposal, stage=stage, **d) for d in s["deliverables"]
            )

    return write


def _apply_budget(proposal: Proposal, data: Any, problems: Problems) -> Callable[[], None]:
    lines_in = inputs.item_list(problems, "budget", data)
    lines: list[tuple[Organisation, str, str, int]] = []
    seen: set[tuple[int, str]] = set()
    facts: list[rules.BudgetFacts] = []
    for i, item in enumerate(lines_in):
        org = inputs.organisation(problems, f"budget.{i}.organisation", item.get("organisation"))
        category = inputs.choice(
            problems, f"budget.{i}.category", item.get("category"), BudgetCategory
        )
        amount = inputs.amount(problems, f"budget.{i}.amount", item.get("amount"))
        if org is None or not category:
            continue
        if (org.pk, category) in seen:
            problems.add(
                f"budget.{i}.category", _("This organisation already has a line in this category.")
            )
        seen.add((org.pk, category))
        currency = "JPY" if org.country == "JP" else "KRW"
        facts.append(
            rules.BudgetFacts(org.pk, org.country, item.get("currency") or currency, amount)
        )
        lines.append((org, category, currency, amount))
    problems.extend(rules.budget_problems(facts, [], complete=False))

    def write() -> None:
        member_roles = dict(proposal.members.values_list("organisation_id", "role"))
        for i, (org, _category, _currency, _amount) in enumerate(lines):
            if org.pk not in member_roles:
                problems.add(
                    f"budget.{i}.organisation", _("This organisation is not in the consortium.")
                )
            elif member_roles[org.pk] == ConsortiumRole.IN_KIND:
                problems.add(f"budget.{i}.organisation", _("In-kind partners receive no funding."))
        _fail(problems)
        proposal.budget_lines.all().delete()
        BudgetLine.objects.bulk_create(
            BudgetLine(proposal=proposal, organisation=org, category=cat, currency=cur, amount=amt)
            for org, cat, cur, amt in lines
        )

    return write


def _apply_ip_plan(
    proposal: Proposal, data: dict[str, Any], problems: Problems
) -> Callable[[], None]:
    items = inputs.item_list(problems, "background_ip", data.get("background_ip"))
    cleaned: list[tuple[str, Organisation, str]] = []
    for i, item in enumerate(items):
        title = inputs.text(
            problems, f"background_ip.{i}.title", item.get("title"), max_length=300, required=True
        )
        owner = inputs.organisation(problems, f"background_ip.{i}.owner", item.get("owner"))
        description = inputs.text(
            problems, f"background_ip.{i}.description", item.get("description"), max_length=5000
        )
        if owner:
            cleaned.append((title, owner, description))
    terms = inputs.text(problems, "licence_terms", data.get("licence_terms"), max_length=10000)

    def write() -> None:
        proposal.ip_licence_terms = terms
        proposal.background_ip.all().delete()
        BackgroundIP.objects.bulk_create(
            BackgroundIP(proposal=proposal, title=t, owner=o, description=d) for t, o, d in cleaned
        )

    return write


def _apply_security(
    proposal: Proposal, data: dict[str, Any], problems: Problems
) -> Callable[[], None]:
    dual_use = inputs.boolean(problems, "dual_use", data.get("dual_use"))
    categories = inputs.string_list(
        problems,
        "controlled_categories",
        data.get("controlled_categories"),
        max_items=20,
        max_length=60,
    )
    notes = inputs.text(
        problems, "security_notes", data.get("notes", data.get("security_notes")), max_length=5000
    )

    def write() -> None:
        proposal.dual_use = dual_use
        proposal.controlled_categories = categories
        proposal.security_notes = notes

    return write


_APPLIERS: dict[str, Callable[[Proposal, Any, Problems], Callable[[], None]]] = {
    "basics": _apply_basics,
    "consortium": _apply_consortium,
    "stages": _apply_stages,
    "budget": _apply_budget,
    "ip_plan": _apply_ip_plan,
    "security": _apply_security,
}


def proposal_update(
    *, proposal: Proposal, actor: Actor, expected_version: int | None, changes: dict[str, Any]
) -> Proposal:
    """Save any of the draft's sections (basics, consortium, stages, budget, ip_plan, security).

    Guarantees: the row is locked; a stale ``expected_version`` answers 409 with nothing
    written; every section is validated before any is written; all or nothing; the version
    goes up by one; one audit event names the sections changed.
    """
    unknown = set(changes) - set(SECTIONS)
    if unknown:
        raise ValidationFailed(
            _("Unknown sections."), errors={s: [_("Unknown section.")] for s in sorted(unknown)}
        )
    with transaction.atomic():
        locked = _lock(proposal)
        _require_draft(locked)
        _require(permissions.can_edit_proposal(actor, locked))
        _bump(locked, expected_version)
        problems = Problems()
        writers = [
            _APPLIERS[name](locked, changes[name], problems) for name in SECTIONS if name in changes
        ]
        _fail(problems)
        for write in writers:
            write()
        locked.save()
        audit_record(
            actor=actor,
            action="proposal.updated",
            obj=locked,
            after={"version": locked.version, "sections": sorted(changes)},
        )
    return locked


# --------------------------------------------------------------------------- attachments


def _looks_like_pdf(head: bytes, tail: bytes) -> bool:
    return head.startswith(PDF_MAGIC) and b"%%EOF" in tail


def attachment_add(
    *, proposal: Proposal, actor: Actor, upload: Any, kind: str = Attachment.Kind.OTHER
) -> Attachment:
    """Store a PDF outside the web root. Checked by content (``%PDF-`` header and ``%%EOF``
    trailer), ≤ 20 MB, ≤ 10 per proposal; the file is written before the row and removed
    again if the transaction fails."""
    problems = Problems()
    kind = inputs.choice(problems, "kind", kind or Attachment.Kind.OTHER, Attachment.Kind)
    _fail(problems)
    size = int(getattr(upload, "size", 0) or 0)
    if size > settings.MAX_ATTACHMENT_BYTES:
        raise PayloadTooLarge(
            _("The file is larger than 20 MB."),
            errors={"file": [_("The file is larger than 20 MB.")]},
        )
    if size == 0:
        raise ValidationFailed(_("The file is empty."), errors={"file": [_("The file is empty.")]})
    upload.seek(0)
    head = upload.read(1024)
    upload.seek(max(0, size - 2048))
    tail = upload.read(2048)
    upload.seek(0)
    if not _looks_like_pdf(head, tail):
        raise UnsupportedMediaType(
            _("Only PDF files are accepted."),
            errors={"file": [_("This file is not a PDF document.")]},
        )
    check_pdf_upload(upload, field="file")  # active content, trailing data (§17)
    name = (
        inputs.text(
            problems,
            "file",
            Path(str(getattr(upload, "name", "") or "document.pdf")).name,
            max_length=255,
        )
        or "document.pdf"
    )
    directory = Path(settings.PRIVATE_MEDIA_ROOT) / "proposals" / str(proposal.pk)
    directory.mkdir(parents=True, exist_ok=True)
    storage_name = f"proposals/{proposal.pk}/{uuid.uuid4().hex}.pdf"
    target = Path(settings.PRIVATE_MEDIA_ROOT) / storage_name
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for chunk in (
            upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(65536), b"")
        ):
            digest.update(chunk)
            out.write(chunk)
    try:
        with transaction.atomic():
            locked = _lock(proposal)
            _require_draft(locked)
            _require(permissions.can_edit_proposal(actor, locked))
            if locked.attachments.count() >= settings.MAX_ATTACHMENTS_PER_PROPOSAL:
                raise ValidationFailed(
                    _("A proposal has at most 10 attachments."),
                    errors={"file": [_("A proposal has at most 10 attachments.")]},
                )
            attachment = Attachment.objects.create(
                proposal=locked,
                kind=kind,
                original_name=name,
                storage_name=storage_name,
                size=size,
                sha256=digest.hexdigest(),
                uploaded_by=actor if isinstance(actor, User) else None,
            )
            locked.version += 1
            locked.updated_at = timezone.now()
            locked.save(update_fields=["version", "updated_at"])
            audit_record(
                actor=actor,
                action="proposal.attachment_added",
                obj=locked,
                after={"attachment": attachment.pk, "name": name, "size": size},
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return attachment


def attachment_remove(*, attachment: Attachment, actor: Actor) -> None:
    with transaction.atomic():
        locked = _lock(attachment.proposal)
        _require_draft(locked)
        _require(permissions.can_edit_proposal(actor, locked))
        path = Path(settings.PRIVATE_MEDIA_ROOT) / attachment.storage_name
        audit_record(
            actor=actor,
            action="proposal.attachment_removed",
            obj=locked,
            before={"attachment": attachment.pk, "name": attachment.original_name},
        )
        attachment.delete()
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save(update_fields=["version", "updated_at"])
        transaction.on_commit(lambda: path.unlink(missing_ok=True))


def attachment_path(attachment: Attachment) -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / attachment.storage_name


# --------------------------------------------------------------------------- eligibility


def _call_bounds(call: Call) -> rules.CallBounds:
    return rules.CallBounds(
        call.min_stages,
        call.max_stages,
        call.max_project_months,
        call.max_budget_jpy,
        call.max_budget_krw,
    )


def eligibility_problems(proposal: Proposal, *, now: datetime | None = None) -> Problems:
    """Every rule a proposal must meet to be submitted and to be eligible (§5, §6)."""
    now = now or timezone.now()
    problems = Problems()
    call = proposal.call
    if call.kind != CallKind.RESEARCH:
        problems.add("call", MOBILITY_CALL_REFUSED)
    if not call.is_open_at(now):
        problems.add(
            "call",
            _("The call closed on %(when)s; proposals are no longer accepted.")
            % {"when": timezone.localtime(call.closes_at).strftime("%Y-%m-%d %H:%M %Z")}
            if now >= call.closes_at
            else _("This call is not open for proposals."),
        )
    if not any(getattr(proposal, f"title_{lang}") for lang in ("en", "ja", "ko")):
        problems.add("title_en", _("Give a title in at least one language."))
    if not any(getattr(proposal, f"abstract_{lang}") for lang in ("en", "ja", "ko")):
        problems.add("abstract_en", _("Give an abstract in at least one language."))
    if proposal.research_area_id is None:
        problems.add("research_area", _("Choose a research area."))
    if proposal.trl_now is None:
        problems.add("trl_now", _("This field is required."))
    if proposal.trl_target is None:
        problems.add("trl_target", _("This field is required."))

    members = list(proposal.members.select_related("organisation"))
    problems.extend(
        rules.consortium_problems(
            [rules.MemberFacts(m.organisation_id, m.organisation.country, m.role) for m in members],
            complete=True,
        )
    )
    people = list(proposal.people.select_related("user", "member"))
    for m in members:
        if m.role in permissions.LEAD_ROLES and not any(
            p.member_id == m.pk and p.role == PersonRole.PI for p in people
        ):
            problems.add(
                "people",
                _("Name a principal investigator for %(org)s.") % {"org": m.organisation.name},
            )

    stages = list(proposal.stages.all())
    kpi_counts: dict[int, int] = {}
    for stage_id in proposal.kpis.values_list("stage_id", flat=True):
        kpi_counts[stage_id] = kpi_counts.get(stage_id, 0) + 1
    stage_facts = [
        rules.StageFacts(s.number, s.months, s.planned_jpy, s.planned_krw, kpi_counts.get(s.pk, 0))
        for s in stages
    ]
    problems.extend(rules.stage_plan_problems(stage_facts, _call_bounds(call), complete=True))

    lines = list(proposal.budget_lines.select_related("organisation"))
    member_roles = {m.organisation_id: m.role for m in members}
    for line in lines:
        if line.organisation_id not in member_roles:
            problems.add(
                "budget",
                _("%(org)s has a budget but is not in the consortium.")
                % {"org": line.organisation.name},
            )
        elif (
            member_roles[line.organisation_id] == ConsortiumRole.IN_KIND
            and line.organisation.country in ("JP", "KR")  # outside: budget_problems says so
        ):
            problems.add(
                "budget",
                _("%(org)s is an in-kind partner and receives no funding.")
                % {"org": line.organisation.name},
            )
    problems.extend(
        rules.budget_problems(
            [
                rules.BudgetFacts(b.organisation_id, b.organisation.country, b.currency, b.amount)
                for b in lines
            ],
            stage_facts,
            complete=True,
        )
    )
    if not proposal.attachments.filter(kind=Attachment.Kind.RESEARCH_PLAN).exists():
        problems.add("attachments", _("Attach the research plan as a PDF."))

    this_effort = {p.user_id: p.effort_percent for p in people}
    claimed = claimed_effort(list(this_effort), exclude_proposal_id=proposal.pk)
    problems.extend(
        rules.effort_problems(claimed, this_effort, {p.user_id: str(p.user) for p in people})
    )
    return problems


def proposal_snapshot(proposal: Proposal) -> dict[str, Any]:
    """The frozen content of the proposal: what review and award work from."""
    return {
        "version": proposal.version,
        "call": proposal.call_id,
        "title": {lang: getattr(proposal, f"title_{lang}") for lang in ("en", "ja", "ko")},
        "abstract": {lang: getattr(proposal, f"abstract_{lang}") for lang in ("en", "ja", "ko")},
        "research_area": proposal.research_area.code if proposal.research_area else None,
        "keywords": list(proposal.keywords),
        "trl_now": proposal.trl_now,
        "trl_target": proposal.trl_target,
        "members": [
            {
                "organisation": m.organisation.code,
                "organisation_id": m.organisation_id,
                "country": m.organisation.country,
                "role": m.role,
            }
            for m in proposal.members.select_related("organisation")
        ],
        "people": [
            {
                "user": p.user_id,
                "organisation_id": p.member.organisation_id,
                "role": p.role,
                "effort_percent": p.effort_percent,
            }
            for p in proposal.people.select_related("member")
        ],
        "stages": [
            {
                "number": s.number,
                "title": s.title,
                "months": s.months,
                "deliverable": s.deliverable,
                "planned": {"JPY": s.planned_jpy, "KRW": s.planned_krw},
                "kpis": [
                    {
                        "code": k.code,
                        "name": {"en": k.name_en, "ja": k.name_ja, "ko": k.name_ko},
                        "unit": k.unit,
                        "direction": k.direction,
                        "baseline": str(k.baseline),
                        "target": str(k.target),
                        "weight": str(k.weight),
                        "mandatory": k.mandatory,
                        "aggregation": k.aggregation,
                        "means_of_verification": {
                            "en": k.means_of_verification_en,
                            "ja": k.means_of_verification_ja,
                            "ko": k.means_of_verification_ko,
                        },
                        "evidence": k.evidence,
                    }
                    for k in s.kpis.all()
                ],
                "deliverables": [
                    {
                        "title": {"en": d.title_en, "ja": d.title_ja, "ko": d.title_ko},
                        "kind": d.kind,
                        "due_month": d.due_month,
                        "mandatory": d.mandatory,
                    }
                    for d in s.deliverables.all()
                ],
            }
            for s in proposal.stages.prefetch_related("kpis", "deliverables")
        ],
        "budget": [
            {
                "organisation_id": b.organisation_id,
                "category": b.category,
                "currency": b.currency,
                "amount": b.amount,
            }
            for b in proposal.budget_lines.all()
        ],
        "ip_plan": {
            "background_ip": [
                {"title": b.title, "owner": b.owner_id, "description": b.description}
                for b in proposal.background_ip.all()
            ],
            "licence_terms": proposal.ip_licence_terms,
        },
        "security": {
            "dual_use": proposal.dual_use,
            "controlled_categories": list(proposal.controlled_categories),
            "notes": proposal.security_notes,
        },
        "attachments": [
            {"id": a.pk, "kind": a.kind, "name": a.original_name, "sha256": a.sha256}
            for a in proposal.attachments.all()
        ],
    }


# --------------------------------------------------------------------------- transitions


def _proposal_url(proposal: Proposal) -> str:
    return page_url("proposals:detail", proposal.pk)


def _named_pis(proposal: Proposal) -> list[User]:
    return list(
        User.objects.filter(proposal_roles__proposal=proposal, proposal_roles__role=PersonRole.PI)
    )


def _notify_submitted(proposal: Proposal) -> None:
    """The PIs hear that it went in; the lead organisations' research offices that it
    awaits their endorsement (§5, §13)."""
    offices = User.objects.filter(
        memberships__research_office=True,
        memberships__organisation__in=proposal.members.filter(
            role__in=permissions.LEAD_ROLES
        ).values("organisation"),
        is_active=True,
    )
    notify_people(
        users=[*_named_pis(proposal), *offices],
        message="proposal.submitted",
        params={"title": proposal.pk},
        url=_proposal_url(proposal),
    )


def proposal_submit(*, proposal: Proposal, actor: Actor, now: datetime | None = None) -> Proposal:
    """Submit a draft: every eligibility rule is checked by the server clock (a late
    submission is refused whatever the client's clock says); the content is frozen as a
    version; the lead organisations' research offices are then asked to endorse."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(proposal)
        _require_draft(locked)
        _require(permissions.can_submit_proposal(actor, locked))
        problems = eligibility_problems(locked, now=now)
        if problems:
            raise ValidationFailed(
                _("The proposal cannot be submitted yet; see the listed problems."),
                code="not_eligible",
                errors=problems.as_dict(),
            )
        before = _transition(locked, ProposalState.SUBMITTED, actor=actor)
        locked.submitted_at = now
        locked.updated_at = now
        locked.eligibility_reasons = []
        locked.save(update_fields=["state", "submitted_at", "updated_at", "eligibility_reasons"])
        version = ProposalVersion.objects.create(
            proposal=locked, number=locked.version, content=proposal_snapshot(locked)
        )
        audit_record(
            actor=actor,
            action="proposal.submitted",
            obj=locked,
            before={"state": before},
            after={"state": locked.state, "version": version.number},
        )
        proposal_event("proposal.submitted", locked)
        _notify_submitted(locked)
        duplicate_check(proposal=locked, actor=actor, during=DuplicateCheckPoint.SUBMISSION)
    return locked


def proposal_endorse(
    *, proposal: Proposal, actor: Actor, organisation: Organisation | None = None, comment: str = ""
) -> Proposal:
    """A lead organisation's research office endorses a submitted proposal (§5).

    Idempotent per organisation (a unique constraint); when both leads have endorsed, the
    eligibility check runs again and the proposal becomes eligible or ineligible.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(proposal)
        if locked.state != ProposalState.SUBMITTED:
            # A repeated endorsement (a retried request, a second click) answers as the first
            # did, whether or not it names the organisation; an endorsement never given does not.
            if locked.state in (
                ProposalState.ELIGIBLE,
                ProposalState.INELIGIBLE,
                ProposalState.UNDER_REVIEW,
            ):
                mine = permissions.endorsable_organisation_ids(actor, locked)
                if organisation is not None:
                    mine = [oid for oid in mine if oid == organisation.pk]
                if mine and locked.endorsements.filter(organisation_id__in=mine).exists():
                    return locked
            raise Conflict(
                _("Only a submitted proposal awaiting endorsement can be endorsed."),
                code="invalid_state",
            )
        allowed = permissions.endorsable_organisation_ids(actor, locked)
        if not allowed:
            raise PermissionDenied(
                _("Only the research office of a lead organisation may endorse this proposal.")
            )
        if organisation is None:
            pending = [
                oid
                for oid in allowed
                if not locked.endorsements.filter(organisation_id=oid).exists()
            ]
            org_id = (pending or allowed)[0]
        else:
            if organisation.pk not in allowed:
                raise PermissionDenied(_("You may not endorse for this organisation."))
            org_id = organisation.pk
        if now >= locked.call.closes_at:
            raise ValidationFailed(
                _("The call has closed; endorsements are no longer accepted."),
                errors={"call": [_("The call has closed; endorsements are no longer accepted.")]},
            )
        endorsement, created = Endorsement.objects.get_or_create(
            proposal=locked,
            organisation_id=org_id,
            defaults={
                "endorsed_by_user": actor if isinstance(actor, User) else None,
                "endorsed_by_api_key": actor if isinstance(actor, ApiKey) else None,
                "comment": inputs.text(Problems(), "comment", comment, max_length=2000),
            },
        )
        if created:
            audit_record(
                actor=actor, action="proposal.endorsed", obj=locked, after={"organisation": org_id}
            )
        lead_ids = set(
            locked.members.filter(role__in=permissions.LEAD_ROLES).values_list(
                "organisation_id", flat=True
            )
        )
        endorsed_ids = set(locked.endorsements.values_list("organisation_id", flat=True))
        if lead_ids and lead_ids <= endorsed_ids:
            _decide_eligibility(locked, actor=actor, now=now)
    return locked


def proposal_return(
    *,
    proposal: Proposal,
    actor: Actor,
    reason: str,
    organisation: Organisation | None = None,
    now: datetime | None = None,
) -> Proposal:
    """A lead organisation's research office (or its partner system) declines to endorse a
    submitted proposal for now and returns it to the PIs with a reason (§5).

    Guarantees: the row is locked; only a proposal awaiting endorsement, before the call
    closes, by whoever may endorse it, with a reason. The proposal moves submitted → draft
    along ``PROPOSAL_WORKFLOW``, at a new version (the next submission freezes a version of
    its own); the endorsements of the returned submission are removed, so the next one is
    endorsed afresh. Audited ``proposal.returned`` (organisation, reason, endorsements
    removed) with its outbox event; the PIs are told in their own language. A refusal
    changes nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(proposal)
        if locked.state != ProposalState.SUBMITTED:
            raise Conflict(
                _("Only a submitted proposal awaiting endorsement can be returned."),
                code="invalid_state",
            )
        allowed = permissions.endorsable_organisation_ids(actor, locked)
        if not allowed:
            raise PermissionDenied(
                _("Only the research office of a lead organisation may return this proposal.")
            )
        if organisation is None:
            org_id = allowed[0]
        elif organisation.pk in allowed:
            org_id = organisation.pk
        else:
            raise PermissionDenied(_("You may not return the proposal for this organisation."))
        problems = Problems()
        reason = inputs.text(problems, "reason", reason, max_length=2000, required=True)
        if problems:
            raise ValidationFailed(
                _("Say why the proposal goes back to the principal investigators."),
                errors=problems.as_dict(),
            )
        if now >= locked.call.closes_at:
            message = _("The call has closed; the proposal can no longer be returned.")
            raise ValidationFailed(message, errors={"call": [message]})
        before = _transition(locked, ProposalState.DRAFT, actor=actor)
        cleared = sorted(locked.endorsements.values_list("organisation_id", flat=True))
        locked.endorsements.all().delete()
        locked.version += 1
        locked.updated_at = now
        locked.submitted_at = None
        locked.eligibility_reasons = []
        locked.save(
            update_fields=["state", "version", "updated_at", "submitted_at", "eligibility_reasons"]
        )
        audit_record(
            actor=actor,
            action="proposal.returned",
            obj=locked,
            before={"state": before, "endorsements": cleared},
            after={
                "state": locked.state,
                "organisation": org_id,
                "reason": reason,
                "version": locked.version,
            },
        )
        returned_by = Organisation.objects.get(pk=org_id)
        proposal_event("proposal.returned", locked, organisation=returned_by.code, reason=reason)
        notify_people(
            users=_named_pis(locked),
            message="proposal.returned",
            params={"title": locked.pk, "organisation": returned_by.pk, "reason": reason},
            url=_proposal_url(locked),
        )
    return locked


def _decide_eligibility(locked: Proposal, *, actor: Actor | None, now: datetime) -> None:
    problems = eligibility_problems(locked, now=now)
    # The call-open rule was met at submission; endorsement timing is checked separately.
    reasons = [msg for field, msgs in problems.as_dict().items() if field != "call" for msg in msgs]
    target = ProposalState.INELIGIBLE if reasons else ProposalState.ELIGIBLE
    # The eligibility rules decide, whoever's submission or endorsement completed the file.
    before = _transition(locked, target, actor=None)
    locked.eligibility_reasons = reasons
    locked.updated_at = now
    locked.save(update_fields=["state", "eligibility_reasons", "updated_at"])
    audit_record(
        actor=actor,
        action=f"proposal.{target}",
        obj=locked,
        before={"state": before},
        after={"state": target, "reasons": reasons},
    )
    proposal_event("proposal.eligibility_decided", locked, eligibility_reasons=reasons)
    notify_people(
        users=_named_pis(locked),
        message="proposal.eligibility_decided",
        params={"title": locked.pk, "state": target},
        url=_proposal_url(locked),
    )


def proposal_withdraw(*, proposal: Proposal, actor: Actor, reason: str = "") -> Proposal:
    """The consortium withdraws its proposal (draft, submitted, eligible or under review).

    Locked, checked against ``PROPOSAL_WORKFLOW``, audited ``proposal.withdrawn`` with its
    outbox event. A pending award decision on it has lost its ground: it is cancelled in
    the same transaction (``award.cancelled``), so no officer completes it later.
    """
    with transaction.atomic():
        locked = _lock(proposal)
        _require(permissions.can_withdraw_proposal(actor, locked))
        before = _transition(locked, ProposalState.WITHDRAWN, actor=actor)
        decisions_cancel(
            AwardDecision.objects.filter(proposal=locked), actor=actor, reason="proposal withdrawn"
        )
        locked.withdrawn_at = timezone.now()
        locked.updated_at = locked.withdrawn_at
        locked.save(update_fields=["state", "withdrawn_at", "updated_at"])
        audit_record(
            actor=actor,
            action="proposal.withdrawn",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "reason": inputs.text(Problems(), "reason", reason, max_length=2000),
            },
        )
        proposal_event("proposal.withdrawn", locked)
    return locked


def proposals_close_for_call(*, call: Call) -> int:
    """At the deadline, a submitted proposal still missing an endorsement is ineligible (§5)."""
    count = 0
    for pk in call.proposals.filter(state=ProposalState.SUBMITTED).values_list("pk", flat=True):
        with transaction.atomic():
            locked = (
                Proposal.objects.select_for_update(of=("self",)).select_related("call").get(pk=pk)
            )
            if locked.state != ProposalState.SUBMITTED:
                continue
            lead_ids = set(
                locked.members.filter(role__in=permissions.LEAD_ROLES).values_list(
                    "organisation_id", flat=True
                )
            )
            missing = lead_ids - set(locked.endorsements.values_list("organisation_id", flat=True))
            names = ", ".join(o.name for o in Organisation.objects.filter(pk__in=missing))
            reason = _("Not endorsed by the research office of %(orgs)s before the deadline.") % {
                "orgs": names
            }
            before = _transition(locked, ProposalState.INELIGIBLE, actor=None)
            locked.eligibility_reasons = [str(reason)]
            locked.updated_at = timezone.now()
            locked.save(update_fields=["state", "eligibility_reasons", "updated_at"])
            audit_record(
                actor=None,
                action="proposal.ineligible",
                obj=locked,
                before={"state": before},
                after={"state": locked.state, "reasons": [str(reason)]},
            )
            proposal_event(
                "proposal.eligibility_decided",
                locked,
                eligibility_reasons=locked.eligibility_reasons,
            )
            count += 1
    return count


def get_attachment_for_actor(
    actor: Actor | None, proposal: Proposal, attachment_id: object
) -> Attachment:
    try:
        pk = int(str(attachment_id))
    except (TypeError, ValueError):
        raise NotFound() from None
    attachment = proposal.attachments.filter(pk=pk).first()
    if attachment is None:
        raise NotFound()
    return attachment
