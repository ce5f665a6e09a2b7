"""Visit application services (§25, with §4's deadline, §5's effort rule and §22's
duplicate check): every change to an application goes through here. Each function runs in
one transaction, locks the application row first, checks who may act and what state
allows, validates the whole change before writing anything, and writes an audit event. A
refused change raises a ``DomainError`` with field-level messages and changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.approvals import decisions_cancel
from fundapp.kernel.decisions import require
from fundapp.kernel.notices import page_url as _url
from fundapp.kernel.problems import Problems
from mobility import permissions
from mobility.models import (
    APPLICATION_WORKFLOW,
    PENDING_APPLICATION_STATES,
    ApplicationState,
    MobilityTerms,
    VisitApplication,
    VisitAwardDecision,
    VisitState,
)
from mobility.rules import MOBILITY_COUNTRIES
from projects.models import Call, CallKind, ResearchArea
from projects.selectors.proposals import claimed_effort

TEXT_FIELDS = {
    "title_en": 300,
    "title_ja": 300,
    "title_ko": 300,
    "plan_en": 20000,
    "plan_ja": 20000,
    "plan_ko": 20000,
    "host_supervisor_name": 200,
    "researcher_number": 16,
}
# Visits that still claim their visitor's working time (§5): awarded and running ones.
CLAIMING_VISIT_STATES = (VisitState.AWARDED, VisitState.ACTIVE)


def application_url(application: VisitApplication) -> str:
    return _url("mobility:application", application.pk)


def lock(application: VisitApplication) -> VisitApplication:
    """The application's row, locked, with its call and organisations."""
    return (
        VisitApplication.objects.select_for_update(of=("self",))
        .select_related("call", "home_organisation", "host_organisation", "research_area")
        .get(pk=application.pk)
    )


def move(
    application: VisitApplication, target: str, *, actor: Actor | None, agreed: bool = False
) -> str:
    """``APPLICATION_WORKFLOW``'s check of the move and the actor; sets the state and
    returns the one before (the caller holds the row lock, saves and audits)."""
    return APPLICATION_WORKFLOW.move(application, target, actor=actor, agreed=agreed)


def _fail(problems: Problems, message: str | None = None) -> None:
    if problems:
        raise ValidationFailed(
            message or _("The application has errors; see the fields."),
            errors=problems.as_dict(),
        )


# --------------------------------------------------------------------------- effort (§5)


def visit_effort_claims(user_ids: Any) -> dict[int, int]:
    """The effort people give to pending applications and to awarded or running visits,
    by user id: the talent exchange's share of the e-Rad rule (§5), registered with the
    kernel so that proposals count it too. One query."""
    rows = (
        VisitApplication.objects.filter(visitor_id__in=list(user_ids))
        .filter(
            Q(state__in=PENDING_APPLICATION_STATES)
            | Q(state=ApplicationState.AWARDED, visit__state__in=CLAIMING_VISIT_STATES)
        )
        .values("visitor_id")
        .annotate(total=Sum("effort_percent"))
    )
    return {r["visitor_id"]: int(r["total"] or 0) for r in rows}


# --------------------------------------------------------------------------- input


def _area(problems: Problems, call: Call, ref: Any) -> ResearchArea | None:
    areas = call.research_areas.all()
    area = None
    if isinstance(ref, ResearchArea):
        area = areas.filter(pk=ref.pk).first()
    elif isinstance(ref, int) and not isinstance(ref, bool):
        area = areas.filter(pk=ref).first()
    elif isinstance(ref, str) and ref.strip():
        ref = ref.strip()
        query = Q(code=ref) | Q(pk=int(ref)) if ref.isascii() and ref.isdigit() else Q(code=ref)
        area = areas.filter(query).first()
    if area is None:
        problems.add("research_area", _("Choose one of the call's research areas."))
    return area


