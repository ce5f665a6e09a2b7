"""The host organisation's endorsement page (§25, as §5's lead organisations endorse
proposals): its research office sees the visit applications awaiting its endorsement and
endorses each, or returns it to the visitor with a reason.

An application one may not see answers 404 (``get_application_for_actor``); the services
decide who may endorse, and a refusal shows the page again with the service's message,
its status and the fields' errors, keeping what was typed.
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
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import User
from fundapp.actors import research_office_organisation_ids
from fundapp.errors import DomainError, NotFound
from mobility.models import ApplicationState, VisitApplication
from mobility.permissions import get_application_for_actor
from mobility.services.endorsements import application_endorse, application_return


class EndorseForm(forms.Form):
    comment = forms.CharField(
        label=gettext_lazy("Comment (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ReturnForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why it goes back to the visitor"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _awaiting(user: User) -> list[VisitApplication]:
    """Submitted applications to the organisations whose research office ``user`` is,
    oldest submission first. Two queries whatever their number."""
    offices = research_office_organisation_ids(user)
    return list(
        VisitApplication.objects.filter(
            host_organisation_id__in=offices, state=ApplicationState.SUBMITTED
        )
        .select_related(
            "call", "visitor", "home_organisation", "host_organisation", "research_area"
        )
        .order_by("submitted_at", "id")
    )


def _page(
    request: HttpRequest,
    *,
    status: int = 200,
    error: str = "",
    failed: int | None = None,
    **forms_: Any,
) -> HttpResponse:
    """The list; the application ``failed`` shows the forms that were refused."""
    rows = []
    for application in _awaiting(_user(request)):
        refused = forms_ if application.pk == failed else {}
        rows.append(
            {
                "application": application,
                "endorse_form": refused.get("endorse_form")
                or EndorseForm(prefix=f"e{application.pk}"),
                "return_form": refused.get("return_form")
                or ReturnForm(prefix=f"r{application.pk}"),
            }
        )
    return render(
        request,
        "mobility/applications/endorsements.html",
        {"rows": rows, "error": error},
        status=status,
    )


@login_required
@require_GET
def endorsements(request: HttpRequest) -> HttpResponse:
    """The applications awaiting the reader's organisations' endorsement."""
    return _page(request)


def _application_or_404(user: User, pk: int) -> VisitApplication:
    try:
        return get_application_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _refused(
    request: HttpRequest, application: VisitApplication, exc: DomainError, form: forms.Form
) -> HttpResponse:
    for field, errors in exc.errors.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, str(error))
    name = "endorse_form" if isinstance(form, EndorseForm) else "return_form"
    return _page(
        request,
        status=exc.status,
        error=str(exc.message),
        failed=application.pk,
        **{name: form},
    )


@login_required
@require_POST
def endorse(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    application = _application_or_404(user, pk)
    form = EndorseForm(request.POST, prefix=f"e{application.pk}")
    if not form.is_valid():
        return _page(request, status=422, failed=application.pk, endorse_form=form)
    try:
        application_endorse(
            application=application, actor=user, comment=form.cleaned_data["comment"]
        )
    except DomainError as exc:
        return _refused(request, application, exc, form)
    messages.success(request, _("The application is endorsed for your organisation."))
    return redirect("visit_applications:endorsements")


@login_required
@require_POST
def return_to_visitor(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    application = _application_or_404(user, pk)
    form = ReturnForm(request.POST, prefix=f"r{application.pk}")
    if not form.is_valid():
        return _page(request, status=422, failed=application.pk, return_form=form)
    try:
        application_return(application=application, actor=user, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return _refused(request, application, exc, form)
    messages.success(request, _("The application went back to the visitor with your reason."))
    return redirect("visit_applications:endorsements")


endorsement_patterns: list[URLPattern | URLResolver] = [
    path("endorsements/", endorsements, name="endorsements"),
    path("<int:pk>/endorse/", endorse, name="endorse"),
    path("<int:pk>/return/", return_to_visitor, name="return"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "visit-applications/",
        include((endorsement_patterns, "visit_applications"), namespace="visit_applications"),
    ),
]
