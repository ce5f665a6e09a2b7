"""Browser pages of royalty integrity (§23): the licence page's periods, flags and audits
(with the officers' forms to open and close an audit), and the officers' list of flagged
reports, overdue periods and open audits.

Each page answers in a constant number of queries whatever the number of rows.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import Membership, User
from fundapp.actors import is_fund_officer, is_fund_staff
from fundapp.errors import DomainError, NotFound
from ip_licensing.forms import ServiceForm
from ip_licensing.forms_licence_create import LicenceCreateForm
from ip_licensing.models import (
    AssetStatus,
    IPAsset,
    Licence,
    RoyaltyAudit,
    RoyaltyAuditState,
    RoyaltyPeriod,
    RoyaltyPeriodState,
    RoyaltyReport,
)
from ip_licensing.selectors import get_licence_for_actor
from ip_licensing.services.audits import (
    can_audit_royalties,
    royalty_audit_close,
    royalty_audit_open,
)
from ip_licensing.services.licences import licence_create

LIST_LIMIT = 100


class AuditOpenForm(ServiceForm):
    quarter = forms.RegexField(
        label=gettext_lazy("Quarter"),
        regex=r"^\s*\d{4}-Q[1-4]\s*$",
        max_length=7,
        help_text=gettext_lazy("YYYY-Qn, e.g. 2026-Q3."),
        error_messages={"invalid": gettext_lazy("Give a quarter as YYYY-Qn, e.g. 2026-Q3.")},
    )
    scope = forms.CharField(
        label=gettext_lazy("Scope"), required=False, max_length=4000, widget=forms.Textarea
    )


class AuditCloseForm(ServiceForm):
    finding_amount = forms.IntegerField(
        label=gettext_lazy("Amount underpaid (negative when overpaid)"),
        min_value=-(10**15),
        max_value=10**15,
    )
    note = forms.CharField(label=gettext_lazy("Finding"), max_length=4000, widget=forms.Textarea)


def integrity_context(
    user: User, licence: Licence, forms_given: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the licence page shows of royalty integrity (four queries)."""
    forms_given = forms_given or {}
    officer = can_audit_royalties(user)[0]
    audits = list(
        RoyaltyAudit.objects.filter(licence=licence)
        .select_related("ledger_transaction")
        .order_by("-opened_at", "-id")
    )
    return {
        "asset_shares": list(licence.licence_assets.select_related("asset").order_by("asset_id")),
        "periods": list(
            RoyaltyPeriod.objects.filter(licence=licence)
            .exclude(state=RoyaltyPeriodState.REPORTED)
            .order_by("-deadline_on", "-id")
        ),
        "audits": audits,
        "sees_flags": is_fund_staff(user),
        "audit_officer": officer,
        "audit_open_form": forms_given.get("audit_open") or AuditOpenForm(prefix="audit"),
        "audit_close_forms": {
            audit.pk: forms_given.get(f"audit_close_{audit.pk}")
            or AuditCloseForm(prefix=f"close{audit.pk}")
            for audit in audits
            if audit.state == RoyaltyAuditState.OPEN
        }
        if officer
        else {},
    }


def _licence_or_404(user: User, pk: int) -> Licence:
    try:
        return get_licence_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _again(request: HttpRequest, licence: Licence, key: str, form: Any, exc: Any) -> HttpResponse:
    from ip_licensing.views import _render_licence

    status = 422
    error = ""
    if exc is not None:
        form.add_service_errors(exc.errors, exc.message)
        status, error = exc.status, str(exc.message)
    return _render_licence(
        request, licence, forms={key: form}, error=error, failed=key, status=status
    )


