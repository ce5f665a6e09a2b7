"""The notification messages of calls, proposals, reviews, awards and projects (§13.1), and
how their objects are named when a notification is read; registered from
``ProjectsConfig.ready``."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Side
from fundapp.kernel.models import localized
from fundapp.kernel.registry import final_gate_requirement_reason
from fundapp.notifications.messages import (
    Amount,
    Day,
    Label,
    Message,
    Name,
    Plain,
    Reason,
    notification_message_register,
    notification_names_register,
)
from projects.models import (
    AmendmentState,
    AwardOutcome,
    Call,
    Deliverable,
    GateDecisionKind,
    GateOutcome,
    Project,
    Proposal,
    ProposalState,
)
from projects.selectors.deliverables import DELIVERABLES_HOLD

_TITLES = ("pk", "title_en", "title_ja", "title_ko")


def project_titles(ids: Sequence[int]) -> dict[int, str]:
    return {p.pk: localized(p, "title") for p in Project.objects.filter(pk__in=ids).only(*_TITLES)}


def proposal_titles(ids: Sequence[int]) -> dict[int, str]:
    return {p.pk: str(p) for p in Proposal.objects.filter(pk__in=ids).only(*_TITLES)}


def call_titles(ids: Sequence[int]) -> dict[int, str]:
    return {c.pk: localized(c, "title") for c in Call.objects.filter(pk__in=ids).only(*_TITLES)}


def deliverable_titles(ids: Sequence[int]) -> dict[int, str]:
    fields = ("pk", "title_en", "title_ja", "title_ko")
    return {d.pk: d.title for d in Deliverable.objects.filter(pk__in=ids).only(*fields)}


# Why a gate waits for the officers, by name: the projects domain's own holds (§24), then
# the final-gate requirements other domains register (§7).
_GATE_HOLDS = {
    DELIVERABLES_HOLD: _(
        "A mandatory deliverable of this stage is not accepted yet; accept it (or request "
        "changes) before the gate is decided."
    ),
}


def gate_hold_reason(name: str) -> str:
    if name in _GATE_HOLDS:
        return str(_GATE_HOLDS[name])
    return final_gate_requirement_reason(name)


PROPOSAL = Name("proposal")
PROJECT = Name("project")

# Stage reports (§24): due, overdue, awaiting review, reviewed.
REPORT_MESSAGES = (
    Message(
        key="report.due",
        kind="report_due",
        title=_("The report on stage {stage} of “{project}” is due on {due}"),
        params={"project": PROJECT, "stage": Plain(), "due": Day()},
    ),
    Message(
        key="report.overdue",
        kind="report_due",
        title=_("The report on stage {stage} of “{project}” is overdue (due on {due})"),
        params={"project": PROJECT, "stage": Plain(), "due": Day()},
    ),
    Message(
        key="report.submitted",
        kind="decision_needed",
        title=_("The report on stage {stage} of “{project}” awaits your review"),
        params={"project": PROJECT, "stage": Plain()},
    ),
    Message(
        key="report.accepted",
        kind="report_reviewed",
        title=_("The report on stage {stage} of “{project}” was accepted"),
        params={"project": PROJECT, "stage": Plain()},
    ),
    Message(
        key="report.returned",
        kind="report_reviewed",
        title=_("The report on stage {stage} of “{project}” was returned for changes"),
        # The officer's reason, as they wrote it.
        body="{reason}",
        params={"project": PROJECT, "stage": Plain(), "reason": Plain()},
    ),
)

MESSAGES = (
    Message(
        key="proposal.submitted",
        kind="proposal_submitted",
        title=_("Proposal submitted: “{title}” awaits endorsement"),
        params={"title": PROPOSAL},
    ),
    Message(
        key="proposal.returned",
        kind="proposal_returned",
        title=_("Your proposal “{title}” was returned to you by {organisation}"),
        body=_(
            "The research office of {organisation} did not endorse the proposal and "
            "returned it to you as a draft: {reason} Edit it and submit it again; "
            "each lead organisation's research office will then be asked to endorse it."
        ),
        params={"title": PROPOSAL, "organisation": Name("organisation"), "reason": Plain()},
    ),
    Message(
        key="proposal.eligibility_decided",
        kind="eligibility_decided",
        title=_("Your proposal “{title}” is {state}"),
        params={"title": PROPOSAL, "state": Label(ProposalState)},
    ),
    Message(
        key="review.assigned",
        kind="review_assigned",
        title=_("You are invited to review a proposal in “{call}”"),
        body=_("Please declare any conflict of interest before you read and score it."),
        params={"call": Name("call")},
    ),
    Message(
        key="award.awaits_approval",
        kind="decision_needed",
        title=_("An award decision awaits your approval: {title}"),
        body=_("{officer} approved “{outcome}” for the {side} side."),
        params={
            "title": PROPOSAL,
            "officer": Name("person"),
            "outcome": Label(AwardOutcome),
            "side": Label(Side),
        },
    ),
    Message(
        key="award.decided",
        kind="award_decided",
        title=_("Award decision on “{title}”: {outcome}"),
        body="{reason}",
        params={"title": PROPOSAL, "outcome": Label(ProposalState), "reason": Plain()},
    ),
    Message(
        key="payment.confirmed",
        kind="payment_confirmed",
        title=_("{amount} to {org}"),
        params={"amount": Amount(), "currency": Plain(), "org": Name("organisation")},
    ),
    Message(
        key="tranche.released",
        kind="tranche_released",
        title=_("{amount} for “{project}”, stage {stage}"),
        params={"amount": Amount(), "currency": Plain(), "project": PROJECT, "stage": Plain()},
    ),
    Message(
        key="gate.evaluated",
        kind="gate_evaluated",
        title=_("Stage {number} gate evaluated: {outcome} (score {score})"),
        params={"number": Plain(), "outcome": Label(GateOutcome), "score": Plain()},
    ),
    Message(
        key="gate.decision_needed",
        kind="decision_needed",
        title=_("Gate of “{project}”, stage {stage}: {outcome}"),
        # Why officers must decide, when a final-gate requirement holds it (by its name).
        body="{reason}",
        params={
            "project": PROJECT,
            "stage": Plain(),
            "outcome": Label(GateOutcome),
            "reason": Reason(gate_hold_reason),
        },
    ),
    Message(
        key="gate.flagged",
        kind="decision_needed",
        title=_("Anomalies flagged at the gate of “{project}”, stage {stage}: {count}"),
        body=_(
            "The evaluation found patterns that need a closer look (late, exact-target, "
            "jumping or re-entered values, or evidence shared between KPIs). The gate is not "
            "released automatically: two fund officers decide it on its review page."
        ),
        params={"project": PROJECT, "stage": Plain(), "count": Plain()},
    ),
    Message(
        key="proposal.duplicate_flagged",
        kind="decision_needed",
        title=_("Possible duplicate funding awaits your resolution: {title}"),
        body=_(
            "A person on this proposal is already on another pending proposal or running "
            "project with a similar title or abstract. Compare both and record a "
            "resolution before the award can complete."
        ),
        params={"title": PROPOSAL},
    ),
    Message(
        key="verifier.designated",
        kind="verifier_designated",
        title=_("You verify KPI measurements of “{project}”"),
        params={"project": PROJECT},
    ),
    Message(
        key="measurement.disputed",
        kind="measurement_disputed",
        title=_("A verifier disputed a measurement of {kpi}"),
        # The verifier's note, as they wrote it.
        body="{note}",
        params={"kpi": Plain(), "note": Plain()},
    ),
    Message(
        key="deliverable.submitted",
        kind="decision_needed",
        title=_("Deliverable “{deliverable}” of “{project}” awaits acceptance"),
        body=_("Accept it, or request changes with a reason."),
        params={"deliverable": Name("deliverable"), "project": PROJECT},
    ),
    Message(
        key="deliverable.accepted",
        kind="deliverable_decided",
        title=_("Deliverable “{deliverable}” of “{project}” was accepted"),
        params={"deliverable": Name("deliverable"), "project": PROJECT},
    ),
    Message(
        key="deliverable.changes_requested",
        kind="deliverable_decided",
        title=_("Changes requested to deliverable “{deliverable}” of “{project}”"),
        # The officer's reason, as they wrote it.
        body="{reason}",
        params={"deliverable": Name("deliverable"), "project": PROJECT, "reason": Plain()},
    ),
    # Amendments (§24): to the project's PIs and the fund officers.
    Message(
        key="amendment.proposed",
        kind="amendment",
        title=_("An amendment to the plan of “{project}” was proposed"),
        body=_("Two fund officers, one from each side, decide it on the amendment's page."),
        params={"project": PROJECT, "amendment": Plain(), "state": Label(AmendmentState)},
    ),
    Message(
        key="amendment.decided",
        kind="amendment",
        title=_("The amendment to the plan of “{project}”: {state}"),
        params={"project": PROJECT, "amendment": Plain(), "state": Label(AmendmentState)},
    ),
    Message(
        key="amendment.awaits_approval",
        kind="decision_needed",
        title=_("Second approval of an amendment to the plan of “{project}”"),
        params={"project": PROJECT, "amendment": Plain()},
    ),
    Message(
        key="deliverable.due",
        kind="deliverable_due",
        title=_("Deliverable “{deliverable}” of “{project}” is due on {due}"),
        params={"deliverable": Name("deliverable"), "project": PROJECT, "due": Day()},
    ),
    Message(
        key="deliverable.overdue",
        kind="deliverable_due",
        title=_("Deliverable “{deliverable}” of “{project}” is overdue (due on {due})"),
        params={"deliverable": Name("deliverable"), "project": PROJECT, "due": Day()},
    ),
    Message(
        key="gate_decision.awaits_approval",
        kind="decision_needed",
        title=_("Second approval of “{kind}” at the gate of “{project}”, stage {stage}"),
        params={"kind": Label(GateDecisionKind), "project": PROJECT, "stage": Plain()},
    ),
)


def register() -> None:
    notification_names_register("project", project_titles)
    notification_names_register("proposal", proposal_titles)
    notification_names_register("call", call_titles)
    notification_names_register("deliverable", deliverable_titles)
    notification_message_register(*MESSAGES, *REPORT_MESSAGES)