def _date(problems: Problems, path: str, value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(path, _("Enter a date as YYYY-MM-DD."))
    return None


def _clean(problems: Problems, call: Call, data: Any, *, actor: Actor) -> dict[str, Any]:
    """The fields ``data`` gives, checked one by one (the rules between fields are the
    submission's, ``submission_problems``)."""
    if not isinstance(data, dict):
        problems.add("non_field_errors", _("Send the application's fields as an object."))
        return {}
    known = {
        "visitor",
        "home_organisation",
        "host_organisation",
        "research_area",
        "planned_start",
        "months",
        "host_supervisor_email",
        "host_supervisor",
        "effort_percent",
        *TEXT_FIELDS,
    }
    for unknown in sorted(set(data) - known):
        problems.add(unknown, _("Unknown field."))
    values: dict[str, Any] = {}
    for name, limit in TEXT_FIELDS.items():
        if name in data:
            values[name] = inputs.text(problems, name, data[name], max_length=limit)
    if "host_supervisor_email" in data:
        email = inputs.text(
            problems, "host_supervisor_email", data["host_supervisor_email"], max_length=254
        )
        if email and ("@" not in email or " " in email):
            problems.add("host_supervisor_email", _("Enter a valid e-mail address."))
        values["host_supervisor_email"] = email
    if "visitor" in data:
        if isinstance(actor, ApiKey):
            values["visitor"] = inputs.person(problems, "visitor", data["visitor"])
        elif data["visitor"] not in (None, "") and str(data["visitor"]) not in (
            str(getattr(actor, "pk", "")),
            getattr(actor, "username", ""),
        ):
            problems.add("visitor", _("You may apply for yourself only."))
    for name in ("home_organisation", "host_organisation"):
        if name in data:
            values[name] = inputs.organisation(problems, name, data[name])
    if "host_supervisor" in data:
        ref = data["host_supervisor"]
        values["host_supervisor"] = (
            None if ref in (None, "") else inputs.person(problems, "host_supervisor", ref)
        )
    if "research_area" in data:
        values["research_area"] = (
            None
            if data["research_area"] in (None, "")
            else _area(problems, call, data["research_area"])
        )
    if "planned_start" in data:
        values["planned_start"] = (
            None
            if data["planned_start"] in (None, "")
            else _date(problems, "planned_start", data["planned_start"])
        )
    if "months" in data:
        values["months"] = inputs.integer(
            problems, "months", data["months"], minimum=1, maximum=12, required=False
        )
    if "effort_percent" in data:
        values["effort_percent"] = inputs.integer(
            problems,
            "effort_percent",
            data["effort_percent"],
            minimum=1,
            maximum=100,
            required=False,
        )
    return values


def _require_mobility_call(call: Call) -> MobilityTerms:
    terms = MobilityTerms.objects.filter(call=call).first()
    if call.kind != CallKind.MOBILITY or terms is None:
        message = _("This is a research call; apply for a visit to a mobility call.")
        raise ValidationFailed(message, errors={"call": [message]})
    return terms


def _require_open(call: Call, now: datetime) -> None:
    if not call.is_open_at(now):
        message = (
            _("The call closed at %(when)s; submissions are no longer accepted.")
            % {"when": timezone.localtime(call.closes_at).strftime("%Y-%m-%d %H:%M %Z")}
            if now >= call.closes_at
            else _("The call is not open for applications.")
        )
        raise ValidationFailed(message, code="call_closed", errors={"call": [message]})


# --------------------------------------------------------------------------- create, update


def application_create(*, actor: Actor, call: Call, data: Any = None) -> VisitApplication:
    """Start a draft application to a mobility call (the wizard's first step: the visitor
    and the two organisations; the rest may follow).

    Guarantees: researchers apply for themselves, a partner system names the visitor;
    only a mobility call that is open by the server clock; the home organisation is one of
    the visitor's; field-level errors for anything else, and nothing written; audited
    ``visit_application.created``.
    """
    require(permissions.can_create_application(actor))
    terms = _require_mobility_call(call)
    _require_open(call, timezone.now())
    problems = Problems()
    values = _clean(problems, call, data or {}, actor=actor)
    visitor = values.pop("visitor", None) if isinstance(actor, ApiKey) else actor
    for name in ("home_organisation", "host_organisation"):
        if values.get(name) is None and name not in problems.as_dict():
            problems.add(name, _("This field is required."))
    if visitor is None and "visitor" not in problems.as_dict():
        problems.add("visitor", _("This field is required."))
    _fail(problems)
    assert isinstance(visitor, User)
    _check_organisations(problems, terms, visitor, values, actor=actor)
    _fail(problems)
    with transaction.atomic():
        application = VisitApplication.objects.create(
            call=call,
            visitor=visitor,
            created_by=actor if isinstance(actor, User) else None,
            created_by_api_key=actor if isinstance(actor, ApiKey) else None,
            **values,
        )
        audit_record(
            actor=actor,
            action="visit_application.created",
            obj=application,
            after={
                "call": call.pk,
                "visitor": visitor.pk,
                "home_organisation": application.home_organisation_id,
                "host_organisation": application.host_organisation_id,
            },
        )
    return application


def _check_organisations(
    problems: Problems,
    terms: MobilityTerms,
    visitor: User,
    values: dict[str, Any],
    *,
    actor: Actor,
) -> None:
    home = values.get("home_organisation")
    host = values.get("host_organisation")
    eligible = set(terms.eligible_countries) & set(MOBILITY_COUNTRIES)
    for name, org in (("home_organisation", home), ("host_organisation", host)):
        if org is not None and org.country not in eligible:
            problems.add(
                name,
                _("This call takes organisations in %(countries)s only.")
                % {"countries": ", ".join(sorted(eligible))},
            )
    if home is not None and host is not None and home.country == host.country:
        problems.add("host_organisation", _("The host must be in another country than the home."))
    if home is not None and not visitor.memberships.filter(organisation=home).exists():
        problems.add("home_organisation", _("The visitor is not a member of this organisation."))
    if isinstance(actor, ApiKey) and home is not None and home.pk != actor.organisation_id:
        problems.add("home_organisation", _("A partner system applies for its own organisation."))


def _stale(application: VisitApplication, expected_version: Any) -> None:
    if expected_version is None:
        return
    try:
        yours = int(expected_version)
    except (TypeError, ValueError):
        message = _("Enter a whole number.")
        raise ValidationFailed(message, errors={"version": [message]}) from None
    if yours != application.version:
        raise Conflict(
            _(
                "Someone saved this application after you opened it (version %(current)d, "
                "yours %(yours)d). Reload to see their changes."
            )
            % {"current": application.version, "yours": yours},
            code="stale_version",
            errors={
                "version": [
                    _("This version is out of date; the current version is %(v)d.")
                    % {"v": application.version}
                ]
            },
        )


def application_update(
    *,
    application: VisitApplication,
    actor: Actor,
    data: Any,
    expected_version: Any = None,
) -> VisitApplication:
    """Save a step of the wizard on a draft.

    Guarantees: the row is locked; only the visitor (or the home organisation's system),
    only a draft; a save based on an older version answers 409 ``stale_version`` (two tabs,
    two people) and writes nothing; the version goes up by one; audited
    ``visit_application.updated`` with the fields changed.
    """
    with transaction.atomic():
        locked = lock(application)
        require(permissions.can_edit_application(actor, locked))
        _stale(locked, expected_version)
        terms = _require_mobility_call(locked.call)
        problems = Problems()
        values = _clean(problems, locked.call, data, actor=actor)
        values.pop("visitor", None)
        _fail(problems)
        merged = {
            "home_organisation": values.get("home_organisation", locked.home_organisation),
            "host_organisation": values.get("host_organisation", locked.host_organisation),
        }
        _check_organisations(problems, terms, locked.visitor, merged, actor=actor)
        _fail(problems)
        before = {name: _plain(getattr(locked, name)) for name in values}
        for name, value in values.items():
            setattr(locked, name, value)
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save(update_fields=[*values, "version", "updated_at"])
        audit_record(
            actor=actor,
            action="visit_application.updated",
            obj=locked,
            before=before,
            after={**{name: _plain(v) for name, v in values.items()}, "version": locked.version},
        )
    return locked


def _plain(value: Any) -> Any:
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, date):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- submission


