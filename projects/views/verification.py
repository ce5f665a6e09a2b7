"""Verification pages (§22): a verifier's queue of measurements awaiting their verdict,
and the officers' page designating and revoking a project's verifiers.

The queue shows only the measurements of the KPIs the person's live designations cover
(``projects.selectors.verification``); a verdict on anything else is the same 404 as a
missing measurement. Changes go through ``projects.services.verification`` only.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import Organisation, User
from fundapp.errors import DomainError, NotFound, PermissionDenied
from projects.models import KPI, AttestationVerdict, Measurement, Project, VerifierAssignment
from projects.permissions import can_designate_verifier
from projects.selectors.gates import with_evidence_files
from projects.selectors.projects import get_project_for_actor
from projects.selectors.verification import (
    get_measurement_for_verifier,
    project_assignments,
    verdicts_given_by,
    verification_queue,
)
from projects.services import verification as svc

PAGE_SIZE = 25
RECENT_VERDICTS = 10


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


# --------------------------------------------------------------------------- forms


class VerdictForm(forms.Form):
    verdict = forms.ChoiceField(choices=AttestationVerdict.choices, widget=forms.HiddenInput)
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,  # the service says a dispute needs one, beside the field
        max_length=svc.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("What you checked. Required to dispute."),
    )


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj} ({obj.username}, {obj.get_role_display()})"


class OrganisationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Organisation) -> str:
        return f"{obj.name} ({obj.code})"


class KpiChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: KPI) -> str:
        return _("Stage %(stage)d · %(code)s — %(name)s") % {
            "stage": obj.stage.number,
            "code": obj.code,
            "name": obj.name,
        }


class DesignateForm(forms.Form):
    verifier = PersonChoiceField(
        label=gettext_lazy("Person"),
        queryset=User.objects.none(),
        required=False,
        help_text=gettext_lazy(
            "A researcher of an organisation outside the consortium, or an expert."
        ),
    )
    organisation = OrganisationChoiceField(
        label=gettext_lazy("Or a verifier organisation"),
        queryset=Organisation.objects.none(),
        required=False,
        help_text=gettext_lazy("Its systems attest through the API with the kpi:attest scope."),
    )
    kpis = KpiChoices(
        label=gettext_lazy("KPIs"),
        queryset=KPI.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None chosen: every KPI of the project."),
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["verifier"]).queryset = User.objects.filter(
            is_active=True, role__in=svc.VERIFIER_ROLES
        ).order_by("username")
        cast(
            forms.ModelChoiceField, self.fields["organisation"]
        ).queryset = Organisation.objects.order_by("code")
        cast(forms.ModelChoiceField, self.fields["kpis"]).queryset = (
            KPI.objects.filter(project=project)
            .select_related("stage")
            .order_by("stage__number", "id")
        )

    def add_domain_errors(self, exc: DomainError) -> None:
        placed = False
        for key, msgs in exc.errors.items():
            target = key if key in self.fields else None
            if (
                key == "verifier"
                and self.data.get("organisation")
                and not self.data.get("verifier")
            ):
                target = "organisation"
            for message in msgs:
                self.add_error(target, str(message))
                placed = True
        if not placed or exc.code == "conflict_of_interest":
            self.add_error(None, str(exc.message))


# --------------------------------------------------------------------------- the queue


def _render_queue(
    request: HttpRequest,
    *,
    failed: Measurement | None = None,
    failed_form: VerdictForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    page = Paginator(with_evidence_files(verification_queue(user)), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = []
    for measurement in page.object_list:
        form = (
            failed_form
            if failed is not None and failed.pk == measurement.pk and failed_form is not None
            else VerdictForm(prefix=f"m{measurement.pk}")
        )
        rows.append({"measurement": measurement, "form": form})
    return render(
        request,
        "projects/verification/queue.html",
        {
            "page": page,
            "rows": rows,
            "recent": list(verdicts_given_by(user)[:RECENT_VERDICTS]),
        },
        status=status,
    )


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The measurements of the person's assigned KPIs awaiting their verdict."""
    return _render_queue(request)


