"""Measurement pages of a project (§7, §15): entry form, CSV import with a progress bar,
KPI progress against targets, evidence download and the officers' rejection form.

The project is fetched through ``get_project_for_actor`` (404 for anyone who may not see
it); actions ask the same permission functions as the services (403 with the reason) and
change state only through ``projects.services.measurements`` and
``projects.services.measurement_import``. A refused entry renders the form again with the
service's messages beside the fields and the service's status; nothing typed is lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from fundapp.accounts.models import User
from fundapp.errors import DomainError, NotFound, PermissionDenied
from projects.models import KPI, Measurement, MeasurementSource, Project
from projects.models.imports import ImportJob
from projects.rules.gates import GATE_TIMEZONE
from projects.selectors.gates import (
    get_evidence_file_for_actor,
    get_import_job_for_actor,
    get_measurement_for_actor,
    kpi_progress,
    project_measurements,
    with_evidence_files,
)
from projects.selectors.projects import get_project_for_actor
from projects.selectors.verification import with_verification
from projects.services import measurement_import as import_svc
from projects.services import measurements as svc

PAGE_SIZE = 25
CHART_WIDTH = 320
CHART_HEIGHT = 120
CHART_PAD = 8


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _project_or_404(user: User, pk: object) -> Project:
    try:
        return get_project_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _forbidden(request: HttpRequest, message: object, project: Project) -> HttpResponse:
    return render(
        request,
        "projects/measurements/forbidden.html",
        {"message": str(message), "project": project},
        status=403,
    )


# --------------------------------------------------------------------------- forms


class KpiChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: KPI) -> str:
        unit = f" [{obj.unit}]" if obj.unit else ""
        return _("Stage %(stage)d · %(code)s — %(name)s%(unit)s") % {
            "stage": obj.stage.number,
            "code": obj.code,
            "name": obj.name,
            "unit": unit,
        }


EVIDENCE_ACCEPT = "application/pdf,.pdf,text/csv,.csv,image/png,.png,image/jpeg,.jpg,.jpeg"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one ``<input type=file multiple>``: a list (empty when none was
    chosen); each file's content is the service's to check."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": EVIDENCE_ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data]
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files if f]
        if self.required and not cleaned:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return cleaned


def _evidence_field(*, required: bool) -> MultipleFileField:
    return MultipleFileField(
        label=gettext_lazy("Evidence files"),
        required=required,
        help_text=gettext_lazy(
            "PDF, CSV, PNG or JPEG files, at most 20 MB each; choose several at once if needed."
        ),
    )


class MeasurementForm(forms.Form):
    """What a researcher types; the service checks the values and says what is wrong."""

    kpi = KpiChoiceField(label=gettext_lazy("KPI"), queryset=KPI.objects.none())
    value = forms.CharField(
        label=gettext_lazy("Value"),
        max_length=60,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text=gettext_lazy("A number with at most 6 decimal places, e.g. 12.5."),
    )
    measured_on = forms.DateField(
        label=gettext_lazy("Measured on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    measured_time = forms.TimeField(
        label=gettext_lazy("Time"),
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=gettext_lazy("Japan and Korea time (UTC+09:00)."),
    )
    note = forms.CharField(
        label=gettext_lazy("Evidence note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    evidence = _evidence_field(required=False)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kpi_field = cast(KpiChoiceField, self.fields["kpi"])
        kpi_field.queryset = (
            KPI.objects.filter(project=project)
            .select_related("stage")
            .order_by("stage__number", "id")
        )

    def measured_at(self) -> datetime:
        return datetime.combine(
            self.cleaned_data["measured_on"],
            self.cleaned_data["measured_time"],
            tzinfo=GATE_TIMEZONE,
        )

    _FIELD_FOR = {"measured_at": "measured_on", "source": None}

    def add_domain_errors(self, exc: DomainError) -> None:
        if not exc.errors:
            self.add_error(None, str(exc.message))
        for key, msgs in exc.errors.items():
            target = self._FIELD_FOR.get(key, key)
            if target not in self.fields:
                target = None
            for message in msgs:
                self.add_error(target, str(message))


class EvidenceAddForm(forms.Form):
    evidence = _evidence_field(required=True)

    def add_domain_errors(self, exc: DomainError) -> None:
        if not exc.errors:
            self.add_error(None, str(exc.message))
        for key, msgs in exc.errors.items():
            for message in msgs:
                self.add_error("evidence" if key == "evidence" else None, str(message))


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        widget=forms.ClearableFileInput(attrs={"accept": "text/csv,.csv"}),
    )
    evidence_zip = forms.FileField(
        label=gettext_lazy("Evidence files (zip)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "application/zip,.zip"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Column names and the example are code, not words to translate.
        self.fields["file"].help_text = format_html(
            _(
                "UTF-8, with the header line {header}; {column} with its offset, e.g. "
                "{example}. At most 10,000 rows and 5 MB."
            ),
            header=format_html("<code>{}</code>", ",".join(import_svc.COLUMNS)),
            column=format_html("<code>{}</code>", "measured_at"),
            example=format_html("<code>{}</code>", "2026-05-01T10:00:00+09:00"),
        )
        self.fields["evidence_zip"].help_text = format_html(
            _(
                "Optional: a zip of the evidence files; the column {column} names each row's "
                "files in it, separated by {separator}, e.g. {example}. PDF, CSV, PNG or JPEG, "
                "at most 20 MB each; every file in the zip must be named by a row."
            ),
            column=format_html("<code>{}</code>", "evidence"),
            separator=format_html("<code>{}</code>", ";"),
            example=format_html("<code>{}</code>", "run-14.pdf;chart-14.png"),
        )

    def add_domain_errors(self, exc: DomainError) -> None:
        if not exc.errors:
            self.add_error(None, str(exc.message))
        for key, msgs in exc.errors.items():
            target = key if key in ("file", "evidence_zip") else None
            for message in msgs:
                self.add_error(target, str(message))


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,  # the service refuses an empty reason with its own message
        widget=forms.Textarea(attrs={"rows": 3}),
    )


# --------------------------------------------------------------------------- charts


def chart(series: Any) -> dict[str, Any]:
    """Scale a KPI's counted points, baseline and target into an SVG viewBox."""
    counted = [p for p in series.points if not p.rejected]
    values = [series.baseline, series.target, *(p.value for p in counted)]
    low, high = min(values), max(values)
    span = (high - low) or 1
    times = [p.measured_at.timestamp() for p in counted]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    t_span = (t1 - t0) or 1.0
    inner_w = CHART_WIDTH - 2 * CHART_PAD
    inner_h = CHART_HEIGHT - 2 * CHART_PAD

    def y(value: Any) -> float:
        return round(CHART_PAD + inner_h - float((value - low) / span) * inner_h, 1)

    def x(ts: float) -> float:
        if len(times) < 2:
            return CHART_WIDTH / 2
        return round(CHART_PAD + (ts - t0) / t_span * inner_w, 1)

    points = [(x(ts), y(p.value)) for ts, p in zip(times, counted, strict=True)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "baseline_y": y(series.baseline),
        "target_y": y(series.target),
        "polyline": " ".join(f"{px},{py}" for px, py in points),
        "points": points,
    }


