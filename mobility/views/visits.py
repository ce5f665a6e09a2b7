"""Visit pages (§15, §25): the visitor's "My visits" with the final report form, the host
organisation's research office's "Hosted visits" with the arrival and departure forms, and
a visit's own page with its payments and history.

A visit one may not see answers 404 (``get_visit_for_actor``); the services check who may
act, and a refusal shows the page again with the service's message and its status.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer, is_fund_staff, research_office_organisation_ids
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound
from mobility.models import PaymentKind, Visit, VisitState
from mobility.permissions import can_download_final_report
from mobility.selectors.visits import get_visit_for_actor, visit_queryset
from mobility.services.visits import (
    report_pdf_path,
    visit_confirm_arrival,
    visit_confirm_departure,
    visit_final_report_submit,
)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _visit_or_404(user: User, pk: object) -> Visit:
    try:
        return get_visit_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


class ArrivalForm(forms.Form):
    arrived_on = forms.DateField(
        label=gettext_lazy("Arrived on"), widget=forms.DateInput(attrs={"type": "date"})
    )


class DepartureForm(forms.Form):
    ended_on = forms.DateField(
        label=gettext_lazy("Last day at the host"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Months not yet begun by then return to the fund's pool."),
    )


class FinalReportForm(forms.Form):
    report_en = forms.CharField(
        label=gettext_lazy("Report in English"), required=False, widget=forms.Textarea
    )
    report_ja = forms.CharField(
        label=gettext_lazy("Report in Japanese"), required=False, widget=forms.Textarea
    )
    report_ko = forms.CharField(
        label=gettext_lazy("Report in Korean"), required=False, widget=forms.Textarea
    )
    report_pdf = forms.FileField(
        label=gettext_lazy("Report as a PDF (optional)"),
        required=False,
        help_text=gettext_lazy("At most 20 MB; PDFs with scripts or embedded files are refused."),
    )


def _rows(visits: list[Visit], user: User, offices: list[int]) -> list[dict[str, Any]]:
    """Each visit with its payments split into travel and stipends (from the prefetch) and
    whether to show the user its forms (no query: ``offices`` are the organisations whose
    research office the user is; the services decide when a form is sent)."""
    officer = is_fund_officer(user)
    rows = []
    for visit in visits:
        payments = list(visit.payments.all())
        application = visit.application
        rows.append(
            {
                "visit": visit,
                "travel": next((p for p in payments if p.kind == PaymentKind.TRAVEL), None),
                "stipends": [p for p in payments if p.kind == PaymentKind.STIPEND],
                "may_confirm": visit.state in (VisitState.AWARDED, VisitState.ACTIVE)
                and (officer or application.host_organisation_id in offices),
                "may_report": visit.state == VisitState.ENDED and application.visitor_id == user.pk,
            }
        )
    return rows


@login_required
@require_GET
def my_visits(request: HttpRequest) -> HttpResponse:
    """The visitor's visits: state, dates, travel and stipends paid month by month, and the
    final report form once the visit has ended. A fixed number of queries."""
    user = _user(request)
    visits = list(
        visit_queryset(Visit.objects.filter(application__visitor=user)).order_by(
            "-created_at", "-id"
        )
    )
    return render(
        request,
        "mobility/visits/mine.html",
        {
            "rows": _rows(visits, user, []),
            "report_form": FinalReportForm(),
        },
    )


@login_required
@require_GET
def hosted_visits(request: HttpRequest) -> HttpResponse:
    """The visits hosted by the organisations whose research office the user is, with the
    arrival and departure forms. A fixed number of queries."""
    user = _user(request)
    offices = research_office_organisation_ids(user)
    visits = list(
        visit_queryset(
            Visit.objects.filter(application__host_organisation_id__in=offices)
        ).order_by("-created_at", "-id")
    )
    return render(
        request,
        "mobility/visits/hosted.html",
        {
            "rows": _rows(visits, user, offices),
            "arrival_form": ArrivalForm(),
            "departure_form": DepartureForm(),
        },
    )


def _detail(
    request: HttpRequest, visit: Visit, *, error: str = "", status: int = 200, **forms_: Any
) -> HttpResponse:
    user = _user(request)
    (row,) = _rows([visit], user, research_office_organisation_ids(user))
    return render(
        request,
        "mobility/visits/detail.html",
        {
            "row": row,
            "visit": visit,
            "error": error,
            "history": list(history_for(visit)),
            "arrival_form": forms_.get("arrival_form") or ArrivalForm(),
            "departure_form": forms_.get("departure_form") or DepartureForm(),
            "report_form": forms_.get("report_form") or FinalReportForm(),
            "is_staff_view": is_fund_staff(user),
            "may_download_report": bool(visit.report_pdf_storage)
            and can_download_final_report(user, visit)[0],
        },
        status=status,
    )


@login_required
@require_GET
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A visit's page: who, where, when, its payments and its history."""
    return _detail(request, _visit_or_404(_user(request), pk))