@login_required
@require_POST
def verdict(request: HttpRequest, measurement_id: int) -> HttpResponse:
    """Attest or dispute one measurement of the queue, with a note."""
    user = _user(request)
    try:
        measurement = get_measurement_for_verifier(user, measurement_id)
    except NotFound:
        raise Http404 from None
    form = VerdictForm(request.POST, prefix=f"m{measurement.pk}")
    if not form.is_valid():
        return _render_queue(request, failed=measurement, failed_form=form, status=422)
    try:
        svc.measurement_attest(
            measurement=measurement,
            actor=user,
            verdict=form.cleaned_data["verdict"],
            note=form.cleaned_data["note"],
        )
    except NotFound:
        raise Http404 from None
    except DomainError as exc:
        if "note" in exc.errors:
            for message in exc.errors["note"]:
                form.add_error("note", str(message))
        else:
            form.add_error(None, str(exc.message))
        return _render_queue(request, failed=measurement, failed_form=form, status=exc.status)
    if form.cleaned_data["verdict"] == AttestationVerdict.DISPUTED:
        messages.success(request, _("You disputed the measurement."))
    else:
        messages.success(request, _("You attested the measurement."))
    return redirect("verification:queue")


# --------------------------------------------------------------------------- designation


def _officer_project(request: HttpRequest, pk: int) -> Project | HttpResponse:
    user = _user(request)
    try:
        project = get_project_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    allowed, reason = can_designate_verifier(user)
    if not allowed:
        return render(
            request,
            "projects/verification/forbidden.html",
            {"message": reason, "project": project},
            status=403,
        )
    return project


def _render_verifiers(
    request: HttpRequest, project: Project, form: DesignateForm, *, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "projects/verification/verifiers.html",
        {"project": project, "form": form, "assignments": list(project_assignments(project.pk))},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_verifiers(request: HttpRequest, pk: int) -> HttpResponse:
    """A project's verifiers, and the form designating another (fund officers)."""
    project = _officer_project(request, pk)
    if isinstance(project, HttpResponse):
        return project
    if request.method == "GET":
        return _render_verifiers(request, project, DesignateForm(project=project))
    form = DesignateForm(request.POST, project=project)
    if not form.is_valid():
        return _render_verifiers(request, project, form, status=422)
    try:
        svc.verifier_designate(
            project=project,
            actor=_user(request),
            verifier=form.cleaned_data["verifier"],
            organisation=form.cleaned_data["organisation"],
            kpis=form.cleaned_data["kpis"],
        )
    except PermissionDenied as exc:
        return render(
            request,
            "projects/verification/forbidden.html",
            {"message": exc.message, "project": project},
            status=403,
        )
    except DomainError as exc:
        form.add_domain_errors(exc)
        return _render_verifiers(request, project, form, status=exc.status)
    messages.success(request, _("The verifier was designated."))
    return redirect("verification:project_verifiers", pk=project.pk)


@login_required
@require_POST
def revoke(request: HttpRequest, pk: int, assignment_id: int) -> HttpResponse:
    project = _officer_project(request, pk)
    if isinstance(project, HttpResponse):
        return project
    assignment = VerifierAssignment.objects.filter(pk=assignment_id, project=project).first()
    if assignment is None:
        raise Http404
    try:
        svc.verifier_revoke(assignment=assignment, actor=_user(request))
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The designation was revoked."))
    return redirect("verification:project_verifiers", pk=project.pk)


_routes = [
    path("verifications/", queue, name="queue"),
    path("verifications/<int:measurement_id>/", verdict, name="verdict"),
    path("projects/<int:pk>/verifiers/", project_verifiers, name="project_verifiers"),
    path(
        "projects/<int:pk>/verifiers/<int:assignment_id>/revoke/",
        revoke,
        name="revoke",
    ),
]

# Namespaced "verification:…".
urlpatterns: list[URLPattern | URLResolver] = [path("", include((_routes, "verification")))]
