"""Research-security screening of visit applications (§11, §25): a case for every visit
that involves a US organisation (home or host) or a sensitive or controlled research area
(deemed export), with restricted-party matching of both organisations as for proposals;
a suspected duplicate (§22) is put before the same officers as a reason of the case."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy

from fundapp.actors import Actor
from fundapp.kernel.notices import page_url
from fundapp.screening import reasons as screening_reasons
from fundapp.screening.selectors import screening_clearance
from fundapp.screening.services import screening_case_open
from mobility.models import ApplicationState, VisitApplication
from projects.models import Sensitivity
from projects.services.awards import _refuse_unless_cleared

SCREENING_SUBJECT = "visit_application"
US_ORGANISATION = "visit_us_organisation"
DEEMED_EXPORT = "visit_deemed_export"
DUPLICATE_SUSPECTED = "visit_duplicate_suspected"

REASON_LABELS = {
    US_ORGANISATION: gettext_lazy("Visit involves a US organisation"),
    DEEMED_EXPORT: gettext_lazy("Visit to a sensitive or controlled area (deemed export)"),
    # §22: the duplicate-funding machinery compares proposals; a visit's suspected
    # duplicate is put before the screening officers instead.
    DUPLICATE_SUSPECTED: gettext_lazy(
        "Same researcher number and title as a visit already awarded (possible duplicate)"
    ),
}
SUBJECT_LABEL = gettext_lazy("Visit application")


def register() -> None:
    for code, label in REASON_LABELS.items():
        screening_reasons.reason_register(code, label)
    screening_reasons.subject_type_register(SCREENING_SUBJECT, SUBJECT_LABEL)


def screening_request(
    application: VisitApplication,
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """What §11 asks to screen for this application: the reasons and both organisations
    (names in three languages) for the restricted-party match."""
    home, host = application.home_organisation, application.host_organisation
    reasons: list[dict[str, str]] = []
    us = [org for org in (home, host) if org.country == "US"]
    if us:
        reasons.append(
            {
                "code": US_ORGANISATION,
                "detail": ", ".join(f"{org.name_en} ({org.country})" for org in us),
            }
        )
    area = application.research_area
    if area is not None and area.sensitivity in (Sensitivity.SENSITIVE, Sensitivity.CONTROLLED):
        reasons.append({"code": DEEMED_EXPORT, "detail": f"{area.code} ({area.sensitivity})"})
    duplicate = duplicate_of(application)
    if duplicate is not None:
        reasons.append({"code": DUPLICATE_SUSPECTED, "detail": f"#{duplicate}"})
    parties = [
        {
            "organisation_id": org.pk,
            "name": org.name_en,
            "aliases": [
                name for name in (org.name_ja, org.name_ko) if name and name != org.name_en
            ],
            "country": org.country,
        }
        for org in (home, host)
    ]
    return reasons, parties


def duplicate_of(application: VisitApplication) -> int | None:
    """An awarded application of the same researcher number with the same title in any
    language (§22), or ``None``. One query; none without a researcher number."""
    number = application.researcher_number.strip()
    titles = [t for t in (application.title_en, application.title_ja, application.title_ko) if t]
    if not number or not titles:
        return None
    same_title = Q()
    for title in titles:
        same_title |= Q(title_en__iexact=title) | Q(title_ja=title) | Q(title_ko=title)
    return (
        VisitApplication.objects.filter(researcher_number=number, state=ApplicationState.AWARDED)
        .filter(same_title)
        .exclude(pk=application.pk)
        .values_list("pk", flat=True)
        .first()
    )


def _url(application: VisitApplication) -> str:
    return page_url("mobility:application", application.pk)


def application_screening_open(*, application: VisitApplication, actor: Actor | None) -> str:
    """Open or refresh the application's screening case (idempotent; the restricted-party
    list is matched every time, in a savepoint of its own) and return its clearance:
    ``not_required``, ``open``, ``cleared`` or ``blocked``."""
    reasons, parties = screening_request(application)
    with transaction.atomic():
        screening_case_open(
            subject_type=SCREENING_SUBJECT,
            subject_id=application.pk,
            reasons=reasons,
            parties=parties,
            subject_label=(application.title or str(application))[:300],
            subject_url=_url(application),
            actor=actor,
        )
    return application_screening_clearance(application)


def application_screening_clearance(application: VisitApplication) -> str:
    return screening_clearance(subject_type=SCREENING_SUBJECT, subject_id=application.pk)


def refuse_unless_cleared(clearance: str) -> None:
    """The award's refusal before clearance: the proposals' own check, so that the message
    and the code (``screening_pending``, ``screening_blocked``) are the same (§11)."""
    _refuse_unless_cleared(clearance)