def _refused(request: HttpRequest, visit: Visit, exc: DomainError, **forms_: Any) -> HttpResponse:
    form = next(iter(forms_.values()))
    for field, errors in exc.errors.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, str(error))
    return _detail(request, visit, error=str(exc.message), status=exc.status, **forms_)


@login_required
@require_POST
def visit_arrival(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    visit = _visit_or_404(user, pk)
    form = ArrivalForm(request.POST)
    if not form.is_valid():
        return _detail(request, visit, status=422, arrival_form=form)
    try:
        visit_confirm_arrival(visit=visit, actor=user, arrived_on=form.cleaned_data["arrived_on"])
    except DomainError as exc:
        return _refused(request, visit, exc, arrival_form=form)
    messages.success(request, _("The arrival is confirmed; the travel sum is released."))
    return redirect("visits:detail", pk=visit.pk)


@login_required
@require_POST
def visit_departure(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    visit = _visit_or_404(user, pk)
    form = DepartureForm(request.POST)
    if not form.is_valid():
        return _detail(request, visit, status=422, departure_form=form)
    try:
        visit_confirm_departure(visit=visit, actor=user, ended_on=form.cleaned_data["ended_on"])
    except DomainError as exc:
        return _refused(request, visit, exc, departure_form=form)
    messages.success(request, _("The departure is confirmed."))
    return redirect("visits:detail", pk=visit.pk)


@login_required
@require_POST
def visit_report(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    visit = _visit_or_404(user, pk)
    form = FinalReportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail(request, visit, status=422, report_form=form)
    try:
        visit_final_report_submit(
            visit=visit,
            actor=user,
            report={lang: form.cleaned_data[f"report_{lang}"] for lang in ("en", "ja", "ko")},
            pdf=form.cleaned_data["report_pdf"],
        )
    except DomainError as exc:
        return _refused(request, visit, exc, report_form=form)
    messages.success(request, _("Thank you: the final report is filed and the visit is closed."))
    return redirect("visits:detail", pk=visit.pk)


@login_required
@require_GET
def visit_report_pdf(request: HttpRequest, pk: int) -> FileResponse:
    """The final report's PDF, to the visitor, the host's research office and fund
    officers; 404 for anyone else and when there is no file."""
    user = _user(request)
    visit = _visit_or_404(user, pk)
    if not can_download_final_report(user, visit)[0]:
        raise Http404
    target = report_pdf_path(visit)
    if target is None:
        raise Http404
    return FileResponse(
        target.open("rb"),
        as_attachment=True,
        filename=visit.report_pdf_name or "report.pdf",
        content_type="application/pdf",
    )


visit_patterns: list[URLPattern | URLResolver] = [
    path("mine/", my_visits, name="mine"),
    path("hosted/", hosted_visits, name="hosted"),
    path("<int:pk>/", visit_detail, name="detail"),
    path("<int:pk>/arrival/", visit_arrival, name="arrival"),
    path("<int:pk>/departure/", visit_departure, name="departure"),
    path("<int:pk>/report/", visit_report, name="report"),
    path("<int:pk>/report.pdf", visit_report_pdf, name="report_pdf"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("visits/", include((visit_patterns, "visits"), namespace="visits")),
]
