"""Stage report pages (§24): a project's reports by stage with their due dates; one
report's narrative, spending entry, submission and review; its statement (spent against
budget and released, per organisation and per side, as tables and charts) and its CSV and
XLSX exports in the reader's language.

Seeing a report is seeing its project (404 otherwise). What each person may do is
``projects.permissions``; every change goes through ``projects.services.reports``.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_staff
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound
from fundapp.kernel.calendar import today_in_tokyo
from projects.models import BudgetCategory, Project, Stage, StageReport
from projects.permissions import (
    can_enter_lines,
    can_review_report,
    can_write_report,
    report_role,
)
from projects.selectors.projects import get_project_for_actor
from projects.selectors.reports import (
    get_report_for_actor,
    report_due_on,
    stages_with_reports,
    statement,
    statement_csv,
    statement_xlsx,
)
from projects.services import reports as svc

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _project(request: HttpRequest, pk: int) -> Project:
    try:
        return get_project_for_actor(_user(request), pk)
    except NotFound:
        raise Http404 from None


def _report(request: HttpRequest, project: Project, report_id: int) -> StageReport:
    try:
        return get_report_for_actor(_user(request), project, report_id)
    except NotFound:
        raise Http404 from None


def _refused(request: HttpRequest, project: Project, exc: DomainError) -> HttpResponse:
    return render(
        request,
        "projects/verification/forbidden.html",
        {"message": exc.message, "project": project},
        status=exc.status,
    )


# --------------------------------------------------------------------------- forms


class NarrativeForm(forms.Form):
    narrative_en = forms.CharField(
        label=gettext_lazy("Narrative (English)"),
        required=False,
        max_length=svc.NARRATIVE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    narrative_ja = forms.CharField(
        label=gettext_lazy("Narrative (Japanese)"),
        required=False,
        max_length=svc.NARRATIVE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    narrative_ko = forms.CharField(
        label=gettext_lazy("Narrative (Korean)"),
        required=False,
        max_length=svc.NARRATIVE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class ReturnForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("What must change"),
        required=False,  # the service says a reason is needed, beside the field
        max_length=svc.REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


# --------------------------------------------------------------------------- pages


@login_required
@require_GET
def report_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The project's stages with their gate days, report due dates and reports."""
    project = _project(request, pk)
    role = report_role(_user(request), project)
    today = today_in_tokyo()
    rows = [
        {
            "due": due,
            "overdue": due.due_on < today and (due.report is None or due.report.is_open),
        }
        for due in stages_with_reports(project)
    ]
    return render(
        request,
        "projects/reports/list.html",
        {"project": project, "rows": rows, "can_open": can_write_report(role)[0]},
    )


@login_required
@require_POST
def report_open_view(request: HttpRequest, pk: int, stage_id: int) -> HttpResponse:
    project = _project(request, pk)
    stage = Stage.objects.select_related("gate").filter(pk=stage_id, project=project).first()
    if stage is None:
        raise Http404
    try:
        report = svc.report_open(project=project, stage=stage, actor=_user(request))
    except DomainError as exc:
        if exc.status == 403:
            return _refused(request, project, exc)
        messages.error(request, str(exc.message))
        return redirect("reports:list", pk=project.pk)
    messages.success(request, _("The report was started."))
    return redirect("reports:detail", pk=project.pk, report_id=report.pk)


def _line_fields(report: StageReport, found: Any, role: Any) -> list[dict[str, Any]]:
    """The spending inputs the person may fill: one per category of each organisation they
    may enter for (every category, so a line can be added where there is no budget)."""
    by_org = {block.organisation.pk: block for block in found.organisations}
    rows = []
    for block in found.organisations:
        if not can_enter_lines(role, block.organisation.pk)[0]:
            continue
        spent = {row.category: row.spent for row in by_org[block.organisation.pk].rows}
        for category, label in BudgetCategory.choices:
            rows.append(
                {
                    "name": f"spent-{block.organisation.pk}-{category}",
                    "organisation": block.organisation,
                    "currency": block.currency,
                    "category": label,
                    "value": spent.get(category, ""),
                }
            )
    return rows