# --------------------------------------------------------------------------- pages


def _render_list(
    request: HttpRequest,
    project: Project,
    *,
    form: MeasurementForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    can_record = svc.can_record_measurement(user, project)[0]
    can_reject = svc.can_reject_measurement(user)[0]
    if form is None and can_record:
        form = MeasurementForm(project=project)
    # Each row's verification state (§22) is read in the same query as the row.
    rows = with_evidence_files(with_verification(project_measurements(project)))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    series = [{"series": s, "chart": chart(s)} for s in kpi_progress(project)]
    return render(
        request,
        "projects/measurements/list.html",
        {
            "project": project,
            "form": form if can_record else None,
            "can_record": can_record,
            "can_reject": can_reject,
            "can_add_evidence": can_record,
            "page": page,
            "series": series,
            "jobs": list(ImportJob.objects.filter(project=project)[:5]) if can_record else [],
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def measurement_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The project's measurements and KPI progress; the entry form for those who report."""
    user = _user(request)
    project = _project_or_404(user, pk)
    if request.method == "GET":
        return _render_list(request, project)
    allowed, reason = svc.can_record_measurement(user, project)
    if not allowed:
        return _forbidden(request, reason, project)
    form = MeasurementForm(request.POST, request.FILES, project=project)
    if not form.is_valid():
        return _render_list(request, project, form=form, status=422)
    try:
        svc.measurement_record(
            kpi=form.cleaned_data["kpi"],
            actor=user,
            value=form.cleaned_data["value"],
            measured_at=form.measured_at(),
            note=form.cleaned_data["note"],
            source=MeasurementSource.BROWSER,
            evidence=form.cleaned_data.get("evidence"),
        )
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, project)
    except DomainError as exc:
        form.add_domain_errors(exc)
        return _render_list(request, project, form=form, status=exc.status)
    messages.success(request, _("The measurement was recorded."))
    return redirect("measurements:list", pk=project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def measurement_import_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a CSV; the import runs in the background and its page shows the progress."""
    user = _user(request)
    project = _project_or_404(user, pk)
    allowed, reason = svc.can_record_measurement(user, project)
    if not allowed:
        return _forbidden(request, reason, project)
    status = 200
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = import_svc.measurements_import_csv(
                    project=project,
                    actor=user,
                    file=form.cleaned_data["file"],
                    evidence_zip=form.cleaned_data.get("evidence_zip"),
                )
            except PermissionDenied as exc:
                return _forbidden(request, exc.message, project)
            except DomainError as exc:
                form.add_domain_errors(exc)
                status = exc.status
            else:
                return redirect("measurements:import_job", pk=project.pk, job_id=job.pk)
        else:
            status = 422
    else:
        form = ImportForm()
    return render(
        request,
        "projects/measurements/import.html",
        {
            "project": project,
            "form": form,
            "columns": import_svc.COLUMNS,
            "jobs": list(ImportJob.objects.filter(project=project)[:10]),
        },
        status=status,
    )


def _job_or_404(user: User, project: Project, job_id: int) -> ImportJob:
    try:
        return get_import_job_for_actor(user, project, job_id)
    except NotFound:
        raise Http404 from None


@login_required
@require_GET
def import_job_view(request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
    user = _user(request)
    project = _project_or_404(user, pk)
    job = _job_or_404(user, project, job_id)
    return render(
        request, "projects/measurements/import_job.html", {"project": project, "job": job}
    )


@login_required
@require_GET
def import_progress_view(request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
    """The small partial htmx polls every second until the job has finished."""
    user = _user(request)
    project = _project_or_404(user, pk)
    job = _job_or_404(user, project, job_id)
    return render(
        request, "projects/measurements/_import_progress.html", {"project": project, "job": job}
    )


def _measurement_or_404(user: User, project: Project, measurement_id: int) -> Measurement:
    try:
        measurement = get_measurement_for_actor(user, measurement_id)
    except NotFound:
        raise Http404 from None
    if measurement.project_id != project.pk:
        raise Http404
    return measurement


@login_required
@require_http_methods(["GET", "POST"])
def measurement_reject_view(request: HttpRequest, pk: int, measurement_id: int) -> HttpResponse:
    """A fund officer takes a measurement out of the gate evaluation, with a reason."""
    user = _user(request)
    project = _project_or_404(user, pk)
    measurement = _measurement_or_404(user, project, measurement_id)
    allowed, reason = svc.can_reject_measurement(user)
    if not allowed:
        return _forbidden(request, reason, project)
    form = RejectForm(request.POST or None)
    status = 200
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            svc.measurement_reject(
                measurement=measurement, actor=user, reason=form.cleaned_data["reason"]
            )
        except PermissionDenied as exc:
            return _forbidden(request, exc.message, project)
        except DomainError as exc:
            status = exc.status
            if "reason" in exc.errors:
                for message in exc.errors["reason"]:
                    form.add_error("reason", str(message))
            else:
                error = str(exc.message)
        else:
            messages.success(request, _("The measurement was rejected."))
            return redirect("measurements:list", pk=project.pk)
    return render(
        request,
        "projects/measurements/reject.html",
        {"project": project, "measurement": measurement, "form": form, "error": error},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def evidence_add_view(request: HttpRequest, pk: int, measurement_id: int) -> HttpResponse:
    """Add evidence files to a measurement already recorded (§22); the service says when
    it is too late (a rejected measurement, a decided gate)."""
    user = _user(request)
    project = _project_or_404(user, pk)
    measurement = _measurement_or_404(user, project, measurement_id)
    allowed, reason = svc.can_record_measurement(user, project)
    if not allowed:
        return _forbidden(request, reason, project)
    status = 200
    if request.method == "POST":
        form = EvidenceAddForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                svc.measurement_evidence_add(
                    measurement=measurement, actor=user, evidence=form.cleaned_data["evidence"]
                )
            except PermissionDenied as exc:
                return _forbidden(request, exc.message, project)
            except DomainError as exc:
                form.add_domain_errors(exc)
                status = exc.status
            else:
                messages.success(request, _("The evidence files were added."))
                return redirect("measurements:list", pk=project.pk)
        else:
            status = 422
    else:
        form = EvidenceAddForm()
    files = list(measurement.evidence_files.order_by("id"))
    return render(
        request,
        "projects/measurements/add_evidence.html",
        {"project": project, "measurement": measurement, "files": files, "form": form},
        status=status,
    )


@login_required
@require_GET
def evidence_download(
    request: HttpRequest, pk: int, measurement_id: int, file_id: int
) -> FileResponse:
    """Stream one evidence file to someone who may see its measurement (the project's
    people and officers) or to a verifier designated for the measurement's KPI (§22); 404
    for anyone else."""
    try:
        evidence = get_evidence_file_for_actor(_user(request), measurement_id, file_id)
    except NotFound:
        raise Http404 from None
    if evidence.measurement.project_id != int(pk):
        raise Http404
    file_path = svc.evidence_file_path(evidence)
    if file_path is None:
        raise Http404
    return FileResponse(
        file_path.open("rb"),
        as_attachment=True,
        filename=evidence.name or file_path.name,
        content_type=evidence.content_type or "application/octet-stream",
    )


_routes = [
    path("", measurement_list, name="list"),
    path("import/", measurement_import_view, name="import"),
    path("import/<int:job_id>/", import_job_view, name="import_job"),
    path("import/<int:job_id>/progress/", import_progress_view, name="import_progress"),
    path("<int:measurement_id>/reject/", measurement_reject_view, name="reject"),
    path("<int:measurement_id>/evidence/", evidence_add_view, name="add_evidence"),
    path("<int:measurement_id>/evidence/<int:file_id>/", evidence_download, name="evidence"),
]

# Namespaced "measurements:…", under the project they belong to.
urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:pk>/measurements/", include((_routes, "measurements"))),
]