def submission_problems(application: VisitApplication, *, now: datetime) -> Problems:
    """Every rule a submission must meet (§25, §4, §5), as field-level problems: the
    call is a mobility call still open by the server clock; every step is filled in; the
    two countries differ and the call takes both; the months are within the call's
    bounds; the research area is the call's; the visitor's effort over pending proposals,
    pending applications and running visits stays within 100 %."""
    problems = Problems()
    call = application.call
    terms = MobilityTerms.objects.filter(call=call).first()
    if call.kind != CallKind.MOBILITY or terms is None:
        problems.add("call", _("This is a research call; apply for a visit to a mobility call."))
        return problems
    if now >= call.closes_at:
        problems.add(
            "call",
            _("The call closed at %(when)s; submissions are no longer accepted.")
            % {"when": timezone.localtime(call.closes_at).strftime("%Y-%m-%d %H:%M %Z")},
        )
    elif not call.is_open_at(now):
        problems.add("call", _("The call is not open for applications."))
    required = _("This field is required.")
    if not (application.title_en or application.title_ja or application.title_ko):
        problems.add("title_en", _("Give a title in at least one language."))
    if not (application.plan_en or application.plan_ja or application.plan_ko):
        problems.add("plan_en", _("Describe the plan in at least one language."))
    for name in ("host_supervisor_name", "host_supervisor_email"):
        if not getattr(application, name):
            problems.add(name, required)
    for name in ("research_area", "planned_start", "months", "effort_percent"):
        if getattr(application, name) is None:
            problems.add(name, required)
    _check_organisations(
        problems,
        terms,
        application.visitor,
        {
            "home_organisation": application.home_organisation,
            "host_organisation": application.host_organisation,
        },
        actor=application.visitor,
    )
    if (
        application.research_area_id is not None
        and not call.research_areas.filter(pk=application.research_area_id).exists()
    ):
        problems.add("research_area", _("Choose one of the call's research areas."))
    if application.months is not None and not (
        terms.min_months <= application.months <= terms.max_months
    ):
        problems.add(
            "months",
            _("This call funds visits of %(min)d to %(max)d months.")
            % {"min": terms.min_months, "max": terms.max_months},
        )
    if (
        application.host_supervisor_id is not None
        and not application.host_organisation.memberships.filter(
            user_id=application.host_supervisor_id
        ).exists()
    ):
        problems.add(
            "host_supervisor", _("The host supervisor is not a member of the host organisation.")
        )
    if application.effort_percent is not None:
        elsewhere = claimed_effort([application.visitor_id], exclude_proposal_id=None).get(
            application.visitor_id, 0
        )
        if elsewhere + application.effort_percent > 100:
            problems.add(
                "effort_percent",
                _(
                    "With %(elsewhere)d %% already given to other proposals, projects and "
                    "visits, %(effort)d %% more would exceed 100 %% of working time."
                )
                % {"elsewhere": elsewhere, "effort": application.effort_percent},
            )
    return problems


