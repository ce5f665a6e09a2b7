"""IP registry and licence pages (§10, §15).

Everything is fetched through ``ip_licensing.selectors`` (an asset or licence the person
may not see answers 404, the same as a missing one). Actions are shown to those the
permission functions allow, and every POST calls one service: a refusal renders the page
again with the service's message and status (403, 409, 422); nothing typed is lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import Membership, Organisation, User
from fundapp.accounts.templatetags.fund_format import format_local_date
from fundapp.actors import is_fund_officer, is_fund_staff
from fundapp.audit.services import history_for
from fundapp.errors import Conflict, DomainError, NotFound
from fundapp.kernel.approval_pages import DeclineForm, two_person_panel
from fundapp.kernel.approvals import LIVE_STATES as LIVE_DECISION_STATES
from fundapp.kernel.registry import project_directory
from fundapp.money import format_amount
from fundapp.screening.models import LIVE_STATES, ScreeningCase
from ip_licensing import permissions, rules
from ip_licensing.forms import (
    AssetFilterForm,
    AssetRegisterForm,
    LicenceCheckForm,
    ReasonForm,
    RenewForm,
    RoyaltyReportForm,
    SublicenceForm,
)
from ip_licensing.models import (
    IPAsset,
    Licence,
    LicenceApproval,
    LicenceState,
    Purpose,
    RoyaltyReport,
)
from ip_licensing.selectors import (
    assets_visible_to,
    get_asset_for_actor,
    get_licence_for_actor,
    licence_assets,
    licences_visible_to,
)
from ip_licensing.services import licences as licence_svc
from ip_licensing.services.assets import asset_register
from ip_licensing.services.check import licence_check_one
from ip_licensing.services.royalties import (
    REPORTABLE_STATES,
    can_report_royalties,
    royalty_report_submit,
)
from ip_licensing.services.sublicences import (
    PARENT_IN_FORCE,
    sublicence_consent,
    sublicence_grant,
    sublicence_refuse,
)
from ip_licensing.views_obligations import obligations_panel
from ip_licensing.views_obligations import routes as obligation_routes
from ip_licensing.views_royalty_integrity import integrity_context
from ip_licensing.views_royalty_integrity import routes as royalty_integrity_routes

PAGE_SIZE = 25

# The §10.4 deny reasons, as a reader reads them.
REASON_LABELS = {
    rules.NO_LICENCE: gettext_lazy("No licence"),
    rules.NOT_STARTED: gettext_lazy("Not yet started"),
    rules.EXPIRED: gettext_lazy("Expired"),
    rules.SUSPENDED: gettext_lazy("Suspended"),
    rules.TERMINATED: gettext_lazy("Terminated"),
    rules.FIELD_NOT_COVERED: gettext_lazy("Field of use not covered"),
    rules.PURPOSE_NOT_COVERED: gettext_lazy("Purpose not covered"),
    rules.TERRITORY_NOT_COVERED: gettext_lazy("Territory not covered"),
    rules.DILIGENCE_BREACH: gettext_lazy("Exclusivity lost to a diligence breach"),
    rules.NOT_EXCLUSIVE: gettext_lazy("Not an exclusive licence"),
    rules.PARENT_EXPIRED: gettext_lazy("Parent licence expired"),
    rules.PARENT_SUSPENDED: gettext_lazy("Parent licence suspended"),
    rules.PARENT_TERMINATED: gettext_lazy("Parent licence terminated"),
    rules.PARENT_DENIED: gettext_lazy("Not allowed by the parent licence"),
}

CLEARANCE_LABELS = {
    "not_required": gettext_lazy("Not required"),
    "open": gettext_lazy("Waiting for a screening officer"),
    "cleared": gettext_lazy("Cleared"),
    "blocked": gettext_lazy("Blocked"),
}

# Fill colours of the timeline bars (SVG presentation attributes, no inline styles).
STATE_FILL: dict[str, str] = {
    LicenceState.DRAFT: "#b0b7c3",
    LicenceState.PENDING: "#e0a800",
    LicenceState.APPROVED: "#5b8def",
    LicenceState.ACTIVE: "#2e9d5b",
    LicenceState.SUSPENDED: "#d9822b",
    LicenceState.EXPIRED: "#7d8590",
    LicenceState.TERMINATED: "#c0392b",
}


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _asset_or_404(user: User, pk: object) -> IPAsset:
    try:
        return get_asset_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _licence_or_404(user: User, pk: object) -> Licence:
    try:
        return get_licence_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _member_org_ids(user: User) -> list[int]:
    return list(Membership.objects.filter(user=user).values_list("organisation_id", flat=True))


def _f(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


# --------------------------------------------------------------------------- registry


def _register_form(user: User, data: Any = None) -> AssetRegisterForm | None:
    """The registration form for officers (any owner) and members (their organisations)."""
    if is_fund_officer(user):
        owners = Organisation.objects.order_by("code")
    else:
        org_ids = _member_org_ids(user)
        if not org_ids:
            return None
        owners = Organisation.objects.filter(pk__in=org_ids).order_by("code")
    projects = (
        project_directory.get()
        .visible_to(user)
        .order_by("-id")
        .only("id", "title_en", "title_ja", "title_ko")
    )
    return AssetRegisterForm(data, owners=owners, projects=projects)


def _filtered_assets(user: User, filters: AssetFilterForm) -> QuerySet[IPAsset]:
    assets = assets_visible_to(user)
    if not filters.is_valid():
        return assets.order_by("-created_at", "-id")
    data = filters.cleaned_data
    if data.get("kind"):
        assets = assets.filter(kind=data["kind"])
    if data.get("status"):
        assets = assets.filter(status=data["status"])
    if data.get("owner"):
        assets = assets.filter(owner__code=data["owner"].strip().upper())
    if data.get("project"):
        assets = assets.filter(project_id=data["project"])
    if text := (data.get("q") or "").strip():
        assets = assets.filter(
            Q(title_en__icontains=text) | Q(title_ja__icontains=text) | Q(title_ko__icontains=text)
        )
    return assets.order_by("-created_at", "-id")


@login_required
@require_http_methods(["GET", "POST"])
def asset_list(request: HttpRequest) -> HttpResponse:
    """The registry, filtered and paginated, with the registration form.

    A constant number of queries whatever the page size: the count, the page (owner and
    project joined), and the form's owner, project and research-area choices.
    """
    user = _user(request)
    form = _register_form(user, request.POST if request.method == "POST" else None)
    status = 200
    error = ""
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            try:
                asset = asset_register(actor=user, data=form.service_data())
            except DomainError as exc:
                form.add_service_errors(exc.errors, exc.message)
                error, status = str(exc.message), exc.status
            else:
                messages.success(request, _("The asset is registered."))
                return redirect("ip:asset", pk=asset.pk)
        else:
            status = 422
    filters = AssetFilterForm(request.GET)
    rows = _filtered_assets(user, filters)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "ip_licensing/asset_list.html",
        {
            "page": page,
            "filters": filters,
            "form": form,
            "error": error,
            "query": query.urlencode(),
        },
        status=status,
    )


@dataclass(frozen=True)
class TimelineBar:
    licence: Licence
    x: float
    width: float
    y: float


def licence_timeline(licences: Sequence[Licence]) -> SafeString:
    """An SVG bar per licence from its start to its end, coloured by state, exclusive
    licences outlined and marked ★; every bar has a ``<title>`` saying it in words."""
    if not licences:
        return mark_safe("")  # noqa: S308 - empty
    width, label_w, row_h, top = 640, 150, 22, 22
    start = min(lic.start_on for lic in licences)
    end = max(lic.end_on for lic in licences)
    span = max((end - start).days, 1)
    plot_w = width - label_w - 10
    height = top + row_h * len(licences) + 8

    def x(day: date) -> float:
        return label_w + (day - start).days / span * plot_w

    parts: list[str] = [
        format_html(
            '<svg class="chart chart--timeline" id="licence-timeline" data-chart="licence-timeline" '
            'viewBox="0 0 {} {}" role="img" aria-labelledby="licence-timeline-title" '
            'xmlns="http://www.w3.org/2000/svg"><title id="licence-timeline-title">{}</title>'
            '<text x="{}" y="14" font-size="11">{}</text>'
            '<text x="{}" y="14" font-size="11" text-anchor="end">{}</text>',
            width,
            height,
            _("Licences of this asset over time"),
            label_w,
            format_local_date(start, _lang()),
            width - 10,
            format_local_date(end, _lang()),
        )
    ]
    for index, lic in enumerate(licences):
        y = top + index * row_h
        left = x(lic.start_on)
        bar_w = max(x(lic.end_on) - left, 2.0)
        exclusive = lic.exclusivity == "exclusive"
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" text-anchor="end">{}{}</text>'
                '<rect data-licence="{}" data-state="{}" data-exclusive="{}" x="{}" y="{}" '
                'width="{}" height="14" rx="2" fill="{}" stroke="{}" stroke-width="{}">'
                "<title>{}</title></rect>",
                label_w - 6,
                y + 11,
                lic.reference,
                " ★" if exclusive else "",
                lic.pk,
                lic.state,
                "true" if exclusive else "false",
                _f(left),
                y,
                _f(bar_w),
                STATE_FILL.get(lic.state, "#999"),
                "#1b1f24" if exclusive else "none",
                2 if exclusive else 0,
                _("%(reference)s: %(state)s, %(start)s – %(end)s, %(exclusivity)s")
                % {
                    "reference": lic.reference,
                    "state": lic.get_state_display(),
                    "start": format_local_date(lic.start_on, _lang()),
                    "end": format_local_date(lic.end_on, _lang()),
                    "exclusivity": lic.get_exclusivity_display(),
                },
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is built by format_html


def _lang() -> str:
    from django.utils.translation import get_language

    return (get_language() or "en")[:2]


@login_required
@require_GET
def asset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An asset's details and the licences of it the person may see, on a timeline."""
    user = _user(request)
    asset = _asset_or_404(user, pk)
    licences = list(
        licences_visible_to(user)
        .filter(licence_assets__asset=asset)
        .order_by("start_on", "id")
        .distinct()
    )
    return render(
        request,
        "ip_licensing/asset_detail.html",
        {
            "asset": asset,
            "licences": licences,
            "timeline": licence_timeline(licences),
            "state_fill": sorted(
                (LicenceState(state).label, fill) for state, fill in STATE_FILL.items()
            ),
        },
    )