@login_required
@require_POST
def audit_open(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    licence = _licence_or_404(user, pk)
    if not can_audit_royalties(user)[0]:
        raise Http404
    form = AuditOpenForm(request.POST, prefix="audit")
    if not form.is_valid():
        return _again(request, licence, "audit_open", form, None)
    try:
        royalty_audit_open(
            licence=licence,
            actor=user,
            quarter=form.cleaned_data["quarter"].strip(),
            scope=form.cleaned_data["scope"],
        )
    except DomainError as exc:
        return _again(request, licence, "audit_open", form, exc)
    messages.success(request, _("The royalty audit is open."))
    return redirect("ip:licence", pk=licence.pk)


@login_required
@require_POST
def audit_close(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    if not can_audit_royalties(user)[0]:
        raise Http404
    audit = RoyaltyAudit.objects.filter(pk=pk).select_related("licence").first()
    if audit is None:
        raise Http404
    licence = _licence_or_404(user, audit.licence_id)
    key = f"audit_close_{audit.pk}"
    form = AuditCloseForm(request.POST, prefix=f"close{audit.pk}")
    if not form.is_valid():
        return _again(request, licence, key, form, None)
    try:
        royalty_audit_close(
            audit=audit,
            actor=user,
            finding_amount=form.cleaned_data["finding_amount"],
            note=form.cleaned_data["note"],
        )
    except DomainError as exc:
        return _again(request, licence, key, form, exc)
    messages.success(request, _("The royalty audit is closed; its correction is posted."))
    return redirect("ip:licence", pk=licence.pk)


@login_required
@require_GET
def royalty_integrity(request: HttpRequest) -> HttpResponse:
    """Fund staff's list: flagged reports, overdue periods and open audits (three queries)."""
    user = request.user
    if not isinstance(user, User) or not is_fund_staff(user):
        raise Http404
    flagged = list(
        RoyaltyReport.objects.filter(flagged=True, superseded_by__isnull=True)
        .select_related("licence__licensee")
        .order_by("-reported_at", "-id")[:LIST_LIMIT]
    )
    overdue = list(
        RoyaltyPeriod.objects.filter(state=RoyaltyPeriodState.OVERDUE)
        .select_related("licence__licensee")
        .order_by("deadline_on", "id")[:LIST_LIMIT]
    )
    audits = list(
        RoyaltyAudit.objects.filter(state=RoyaltyAuditState.OPEN)
        .select_related("licence__licensee")
        .order_by("-opened_at", "-id")[:LIST_LIMIT]
    )
    return render(
        request,
        "ip_licensing/royalty_integrity.html",
        {"flagged": flagged, "overdue": overdue, "audits": audits},
    )


# --------------------------------------------------------------------------- proposing


ASSET_CHOICES = 200


def _assets_on_offer(user: User) -> QuerySet[IPAsset]:
    """The assets a person may propose to license: their organisations' (every asset for
    fund officers), not lapsed, newest first, at most ``ASSET_CHOICES``."""
    assets = IPAsset.objects.exclude(status=AssetStatus.LAPSED)
    if not is_fund_officer(user):
        assets = assets.filter(
            owner_id__in=Membership.objects.filter(user=user).values("organisation_id")
        )
    ids = list(assets.order_by("-created_at", "-id").values_list("pk", flat=True)[:ASSET_CHOICES])
    return IPAsset.objects.filter(pk__in=ids).order_by("pk")


@login_required
@require_http_methods(["GET", "POST"])
def licence_new(request: HttpRequest) -> HttpResponse:
    """Propose a licence of one or more assets, with optional shares of the royalties."""
    user = request.user
    assert isinstance(user, User)
    assets = _assets_on_offer(user)
    form = LicenceCreateForm(
        request.POST if request.method == "POST" else None, assets=assets, prefix="licence"
    )
    status = 200
    error = ""
    if request.method == "POST":
        if form.is_valid():
            try:
                licence = licence_create(actor=user, data=form.service_data())
            except DomainError as exc:
                form.add_service_errors(exc.errors, exc.message)
                error, status = str(exc.message), exc.status
            else:
                messages.success(
                    request,
                    _("Licence %(reference)s is drafted; both parties must accept it.")
                    % {"reference": licence.reference},
                )
                return redirect("ip:licence", pk=licence.pk)
        else:
            status = 422
    return render(
        request, "ip_licensing/licence_new.html", {"form": form, "error": error}, status=status
    )


routes: list[URLPattern] = [
    path("licences/new/", licence_new, name="licence_new"),
    path("licences/<int:pk>/audits/open/", audit_open, name="audit_open"),
    path("audits/<int:pk>/close/", audit_close, name="audit_close"),
    path("royalties/integrity/", royalty_integrity, name="royalty_integrity"),
]