def _render_detail(
    request: HttpRequest,
    project: Project,
    report: StageReport,
    *,
    narrative_form: NarrativeForm | None = None,
    return_form: ReturnForm | None = None,
    line_errors: list[str] | None = None,
    submit_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    role = report_role(user, project)
    found = statement(report)
    writes = can_write_report(role)[0] and report.is_open
    enters = can_enter_lines(role)[0] and report.is_open
    reviews = can_review_report(user)[0] and report.state == "submitted"
    return render(
        request,
        "projects/reports/detail.html",
        {
            "project": project,
            "report": report,
            "due_on": report_due_on(report.stage.gate.due_on),
            "statement": found,
            "charts": [
                {"currency": side.currency, "side": side, "rows": found.chart_rows(side.currency)}
                for side in found.sides
            ],
            "narrative_form": narrative_form
            or (
                NarrativeForm(
                    initial={
                        "narrative_en": report.narrative_en,
                        "narrative_ja": report.narrative_ja,
                        "narrative_ko": report.narrative_ko,
                        "version": report.version,
                    }
                )
                if writes
                else None
            ),
            "line_fields": _line_fields(report, found, role) if enters else [],
            "line_errors": line_errors or [],
            "submit_errors": submit_errors or [],
            "can_submit": writes,
            "can_review": reviews,
            "return_form": return_form or (ReturnForm() if reviews else None),
            "history": list(history_for(report)) if is_fund_staff(user) else [],
            "is_staff_view": is_fund_staff(user),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def report_detail(request: HttpRequest, pk: int, report_id: int) -> HttpResponse:
    """The report; a POST saves the narrative (the PIs, while it is open)."""
    project = _project(request, pk)
    report = _report(request, project, report_id)
    if request.method == "GET":
        return _render_detail(request, project, report)
    form = NarrativeForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, project, report, narrative_form=form, status=422)
    data = dict(form.cleaned_data)
    version = data.pop("version")
    try:
        svc.report_update(
            report=report, actor=_user(request), narrative=data, expected_version=version
        )
    except DomainError as exc:
        if exc.status == 403:
            return _refused(request, project, exc)
        form.add_error(None, str(exc.message))
        for key, msgs in exc.errors.items():
            for message in msgs:
                form.add_error(key if key in form.fields else None, str(message))
        return _render_detail(request, project, report, narrative_form=form, status=exc.status)
    messages.success(request, _("The narrative was saved."))
    return redirect("reports:detail", pk=project.pk, report_id=report.pk)


@login_required
@require_POST
def report_lines(request: HttpRequest, pk: int, report_id: int) -> HttpResponse:
    """Save the spending lines the person may enter (blank inputs are left out)."""
    project = _project(request, pk)
    report = _report(request, project, report_id)
    lines = []
    for key in request.POST:
        value = request.POST.get(key, "")
        if not key.startswith("spent-") or not value.strip():
            continue
        _prefix, organisation, category = key.split("-", 2)
        lines.append({"organisation": organisation, "category": category, "spent": value})
    try:
        svc.statement_lines_set(report=report, actor=_user(request), lines=lines)
    except DomainError as exc:
        if exc.status == 403:
            return _refused(request, project, exc)
        errors = [str(exc.message), *(str(m) for msgs in exc.errors.values() for m in msgs)]
        return _render_detail(request, project, report, line_errors=errors, status=exc.status)
    messages.success(request, _("The spending was saved."))
    return redirect("reports:detail", pk=project.pk, report_id=report.pk)


@login_required
@require_POST
def report_submit_view(request: HttpRequest, pk: int, report_id: int) -> HttpResponse:
    project = _project(request, pk)
    report = _report(request, project, report_id)
    try:
        svc.report_submit(report=report, actor=_user(request))
    except DomainError as exc:
        if exc.status == 403:
            return _refused(request, project, exc)
        errors = [str(exc.message), *(str(m) for msgs in exc.errors.values() for m in msgs)]
        return _render_detail(request, project, report, submit_errors=errors, status=exc.status)
    messages.success(request, _("The report was submitted to the fund officers."))
    return redirect("reports:detail", pk=project.pk, report_id=report.pk)


@login_required
@require_POST
def report_accept_view(request: HttpRequest, pk: int, report_id: int) -> HttpResponse:
    project = _project(request, pk)
    report = _report(request, project, report_id)
    try:
        svc.report_accept(report=report, actor=_user(request))
    except DomainError as exc:
        if exc.status == 403:
            return _refused(request, project, exc)
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The report was accepted."))
    return redirect("reports:detail", pk=project.pk, report_id=report.pk)


@login_required
@require_POST
def report_return_view(request: HttpRequest, pk: int, report_id: int) -> HttpResponse:
    project = _project(request, pk)
    report = _report(request, project, report_id)
    form = ReturnForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, project, report, return_form=form, status=422)
    try:
        svc.report_return(report=report, actor=_user(request), reason=form.cleaned_data["reason"])
    except DomainError as exc:
        if exc.status == 403:
            return _refused(request, project, exc)
        for message in exc.errors.get("reason", []) or [exc.message]:
            form.add_error("reason", str(message))
        return _render_detail(request, project, report, return_form=form, status=exc.status)
    messages.success(request, _("The report was returned to the principal investigators."))
    return redirect("reports:detail", pk=project.pk, report_id=report.pk)


def _filename(report: StageReport, extension: str) -> str:
    return f"stage-report-{report.project_id}-{report.stage.number}.{extension}"


@login_required
@require_GET
def report_csv(request: HttpRequest, pk: int, report_id: int) -> HttpResponse:
    """The statement as CSV, in the reader's language."""
    project = _project(request, pk)
    report = _report(request, project, report_id)
    response = HttpResponse(
        statement_csv(statement(report)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(report, "csv")}"'
    return response


@login_required
@require_GET
def report_xlsx(request: HttpRequest, pk: int, report_id: int) -> HttpResponse:
    """The statement as an XLSX workbook, in the reader's language."""
    project = _project(request, pk)
    report = _report(request, project, report_id)
    title = _("Stage %(number)d statement") % {"number": report.stage.number}
    response = HttpResponse(statement_xlsx(statement(report), title=title), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{_filename(report, "xlsx")}"'
    return response


_routes = [
    path("projects/<int:pk>/reports/", report_list, name="list"),
    path("projects/<int:pk>/reports/start/<int:stage_id>/", report_open_view, name="open"),
    path("projects/<int:pk>/reports/<int:report_id>/", report_detail, name="detail"),
    path("projects/<int:pk>/reports/<int:report_id>/lines/", report_lines, name="lines"),
    path("projects/<int:pk>/reports/<int:report_id>/submit/", report_submit_view, name="submit"),
    path("projects/<int:pk>/reports/<int:report_id>/accept/", report_accept_view, name="accept"),
    path("projects/<int:pk>/reports/<int:report_id>/return/", report_return_view, name="return"),
    path("projects/<int:pk>/reports/<int:report_id>/statement.csv", report_csv, name="csv"),
    path("projects/<int:pk>/reports/<int:report_id>/statement.xlsx", report_xlsx, name="xlsx"),
]

# Namespaced "reports:…".
urlpatterns: list[URLPattern | URLResolver] = [path("", include((_routes, "reports")))]
