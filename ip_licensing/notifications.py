"""The notification messages of licences, royalties and return allocation (§13.1), and how
licences are named when a notification is read; registered from
``IpLicensingConfig.ready``."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Side
from fundapp.notifications.messages import (
    Amount,
    Day,
    Label,
    Message,
    Name,
    Plain,
    notification_message_register,
    notification_names_register,
)
from ip_licensing.models import Licence, ObligationKind


def licence_references(ids: Sequence[int]) -> dict[int, str]:
    return dict(Licence.objects.filter(pk__in=ids).values_list("pk", "reference"))


# A licence is named by its reference and its parties, each in the reader's language.
LICENCE = {
    "reference": Name("licence"),
    "licensor": Name("organisation"),
    "licensee": Name("organisation"),
}

# An obligation is named by its licence, the licence's parties, its kind and due date.
OBLIGATION = {**LICENCE, "kind": Label(ObligationKind), "due": Day()}

OBLIGATION_MESSAGES = (
    Message(
        key="obligation.evidence_submitted",
        kind="licence_obligation",
        title=_("Evidence submitted for licence {reference}: {kind} due {due}"),
        body=_("{licensee} asks {licensor} to accept it."),
        params=OBLIGATION,
    ),
    Message(
        key="obligation.met",
        kind="licence_obligation",
        title=_("Obligation met under licence {reference}: {kind} due {due}"),
        body=_("{licensor} accepted the evidence of {licensee}."),
        params=OBLIGATION,
    ),
    Message(
        key="obligation.cured",
        kind="licence_obligation",
        title=_("Overdue obligation cured under licence {reference}: {kind} due {due}"),
        body=_("{licensor} accepted the evidence of {licensee} within the cure period."),
        params=OBLIGATION,
    ),
    Message(
        key="obligation.overdue",
        kind="licence_obligation",
        title=_("Cure notice: {kind} under licence {reference} was due {due}"),
        body=_(
            "{licensee} must cure it by {cure_ends}: submit evidence for {licensor} to "
            "accept. After that day the obligation is breached."
        ),
        params={**OBLIGATION, "cure_ends": Day()},
    ),
    Message(
        key="obligation.breached",
        kind="licence_obligation",
        title=_(
            "Obligation breached under licence {reference} ({licensor} → {licensee}): "
            "{kind} due {due}"
        ),
        body=_(
            "The cure period ended on {cure_ends}. Fund officers may convert an exclusive "
            "licence to non-exclusive, suspend it or terminate it."
        ),
        params={**OBLIGATION, "cure_ends": Day()},
    ),
    Message(
        key="obligation.waiver_awaits",
        kind="decision_needed",
        title=_(
            "Waiving {kind} due {due} under licence {reference} ({licensor} → {licensee}) "
            "awaits your approval"
        ),
        body="{reason}",
        params={**OBLIGATION, "reason": Plain()},
    ),
    Message(
        key="obligation.remedy_awaits",
        kind="decision_needed",
        title=_(
            "An answer to the breach of {kind} due {due} under licence {reference} "
            "({licensor} → {licensee}) awaits your approval"
        ),
        body="{reason}",
        params={**OBLIGATION, "reason": Plain()},
    ),
)

MESSAGES = (
    Message(
        key="licence.pending",
        kind="licence_pending",
        title=_("Licence {reference} awaits approval: {licensor} → {licensee}"),
        body=_("Both parties have accepted; two fund officers, one of each side, approve it."),
        params=LICENCE,
    ),
    Message(
        key="licence.awaits_approval",
        kind="licence_pending",
        title=_("Licence {reference} awaits your approval: {licensor} → {licensee}"),
        body=_("{officer} approved it for the {side} side."),
        params={**LICENCE, "officer": Name("person"), "side": Label(Side)},
    ),
    Message(
        key="licence.approved",
        kind="licence_approved",
        title=_("Licence {reference} approved: {licensor} → {licensee}"),
        body=_("In force from {start} to {end}."),
        params={**LICENCE, "start": Day(), "end": Day()},
    ),
    Message(
        key="licence.expiring",
        kind="licence_expiring",
        title=_("Licence {reference} ends on {end}: {licensor} → {licensee}"),
        body=_(
            "A licence is never extended silently: propose its renewal in time if it "
            "should continue."
        ),
        params={**LICENCE, "end": Day()},
    ),
    Message(
        key="licence.expired",
        kind="licence_expired",
        title=_("Licence {reference} has expired: {licensor} → {licensee}"),
        body=_("Its term ended on {end}."),
        params={**LICENCE, "end": Day()},
    ),
    Message(
        key="sublicence.consent_needed",
        kind="decision_needed",
        title=_("Sublicence {reference} of licence {parent} awaits your consent: {licensee}"),
        body=_("{licensor} granted it under your licence; it is in force only once you consent."),
        params={**LICENCE, "parent": Name("licence")},
    ),
    Message(
        key="sublicence.granted",
        kind="licence_approved",
        title=_("Sublicence {reference} of licence {parent} granted: {licensor} → {licensee}"),
        body=_("The licensor consented. In force from {start} to {end}."),
        params={**LICENCE, "parent": Name("licence"), "start": Day(), "end": Day()},
    ),
    Message(
        key="sublicence.refused",
        kind="decision_needed",
        title=_(
            "Consent to sublicence {reference} of licence {parent} refused: {licensor} → {licensee}"
        ),
        body="{reason}",
        params={**LICENCE, "parent": Name("licence"), "reason": Plain()},
    ),
    Message(
        key="sublicence.ended_with_parent",
        kind="licence_expired",
        title=_("Sublicence {reference} ended with licence {parent}: {licensor} → {licensee}"),
        body=_("A sublicence ends when the licence it was granted under ends."),
        params={**LICENCE, "parent": Name("licence")},
    ),
    Message(
        key="royalty.posted",
        kind="royalty_posted",
        title=_("Royalty posted for licence {licence}: {quarter}, {amount}"),
        body=_("Ledger transaction {reference}."),
        params={
            "licence": Name("licence"),
            "quarter": Plain(),
            "amount": Amount(),
            "currency": Plain(),
            "reference": Plain(),
        },
    ),
    Message(
        key="royalty.upfront_posted",
        kind="royalty_posted",
        title=_("Royalty posted for licence {licence}: upfront fee {amount}"),
        body=_("Ledger transaction {reference}."),
        params={
            "licence": Name("licence"),
            "amount": Amount(),
            "currency": Plain(),
            "reference": Plain(),
        },
    ),
    Message(
        key="royalty.report_due",
        kind="royalty_overdue",
        title=_("Royalty report for licence {licence} due: {quarter}"),
        body=_("Report the quarter's net sales by {deadline}; after that it is overdue."),
        params={"licence": Name("licence"), "quarter": Plain(), "deadline": Day()},
    ),
    Message(
        key="royalty.overdue",
        kind="royalty_overdue",
        title=_("Royalty report for licence {licence} overdue: {quarter}"),
        body=_(
            "It was due by {deadline}. Royalties paid late accrue interest at the fund's "
            "late-interest rate."
        ),
        params={"licence": Name("licence"), "quarter": Plain(), "deadline": Day()},
    ),
    Message(
        key="royalty.flagged",
        kind="royalty_flagged",
        title=_("Royalty report for licence {licence} flagged: {quarter}"),
        body=_(
            "Net sales of {net_sales} are less than half the trailing four-quarter mean of {mean}."
        ),
        params={
            "licence": Name("licence"),
            "quarter": Plain(),
            "net_sales": Amount(),
            "mean": Amount(),
            "currency": Plain(),
        },
    ),
    Message(
        key="royalty_audit.closed",
        kind="royalty_audit_closed",
        title=_("Royalty audit of licence {licence} closed: {quarter}"),
        body=_("Finding: {amount} with interest of {interest}."),
        params={
            "licence": Name("licence"),
            "quarter": Plain(),
            "amount": Amount(),
            "interest": Amount(),
            "currency": Plain(),
        },
    ),
    Message(
        key="allocation.awaits_approval",
        kind="decision_needed",
        title=_("A change of the return allocation of “{project}” awaits your approval"),
        body="{reason}",
        params={"project": Name("project"), "reason": Plain()},
    ),
)


def register() -> None:
    notification_names_register("licence", licence_references)
    notification_message_register(*MESSAGES, *OBLIGATION_MESSAGES)