# --------------------------------------------------------------------------- licence page


@dataclass(frozen=True)
class QuarterRoyalty:
    quarter: str
    current: RoyaltyReport
    reports: list[RoyaltyReport]

    @property
    def corrected(self) -> bool:
        return len(self.reports) > 1

    @property
    def first_due(self) -> int:
        return self.reports[0].royalty_due


def royalty_quarters(reports: Sequence[RoyaltyReport]) -> list[QuarterRoyalty]:
    """Reports grouped by quarter, the one no other supersedes being the current one."""
    superseded = {r.supersedes_id for r in reports if r.supersedes_id is not None}
    by_quarter: dict[str, list[RoyaltyReport]] = defaultdict(list)
    for report in reports:
        by_quarter[report.quarter].append(report)
    rows = []
    for quarter in sorted(by_quarter):
        chain = sorted(by_quarter[quarter], key=lambda r: (r.reported_at, r.pk))
        current = next((r for r in reversed(chain) if r.pk not in superseded), chain[-1])
        rows.append(QuarterRoyalty(quarter=quarter, current=current, reports=chain))
    return rows


def royalty_chart(quarters: Sequence[QuarterRoyalty], currency: str) -> SafeString:
    """Vertical bars of the royalty due per quarter (the current report); a corrected
    quarter also shows its first report's amount as an outline."""
    if not quarters:
        return mark_safe("")  # noqa: S308 - empty
    bar_w, gap, top, bottom, plot_h = 44, 18, 24, 36, 160
    width = max(len(quarters) * (bar_w + gap) + gap, 240)
    height = top + plot_h + bottom
    largest = max(max(q.current.royalty_due, q.first_due) for q in quarters) or 1
    summary = "; ".join(
        f"{q.quarter}: {format_amount(q.current.royalty_due, currency)}" for q in quarters
    )
    parts: list[str] = [
        format_html(
            '<svg class="chart chart--royalties" id="royalty-chart" data-chart="royalties" '
            'data-currency="{}" viewBox="0 0 {} {}" role="img" '
            'aria-labelledby="royalty-chart-title royalty-chart-desc" '
            'xmlns="http://www.w3.org/2000/svg"><title id="royalty-chart-title">{}</title>'
            '<desc id="royalty-chart-desc">{}</desc>',
            currency,
            width,
            height,
            _("Royalty due per quarter"),
            summary,
        )
    ]
    base = top + plot_h
    for index, q in enumerate(quarters):
        left = gap + index * (bar_w + gap)
        due = q.current.royalty_due
        bar_h = plot_h * due / largest
        if q.corrected:
            first_h = plot_h * q.first_due / largest
            parts.append(
                format_html(
                    '<rect data-role="first-report" x="{}" y="{}" width="{}" height="{}" '
                    'fill="none" stroke="#7d8590" stroke-dasharray="4 2"><title>{}</title></rect>',
                    left,
                    _f(base - first_h),
                    bar_w,
                    _f(first_h),
                    _("First report: %(amount)s")
                    % {"amount": format_amount(q.first_due, currency)},
                )
            )
        parts.append(
            format_html(
                '<rect data-quarter="{}" data-amount="{}" data-corrected="{}" x="{}" y="{}" '
                'width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>'
                '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>'
                '<text x="{}" y="{}" font-size="9" text-anchor="middle">{}</text>',
                q.quarter,
                due,
                "true" if q.corrected else "false",
                left,
                _f(base - bar_h),
                bar_w,
                _f(bar_h),
                "#d9822b" if q.corrected else "#2e9d5b",
                q.quarter,
                format_amount(due, currency),
                left + bar_w / 2,
                base + 14,
                q.quarter,
                left + bar_w / 2,
                _f(max(base - bar_h - 4, 10)),
                format_amount(due, currency),
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is built by format_html


def _live_approval(licence: Licence) -> LicenceApproval | None:
    return (
        LicenceApproval.objects.filter(licence=licence)
        .filter(state__in=LIVE_DECISION_STATES)
        .select_related("first_officer", "second_officer")
        .order_by("-id")
        .first()
    )


def _approval_to_end(licence: Licence) -> LicenceApproval:
    approval = _live_approval(licence)
    if approval is None:
        raise Conflict(
            _("This licence has no approval to withdraw or decline."), code="invalid_state"
        )
    return approval


def _actions(user: User, licence: Licence, approval: LicenceApproval | None) -> dict[str, Any]:
    """What the person may do to the licence now (the services check again)."""
    state = licence.state
    can_officer = permissions.can_change_licence_state(user)[0]
    approve, approve_note = False, ""
    if state == LicenceState.PENDING and permissions.can_approve_licence(user)[0]:
        if approval is None or approval.state != licence_svc.APPROVAL_PENDING:
            approve = True
        else:
            approve, approve_note = permissions.can_complete_licence_approval(user, approval)
    renewed = Licence.objects.filter(renewal_of=licence).first()
    sublicence = licence.parent_id is not None
    consent = getattr(licence, "consent", None) if sublicence else None
    return {
        # §23: the licensee grants sublicences; the parent's licensor consents to them.
        "grant_sublicence": not sublicence
        and licence.sublicensable
        and state in PARENT_IN_FORCE
        and permissions.can_grant_sublicence(user, licence)[0],
        "consent": consent is not None
        and consent.state == "requested"
        and licence.parent is not None
        and permissions.can_decide_sublicence_consent(user, licence.parent)[0],
        "accept": permissions.can_accept_licence(user, licence)[0],
        "accept_sides": permissions.licence_sides_of(user, licence),
        "approve": approve,
        "approve_note": approve_note,
        "suspend": can_officer and state == LicenceState.ACTIVE,
        "resume": can_officer and state == LicenceState.SUSPENDED,
        "terminate": state not in (LicenceState.EXPIRED, LicenceState.TERMINATED)
        and (can_officer or permissions.can_withdraw_draft(user, licence)[0]),
        "renew": state in licence_svc.RENEWABLE_STATES
        and not sublicence
        and renewed is None
        and permissions.can_renew_licence(user, licence)[0],
        "report": state in REPORTABLE_STATES
        and not sublicence
        and can_report_royalties(user, licence)[0],
        "renewed_by": renewed,
    }


def _render_licence(
    request: HttpRequest,
    licence: Licence,
    *,
    forms: dict[str, Any] | None = None,
    error: str = "",
    failed: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    approval = _live_approval(licence)
    reports = list(
        RoyaltyReport.objects.filter(licence=licence)
        .select_related("reported_by")
        .order_by("quarter", "reported_at", "id")
    )
    quarters = royalty_quarters(reports)
    forms = forms or {}
    clearance = (
        licence_svc.licence_screening_clearance(licence)
        if licence.state in (LicenceState.PENDING, LicenceState.APPROVED)
        else ""
    )
    needed_side = ""
    if approval is not None and approval.state == licence_svc.APPROVAL_PENDING:
        needed_side = "KR" if approval.first_side == "JP" else "JP"
    shown = approval
    if shown is None and licence.state == LicenceState.PENDING:
        # The last withdrawn or declined approval: who ended it and why.
        shown = (
            LicenceApproval.objects.filter(licence=licence)
            .select_related("first_officer", "declined_by")
            .order_by("-id")
            .first()
        )
    two_person = two_person_panel(
        user,
        shown,
        withdraw_url=reverse("ip:licence_act", args=[licence.pk, "withdraw_approval"]),
        decline_url=reverse("ip:licence_act", args=[licence.pk, "decline_approval"]),
        decline_form=forms.get("decline_approval"),
    )
    actions = _actions(user, licence, approval)
    reason_forms = [
        (name, forms.get(name) or ReasonForm(prefix=name), label)
        for name, label in (
            ("suspend", _("Suspend")),
            ("resume", _("Resume")),
            ("terminate", _("Terminate")),
        )
        if actions[name]
    ]
    purpose_labels = dict(Purpose.choices)
    context = {
        "licence": licence,
        "purposes": [str(purpose_labels.get(p, p)) for p in licence.purposes],
        "rate_percent": f"{(licence.royalty_rate * 100).normalize():f}",
        "sublicence_share_percent": f"{(Decimal(licence.sublicence_share_bp) / 100).normalize():f}",
        "consent": getattr(licence, "consent", None) if licence.parent_id else None,
        "parent_visible": licence.parent_id is not None
        and licences_visible_to(user).filter(pk=licence.parent_id).exists(),
        "clearance_label": CLEARANCE_LABELS.get(clearance, clearance),
        "reason_forms": reason_forms,
        "assets": list(licence_assets(licence).select_related("owner")),
        "approval": approval,
        "two_person": two_person,
        "needed_side": needed_side,
        "clearance": clearance,
        "actions": actions,
        "history": list(history_for(licence)),
        "reports": reports,
        "quarters": quarters,
        "chart": royalty_chart(quarters, licence.currency),
        "renew_form": forms.get("renew") or RenewForm(prefix="renew"),
        "royalty_form": forms.get("royalty") or RoyaltyReportForm(prefix="royalty"),
        "sublicences": list(
            licences_visible_to(user)
            .filter(parent_id=licence.pk)
            .select_related("consent")
            .order_by("created_at", "id")
        ),
        "sublicence_form": forms.get("sublicence") or SublicenceForm(prefix="sublicence"),
        "refuse_form": forms.get("refuse_consent") or ReasonForm(prefix="refuse_consent"),
        "error": error,
        "failed": failed,
        "obligations": obligations_panel(user, licence, forms),
        **integrity_context(user, licence, forms),
    }
    return render(request, "ip_licensing/licence_detail.html", context, status=status)


@login_required
@require_GET
def licence_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Terms, approval state, history, royalties and the actions the person may take."""
    return _render_licence(request, _licence_or_404(_user(request), pk))


ACTIONS = (
    "accept",
    "approve",
    "withdraw_approval",
    "decline_approval",
    "suspend",
    "resume",
    "terminate",
    "renew",
    "royalty",
    "sublicence",
    "consent",
    "refuse_consent",
)


@login_required
@require_POST
def licence_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One action on a licence, through its service; a refusal shows the service's message."""
    user = _user(request)
    licence = _licence_or_404(user, pk)
    if action not in ACTIONS:
        raise Http404
    form: Any = None
    try:
        if action == "accept":
            licence_svc.licence_accept(licence=licence, actor=user)
            done = _("Your acceptance is recorded.")
        elif action == "approve":
            updated = licence_svc.licence_approve(licence=licence, actor=user)
            done = (
                _("Your approval is recorded; an officer of the other side must complete it.")
                if updated.state == LicenceState.PENDING
                else _("The licence is approved.")
            )
        elif action == "withdraw_approval":
            licence_svc.licence_approval_withdraw(approval=_approval_to_end(licence), actor=user)
            done = _("Your pending approval has been withdrawn.")
        elif action == "decline_approval":
            form = DeclineForm(request.POST)
            if not form.is_valid():
                return _render_licence(
                    request, licence, forms={action: form}, failed=action, status=422
                )
            licence_svc.licence_approval_decline(
                approval=_approval_to_end(licence), actor=user, reason=form.cleaned_data["reason"]
            )
            done = _("The pending approval has been declined.")
        elif action in ("suspend", "resume", "terminate"):
            form = ReasonForm(request.POST, prefix=action)
            if not form.is_valid():
                return _render_licence(
                    request, licence, forms={action: form}, failed=action, status=422
                )
            service = {
                "suspend": licence_svc.licence_suspend,
                "resume": licence_svc.licence_resume,
                "terminate": licence_svc.licence_terminate,
            }[action]
            service(licence=licence, actor=user, reason=form.cleaned_data["reason"])
            done = {
                "suspend": _("The licence is suspended."),
                "resume": _("The licence is active again."),
                "terminate": _("The licence is terminated."),
            }[action]
        elif action == "sublicence":
            form = SublicenceForm(request.POST, prefix="sublicence")
            if not form.is_valid():
                return _render_licence(
                    request, licence, forms={action: form}, failed=action, status=422
                )
            granted = sublicence_grant(parent=licence, actor=user, data=form.service_data())
            messages.success(
                request,
                _("Sublicence %(reference)s is granted; it awaits the licensor's consent.")
                % {"reference": granted.reference},
            )
            return redirect("ip:licence", pk=granted.pk)
        elif action == "consent":
            sublicence_consent(sublicence=licence, actor=user)
            done = _("You consented; the sublicence is granted.")
        elif action == "refuse_consent":
            form = ReasonForm(request.POST, prefix=action)
            if not form.is_valid():
                return _render_licence(
                    request, licence, forms={action: form}, failed=action, status=422
                )
            sublicence_refuse(sublicence=licence, actor=user, reason=form.cleaned_data["reason"])
            done = _("You refused consent; the sublicence is terminated.")
        elif action == "renew":
            form = RenewForm(request.POST, prefix="renew")
            if not form.is_valid():
                return _render_licence(
                    request, licence, forms={"renew": form}, failed=action, status=422
                )
            renewal = licence_svc.licence_renew(
                licence=licence, actor=user, data=form.service_data()
            )
            messages.success(
                request,
                _("Renewal %(reference)s is drafted; both parties must accept it.")
                % {"reference": renewal.reference},
            )
            return redirect("ip:licence", pk=renewal.pk)
        else:
            form = RoyaltyReportForm(request.POST, prefix="royalty")
            if not form.is_valid():
                return _render_licence(
                    request, licence, forms={"royalty": form}, failed=action, status=422
                )
            report = royalty_report_submit(
                licence=licence,
                actor=user,
                quarter=form.cleaned_data["quarter"].strip(),
                net_sales=form.cleaned_data["net_sales"],
                sublicence_income=form.cleaned_data.get("sublicence_income") or 0,
            )
            done = _("The report for %(quarter)s is recorded: %(amount)s due.") % {
                "quarter": report.quarter,
                "amount": format_amount(report.royalty_due, licence.currency),
            }
    except DomainError as exc:
        forms: dict[str, Any] = {}
        if form is not None:
            form.add_service_errors(exc.errors, exc.message)
            forms[action] = form
        licence.refresh_from_db()
        return _render_licence(
            request,
            licence,
            forms=forms,
            error=str(exc.message),
            failed=action,
            status=exc.status,
        )
    messages.success(request, done)
    return redirect("ip:licence", pk=licence.pk)


# --------------------------------------------------------------------------- lists


@login_required
@require_GET
def my_licences(request: HttpRequest) -> HttpResponse:
    """Licences in which one of the person's organisations is licensor or licensee."""
    user = _user(request)
    org_ids = _member_org_ids(user)
    rows = (
        licences_visible_to(user)
        .filter(Q(licensor_id__in=org_ids) | Q(licensee_id__in=org_ids))
        .order_by("-created_at", "-id")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "ip_licensing/my_licences.html",
        {"page": page, "org_ids": set(org_ids)},
    )


@login_required
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    """Fund officers' queue: pending licences, their first approval and screening state."""
    user = _user(request)
    if not is_fund_officer(user):
        raise Http404
    pending = list(
        licences_visible_to(user)
        # Sublicences wait for their licensor's consent, not the fund's approval (§23).
        .filter(state=LicenceState.PENDING, parent__isnull=True)
        .order_by("created_at", "id")
    )
    ids = [lic.pk for lic in pending]
    first = {
        a.licence_id: a
        for a in LicenceApproval.objects.filter(
            licence_id__in=ids, state=licence_svc.APPROVAL_PENDING
        ).select_related("first_officer")
    }
    screening = dict(
        ScreeningCase.objects.filter(
            subject_type=licence_svc.SCREENING_SUBJECT, subject_id__in=ids, state__in=LIVE_STATES
        ).values_list("subject_id", "state")
    )
    rows = [
        {
            "licence": lic,
            "approval": first.get(lic.pk),
            "screening": screening.get(lic.pk, "not_required"),
            "screening_label": CLEARANCE_LABELS.get(
                screening.get(lic.pk, "not_required"), screening.get(lic.pk, "")
            ),
        }
        for lic in pending
    ]
    return render(request, "ip_licensing/approvals.html", {"rows": rows})


# --------------------------------------------------------------------------- check


@login_required
@require_GET
def licence_check_page(request: HttpRequest) -> HttpResponse:
    """May organisation X use asset A …? For members of an organisation and fund staff."""
    user = _user(request)
    org_ids = _member_org_ids(user)
    if not org_ids and not is_fund_staff(user):
        raise Http404
    assets = assets_visible_to(user).order_by("title_en", "id")
    result: dict[str, Any] | None = None
    allowing: Licence | None = None
    status = 200
    if "asset" in request.GET:
        form = LicenceCheckForm(request.GET, assets=assets)
        if form.is_valid():
            try:
                result = licence_check_one(actor=user, check=form.service_check())
            except DomainError as exc:
                form.add_service_errors(exc.errors, exc.message)
                status = exc.status
            else:
                licence_id = result["licence"]
                if isinstance(licence_id, int):
                    allowing = licences_visible_to(user).filter(pk=licence_id).first()
        else:
            status = 422
    else:
        initial: dict[str, Any] = {"on": licence_svc.tokyo_today().isoformat(), "territory": ""}
        if org_ids and not is_fund_staff(user):
            own = Organisation.objects.filter(pk__in=org_ids).order_by("code").first()
            initial["licensee"] = own.code if own is not None else ""
        form = LicenceCheckForm(initial=initial, assets=assets)
    reasons = []
    if result is not None:
        reasons = [
            {"code": code, "label": REASON_LABELS.get(str(code), str(code))}
            for code in cast(list[str], result["reasons"])
        ]
    return render(
        request,
        "ip_licensing/check.html",
        {"form": form, "result": result, "reasons": reasons, "allowing": allowing},
        status=status,
    )


# --------------------------------------------------------------------------- routes

_routes: list[URLPattern | URLResolver] = [
    path("assets/", asset_list, name="registry"),
    path("assets/<int:pk>/", asset_detail, name="asset"),
    path("licences/mine/", my_licences, name="my_licences"),
    path("licences/approvals/", approvals, name="approvals"),
    path("licences/<int:pk>/", licence_detail, name="licence"),
    path("licences/<int:pk>/<slug:action>/", licence_act, name="licence_act"),
    path("check/", licence_check_page, name="check"),
    *obligation_routes,
    *royalty_integrity_routes,
]

urlpatterns: list[URLPattern | URLResolver] = [path("ip/", include((_routes, "ip")))]

__all__ = ["REASON_LABELS", "urlpatterns"]
