"""Officer pages for the fund's settings and its research areas (§4)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer
from fundapp.audit.services import history_for
from fundapp.errors import DomainError
from projects.forms.fund import FundForm, ResearchAreaForm
from projects.models import Fund, ResearchArea
from projects.services import fund as svc


def _officer_only(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not is_fund_officer(user):
        raise Http404
    return user


def _apply_errors(form, exc: DomainError) -> None:
    for field, msgs in exc.errors.items():
        for msg in msgs:
            form.add_error(field if field in form.fields else None, str(msg))
    if not exc.errors:
        form.add_error(None, str(exc.message))


@login_required
def fund_settings(request: HttpRequest) -> HttpResponse:
    actor = _officer_only(request)
    fund = Fund.objects.order_by("pk").first()
    if fund is None:
        raise Http404
    form = FundForm(request.POST or None, instance=fund)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                changes = {name: form.cleaned_data[name] for name in form.changed_data}
                svc.fund_update(actor=actor, fund=fund, changes=changes)
            except DomainError as exc:
                _apply_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The fund's settings have been saved."))
                return redirect("fund_settings")
        else:
            status = 422
    fund.refresh_from_db()
    return render(
        request,
        "projects/fund/settings.html",
        {"form": form, "fund": fund, "history": history_for(fund)},
        status=status,
    )


@login_required
def area_list(request: HttpRequest) -> HttpResponse:
    _officer_only(request)
    areas = ResearchArea.objects.select_related("parent").order_by("code")
    return render(request, "projects/fund/area_list.html", {"areas": areas})


@login_required
def area_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    actor = _officer_only(request)
    area = get_object_or_404(ResearchArea, pk=pk) if pk is not None else None
    form = ResearchAreaForm(request.POST or None, instance=area)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = {k: form.cleaned_data[k] for k in svc.AREA_FIELDS}
            try:
                if area is None:
                    svc.research_area_create(actor=actor, code=form.cleaned_data["code"], data=data)
                else:
                    svc.research_area_update(actor=actor, area=area, changes=data)
            except DomainError as exc:
                _apply_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The research area has been saved."))
                return redirect("research_areas_manage")
        else:
            status = 422
    context = {"form": form, "area": area, "history": history_for(area) if area else []}
    return render(request, "projects/fund/area_form.html", context, status=status)


urlpatterns: list[URLPattern] = [
    path("manage/fund/", fund_settings, name="fund_settings"),
    path("manage/areas/", area_list, name="research_areas_manage"),
    path("manage/areas/new/", area_edit, name="research_area_create"),
    path("manage/areas/<int:pk>/", area_edit, name="research_area_edit"),
]
