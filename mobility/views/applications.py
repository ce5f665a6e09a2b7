"""The visit application wizard (§25, §15), as the proposals' wizard: from an open
mobility call's page the researcher starts an application (visitor and organisations),
then fills in the dates and plan and the host supervisor, and submits from the review
step; "My applications" lists them.

Every step saves through the services with the version the page was read at: a save on
an older version answers 409 and the page comes back with the message and what was
typed. Field errors come back translated on their fields. An application one may not
see answers 404.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import Organisation, User
from fundapp.errors import DomainError, NotFound, PermissionDenied
from mobility.models import MobilityTerms, VisitApplication
from mobility.permissions import get_application_for_actor
from mobility.services.applications import (
    application_create,
    application_submit,
    application_update,
    submission_problems,
)
from projects.models import Call, CallKind, ResearchArea
from projects.selectors.calls import get_call_for_actor

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


class OrganisationsForm(forms.Form):
    home_organisation = forms.ModelChoiceField(
        label=gettext_lazy("Home organisation"), queryset=Organisation.objects.none()
    )
    host_organisation = forms.ModelChoiceField(
        label=gettext_lazy("Host organisation"), queryset=Organisation.objects.none()
    )

    def __init__(self, *args: Any, visitor: User, terms: MobilityTerms, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        home = cast(forms.ModelChoiceField, self.fields["home_organisation"])
        home.queryset = Organisation.objects.filter(memberships__user=visitor).order_by("code")
        host = cast(forms.ModelChoiceField, self.fields["host_organisation"])
        host.queryset = Organisation.objects.filter(country__in=terms.eligible_countries).order_by(
            "country", "code"
        )

    def data_for_service(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name].pk for name in self.fields}


class PlanForm(forms.Form):
    planned_start = forms.DateField(
        label=gettext_lazy("Planned start"), widget=DATE_INPUT, required=False
    )
    months = forms.IntegerField(
        label=gettext_lazy("Months"), min_value=1, max_value=12, required=False
    )
    research_area = forms.ModelChoiceField(
        label=gettext_lazy("Research area"), queryset=ResearchArea.objects.none(), required=False
    )
    effort_percent = forms.IntegerField(
        label=gettext_lazy("Effort (percentage of working time)"),
        min_value=1,
        max_value=100,
        required=False,
    )
    title_en = forms.CharField(label=gettext_lazy("Title (English)"), required=False)
    title_ja = forms.CharField(label=gettext_lazy("Title (Japanese)"), required=False)
    title_ko = forms.CharField(label=gettext_lazy("Title (Korean)"), required=False)
    plan_en = forms.CharField(
        label=gettext_lazy("Plan (English)"), required=False, widget=forms.Textarea
    )
    plan_ja = forms.CharField(
        label=gettext_lazy("Plan (Japanese)"), required=False, widget=forms.Textarea
    )
    plan_ko = forms.CharField(
        label=gettext_lazy("Plan (Korean)"), required=False, widget=forms.Textarea
    )

    def __init__(self, *args: Any, call: Call, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        area = cast(forms.ModelChoiceField, self.fields["research_area"])
        area.queryset = call.research_areas.order_by("code")

    def data_for_service(self) -> dict[str, Any]:
        values = dict(self.cleaned_data)
        area = values.get("research_area")
        values["research_area"] = area.pk if area else None
        start = values.get("planned_start")
        values["planned_start"] = start.isoformat() if start else None
        return values


class SupervisorForm(forms.Form):
    host_supervisor_name = forms.CharField(
        label=gettext_lazy("Host supervisor's name"), required=False, max_length=200
    )
    host_supervisor_email = forms.CharField(
        label=gettext_lazy("Host supervisor's e-mail"), required=False, max_length=254
    )
    host_supervisor = forms.CharField(
        label=gettext_lazy("Host supervisor's user name (optional)"),
        required=False,
        max_length=150,
    )

    def data_for_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


STEPS: dict[str, tuple[Any, type[forms.Form]]] = {
    "organisations": (gettext_lazy("Visitor and organisations"), OrganisationsForm),
    "plan": (gettext_lazy("Dates and plan"), PlanForm),
    "supervisor": (gettext_lazy("Host supervisor"), SupervisorForm),
}
ORDER = [*STEPS, "review"]


def _form(
    step: str, application: VisitApplication | None, call: Call, user: User, data: Any = None
) -> forms.Form:
    cls = STEPS[step][1]
    kwargs: dict[str, Any] = {}
    if cls is OrganisationsForm:
        kwargs = {"visitor": user, "terms": MobilityTerms.objects.get(call=call)}
    elif cls is PlanForm:
        kwargs = {"call": call}
    initial: dict[str, Any] = {}
    if application is not None:
        for name in cls.base_fields:
            value = getattr(application, name)
            initial[name] = (
                getattr(value, "username", value) if name == "host_supervisor" else value
            )
    return cls(data, initial=initial, **kwargs)


def _apply_errors(form: forms.Form, exc: DomainError) -> None:
    for field, errors in exc.errors.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, str(error))


def _render_step(
    request: HttpRequest,
    *,
    call: Call,
    step: str,
    form: forms.Form | None,
    application: VisitApplication | None,
    status: int = 200,
    version: Any = None,
) -> HttpResponse:
    context: dict[str, Any] = {
        "call": call,
        "step": step,
        "steps": [
            (name, STEPS[name][0] if name in STEPS else _("Review and submit")) for name in ORDER
        ],
        "form": form,
        "application": application,
        "version": version if version is not None else getattr(application, "version", ""),
    }
    if step == "review" and application is not None:
        context["problems"] = submission_problems(application, now=timezone.now()).as_dict()
    return render(request, "mobility/applications/wizard.html", context, status=status)


def _open_mobility_call(user: User, pk: int) -> Call:
    try:
        call = get_call_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    if call.kind != CallKind.MOBILITY:
        raise Http404
    return call


def _application_or_404(user: User, pk: int) -> VisitApplication:
    try:
        return get_application_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


@login_required
@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest, call_pk: int) -> HttpResponse:
    """The first step: the visitor (the reader) and the two organisations."""
    user = _user(request)
    call = _open_mobility_call(user, call_pk)
    if request.method == "GET":
        form = _form("organisations", None, call, user)
        return _render_step(request, call=call, step="organisations", form=form, application=None)
    form = _form("organisations", None, call, user, request.POST)
    if not form.is_valid():
        return _render_step(
            request, call=call, step="organisations", form=form, application=None, status=422
        )
    try:
        application = application_create(
            actor=user, call=call, data=cast(OrganisationsForm, form).data_for_service()
        )
    except DomainError as exc:
        _apply_errors(form, exc)
        messages.error(request, str(exc.message))
        return _render_step(
            request,
            call=call,
            step="organisations",
            form=form,
            application=None,
            status=exc.status,
        )
    return redirect("mobility:step", pk=application.pk, step="plan")


@login_required
@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    """One step of a draft: shown with the saved values; saved with the version read."""
    user = _user(request)
    application = _application_or_404(user, pk)
    if step not in STEPS:
        raise Http404
    call = application.call
    if request.method == "GET":
        form = _form(step, application, call, user)
        return _render_step(request, call=call, step=step, form=form, application=application)
    form = _form(step, application, call, user, request.POST)
    version = request.POST.get("version")
    if not form.is_valid():
        return _render_step(
            request,
            call=call,
            step=step,
            form=form,
            application=application,
            status=422,
            version=version,
        )
    try:
        application_update(
            application=application,
            actor=user,
            data=form.data_for_service(),  # type: ignore[attr-defined]
            expected_version=version,
        )
    except DomainError as exc:
        _apply_errors(form, exc)
        messages.error(request, str(exc.message))
        return _render_step(
            request,
            call=call,
            step=step,
            form=form,
            application=application,
            status=exc.status,
            version=version,
        )
    following = ORDER[ORDER.index(step) + 1]
    if following == "review":
        return redirect("mobility:application", pk=application.pk)
    return redirect("mobility:step", pk=application.pk, step=following)


@login_required
@require_GET
def review(request: HttpRequest, pk: int) -> HttpResponse:
    """The application's page: its values, what still stops the submission, and its
    submit button while a draft."""
    user = _user(request)
    application = _application_or_404(user, pk)
    return _render_step(
        request, call=application.call, step="review", form=None, application=application
    )


@login_required
@require_POST
def submit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    application = _application_or_404(user, pk)
    try:
        application_submit(application=application, actor=user)
    except PermissionDenied:
        raise Http404 from None
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return _render_step(
            request,
            call=application.call,
            step="review",
            form=None,
            application=application,
            status=exc.status,
        )
    messages.success(
        request, _("The application is submitted; the host organisation is asked to endorse it.")
    )
    return redirect("mobility:mine")


@login_required
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    """The reader's applications, newest first. Two queries whatever their number."""
    applications = list(
        VisitApplication.objects.filter(visitor=_user(request))
        .select_related("call", "home_organisation", "host_organisation")
        .order_by("-created_at", "-id")
    )
    return render(request, "mobility/applications/mine.html", {"applications": applications})


application_patterns: list[URLPattern | URLResolver] = [
    path("mine/", mine, name="mine"),
    path("apply/<int:call_pk>/", apply, name="apply"),
    path("<int:pk>/", review, name="application"),
    path("<int:pk>/submit/", submit, name="submit"),
    path("<int:pk>/steps/<slug:step>/", step, name="step"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("visit-applications/", include((application_patterns, "mobility"), namespace="mobility")),
]