def application_submit(
    *, application: VisitApplication, actor: Actor, now: datetime | None = None
) -> VisitApplication:
    """Submit a draft: every rule of ``submission_problems`` by the server clock (a late
    submission is refused whatever the client's clock says); the host organisation's
    research office is then asked to endorse. Locked, audited
    ``visit_application.submitted``."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = lock(application)
        require(permissions.can_submit_application(actor, locked))
        if locked.state != ApplicationState.DRAFT:
            raise Conflict(_("Only a draft can be submitted."), code="invalid_state")
        problems = submission_problems(locked, now=now)
        _fail(problems, _("The application cannot be submitted yet; see the listed problems."))
        before = move(locked, ApplicationState.SUBMITTED, actor=actor)
        locked.submitted_at = now
        locked.updated_at = now
        locked.eligibility_reasons = []
        locked.save(update_fields=["state", "submitted_at", "updated_at", "eligibility_reasons"])
        audit_record(
            actor=actor,
            action="visit_application.submitted",
            obj=locked,
            before={"state": before},
            after={"state": locked.state, "version": locked.version},
        )
    return locked


def application_withdraw(
    *, application: VisitApplication, actor: Actor, reason: str = ""
) -> VisitApplication:
    """The visitor withdraws (draft, submitted, endorsed or under review). Locked, checked
    against the table, audited ``visit_application.withdrawn``; a pending award decision
    on it is cancelled in the same transaction."""
    with transaction.atomic():
        locked = lock(application)
        require(permissions.can_withdraw_application(actor, locked))
        before = move(locked, ApplicationState.WITHDRAWN, actor=actor)
        decisions_cancel(
            VisitAwardDecision.objects.filter(application=locked),
            actor=actor,
            reason="visit application withdrawn",
        )
        locked.withdrawn_at = timezone.now()
        locked.updated_at = locked.withdrawn_at
        locked.save(update_fields=["state", "withdrawn_at", "updated_at"])
        audit_record(
            actor=actor,
            action="visit_application.withdrawn",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "reason": inputs.text(Problems(), "reason", reason, max_length=2000),
            },
        )
    return locked
