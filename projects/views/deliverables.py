"""Deliverable pages (§24): a project's deliverables by stage with the submit form for its
researchers and the accept / request-changes forms for fund officers, the download of a
submitted file, and the officers' queue of submissions awaiting acceptance.

A project one may not see answers 404 (``get_project_for_actor``); the services check who
may act, and a refusal renders the page again with the service's message and status.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer, is_fund_staff
from fundapp.audit.models import AuditEvent
from fundapp.errors import DomainError, NotFound
from projects import permissions as perms
from projects.models import Deliverable, DeliverableFile, DeliverableState, Project, StageState
from projects.selectors.deliverables import (
    get_deliverable_for_actor,
    project_deliverables,
    submitted_deliverables,
)
from projects.selectors.projects import get_project_for_actor
from projects.services import deliverables as svc

QUEUE_PAGE = 25
SUBMITTABLE = (DeliverableState.PENDING, DeliverableState.CHANGES_REQUESTED)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _project_or_404(user: User, pk: object) -> Project:
    try:
        return get_project_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _deliverable_or_404(user: User, project: Project, pk: object) -> Deliverable:
    try:
        return get_deliverable_for_actor(user, project, pk)
    except NotFound:
        raise Http404 from None


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; each is checked by the service, by content."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return single(data, initial)


class SubmitForm(forms.Form):
    files = MultipleFileField(  # type: ignore[assignment]
        label=gettext_lazy("Files"),
        required=False,
        widget=MultipleFileInput(attrs={"multiple": True}),
        help_text=gettext_lazy("PDF, PNG, JPEG, ZIP or UTF-8 text (CSV); up to 20 MB each."),
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=svc.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ChangesForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("What needs to change"),
        max_length=svc.REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": gettext_lazy("Say what needs to change.")},
    )


def _render(
    request: HttpRequest,
    project: Project,
    *,
    error: str = "",
    failed: int | None = None,
    status: int = 200,
) -> HttpResponse:
    """The project's deliverables by stage (a fixed number of queries: the deliverables
    with their stages, their files, and for officers their history)."""
    user = _user(request)
    rows = project_deliverables(project)
    may_submit = perms.can_submit_deliverable(user, project)[0]
    may_decide = perms.can_decide_deliverable(user)[0]
    stages: list[dict[str, Any]] = []
    for deliverable in rows:
        if not stages or stages[-1]["stage"].pk != deliverable.stage_id:
            stages.append({"stage": deliverable.stage, "rows": []})
        stages[-1]["rows"].append(
            {
                "deliverable": deliverable,
                "files": list(deliverable.files.all()),
                "can_submit": may_submit
                and deliverable.state in SUBMITTABLE
                and deliverable.stage.state != StageState.PLANNED,
                "can_decide": may_decide and deliverable.state == DeliverableState.SUBMITTED,
                "error": error if failed == deliverable.pk else "",
            }
        )
    # §12: officers read the deliverables' history as sentences (one query).
    history = (
        list(
            AuditEvent.objects.filter(
                object_type=Deliverable._meta.label_lower,
                object_id__in=[str(d.pk) for d in rows],
            ).order_by("id")
        )
        if is_fund_staff(user) and rows
        else []
    )
    return render(
        request,
        "projects/deliverables/project.html",
        {
            "project": project,
            "history": history,
            "is_staff_view": is_fund_staff(user),
            "stages": stages,
            "submit_form": SubmitForm(),
            "changes_form": ChangesForm(),
            "error": error if failed is None else "",
        },
        status=status,
    )


@login_required
@require_GET
def project_deliverables_view(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project_or_404(_user(request), pk)
    return _render(request, project)


@login_required
@require_POST
def deliverable_submit_view(request: HttpRequest, pk: int, deliverable_id: int) -> HttpResponse:
    """The consortium submits files and a note (§24)."""
    user = _user(request)
    project = _project_or_404(user, pk)
    deliverable = _deliverable_or_404(user, project, deliverable_id)
    form = SubmitForm(request.POST, request.FILES)
    if not form.is_valid():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _render(request, project, error=message, failed=deliverable.pk, status=422)
    try:
        svc.deliverable_submit(
            deliverable=deliverable,
            actor=user,
            note=form.cleaned_data["note"],
            files=request.FILES.getlist("files"),
        )
    except DomainError as exc:
        shown = " ".join(str(m) for texts in exc.errors.values() for m in texts) or str(exc.message)
        return _render(request, project, error=shown, failed=deliverable.pk, status=exc.status)
    messages.success(request, _("The deliverable is submitted; a fund officer will review it."))
    return redirect("deliverables:project", pk=project.pk)


@login_required
@require_POST
def deliverable_accept_view(request: HttpRequest, pk: int, deliverable_id: int) -> HttpResponse:
    user = _user(request)
    project = _project_or_404(user, pk)
    deliverable = _deliverable_or_404(user, project, deliverable_id)
    try:
        svc.deliverable_accept(deliverable=deliverable, actor=user)
    except DomainError as exc:
        return _render(
            request, project, error=str(exc.message), failed=deliverable.pk, status=exc.status
        )
    messages.success(request, _("The deliverable is accepted."))
    return redirect("deliverables:project", pk=project.pk)


@login_required
@require_POST
def deliverable_changes_view(request: HttpRequest, pk: int, deliverable_id: int) -> HttpResponse:
    user = _user(request)
    project = _project_or_404(user, pk)
    deliverable = _deliverable_or_404(user, project, deliverable_id)
    form = ChangesForm(request.POST)
    if not form.is_valid():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _render(request, project, error=message, failed=deliverable.pk, status=422)
    try:
        svc.deliverable_request_changes(
            deliverable=deliverable, actor=user, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        return _render(
            request, project, error=str(exc.message), failed=deliverable.pk, status=exc.status
        )
    messages.success(request, _("Changes are requested; the project's researchers are told."))
    return redirect("deliverables:project", pk=project.pk)


@login_required
@require_GET
def deliverable_file_download(
    request: HttpRequest, pk: int, deliverable_id: int, file_id: int
) -> FileResponse:
    """Stream a submitted file to someone who may see the project; 404 for anyone else."""
    user = _user(request)
    project = _project_or_404(user, pk)
    deliverable = _deliverable_or_404(user, project, deliverable_id)
    file = DeliverableFile.objects.filter(deliverable=deliverable, pk=file_id).first()
    if file is None:
        raise Http404
    target = svc.deliverable_file_path(file)
    if not target.is_file():
        raise Http404
    return FileResponse(
        target.open("rb"), as_attachment=True, filename=file.name, content_type=file.content_type
    )


@login_required
@require_GET
def deliverable_queue(request: HttpRequest) -> HttpResponse:
    """Fund officers: submitted deliverables awaiting acceptance, oldest first, 25 a page
    (the count, the page with project and stage joined, and the session: a fixed number of
    queries whatever the page's size). Anyone else: 404."""
    if not is_fund_officer(_user(request)):
        raise Http404
    page = Paginator(submitted_deliverables(), QUEUE_PAGE).get_page(request.GET.get("page"))
    return render(request, "projects/deliverables/queue.html", {"page": page})


_routes: list[URLPattern | URLResolver] = [
    path("projects/<int:pk>/deliverables/", project_deliverables_view, name="project"),
    path(
        "projects/<int:pk>/deliverables/<int:deliverable_id>/submit/",
        deliverable_submit_view,
        name="submit",
    ),
    path(
        "projects/<int:pk>/deliverables/<int:deliverable_id>/accept/",
        deliverable_accept_view,
        name="accept",
    ),
    path(
        "projects/<int:pk>/deliverables/<int:deliverable_id>/request-changes/",
        deliverable_changes_view,
        name="request_changes",
    ),
    path(
        "projects/<int:pk>/deliverables/<int:deliverable_id>/files/<int:file_id>/",
        deliverable_file_download,
        name="file",
    ),
    path("deliverables/queue/", deliverable_queue, name="queue"),
]

urlpatterns: list[URLPattern | URLResolver] = [path("", include((_routes, "deliverables")))]
