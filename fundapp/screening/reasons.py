"""Why a subject needs screening (§11): the reason codes callers send, with their labels.

Callers may send other codes; they are kept and shown as sent. ``restricted_party_match``
is added by the kernel itself when an organisation's name matches the list.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

SENSITIVE_AREA = "sensitive_area"
CONTROLLED_AREA = "controlled_area"
DUAL_USE = "dual_use"
PARTNER_OUTSIDE_JP_KR = "partner_outside_jp_kr"
LICENSEE_OUTSIDE_JP_KR = "licensee_outside_jp_kr"
CONTROLLED_FIELD = "controlled_field"
RESTRICTED_PARTY_MATCH = "restricted_party_match"

REASON_LABELS: dict[str, Promise] = {
    SENSITIVE_AREA: _("Research area is sensitive"),
    CONTROLLED_AREA: _("Research area is controlled"),
    DUAL_USE: _("Dual-use declared"),
    PARTNER_OUTSIDE_JP_KR: _("Organisation outside Japan and Korea"),
    LICENSEE_OUTSIDE_JP_KR: _("Licensee outside Japan and Korea"),
    CONTROLLED_FIELD: _("Licence field is controlled"),
    RESTRICTED_PARTY_MATCH: _("Restricted-party list match"),
}

SUBJECT_LABELS: dict[str, Promise] = {
    "proposal": _("Proposal"),
    "licence": _("Licence"),
    "visit_application": _("Visit application"),
}


def reason_label(code: str) -> str:
    label = REASON_LABELS.get(code)
    return str(label) if label is not None else code


def subject_type_label(subject_type: str) -> str:
    label = SUBJECT_LABELS.get(subject_type)
    return str(label) if label is not None else subject_type


def reason_register(code: str, label: Promise) -> None:
    """Register the label of a reason code another domain sends (from its ``AppConfig.ready``)."""
    existing = REASON_LABELS.get(code)
    if existing is not None and str(existing) != str(label):
        raise ValueError(f"screening reason {code!r} already has another label")
    REASON_LABELS[code] = label


def subject_type_register(subject_type: str, label: Promise) -> None:
    """Register the label of a subject type another domain screens."""
    SUBJECT_LABELS[subject_type] = label
