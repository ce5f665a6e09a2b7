"""Amendment pages (§24): a project's amendments (state, plan version) with a propose form
per kind of change, and one amendment's page with its diff (before → after, in the
reader's language) and the two-person panel.

A project one may not see answers 404 (``get_project_for_actor``); the services check who
may act, and a refusal renders the page again with the service's message and status.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_staff
from fundapp.audit.models import AuditEvent
from fundapp.errors import DomainError, NotFound
from fundapp.kernel.approval_pages import DeclineForm, two_person_panel
from projects import permissions as perms
from projects.models import Amendment, AmendmentState, BudgetCategory, Project
from projects.selectors.amendments import (
    amendment_decision_shown,
    diff_lines,
    get_amendment_for_actor,
    project_amendments,
    propose_choices,
)
from projects.selectors.projects import get_project_for_actor
from projects.services import amendments as svc


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _project_or_404(user: User, pk: object) -> Project:
    try:
        return get_project_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _amendment_or_404(user: User, project: Project, pk: object) -> Amendment:
    try:
        return get_amendment_for_actor(user, project, pk)
    except NotFound:
        raise Http404 from None


_REASON = forms.CharField(
    label=gettext_lazy("Why"),
    max_length=svc.REASON_MAX_LENGTH,
    widget=forms.Textarea(attrs={"rows": 2}),
    error_messages={"required": gettext_lazy("Say why the plan should change.")},
)


class _ChangeForm(forms.Form):
    kind = ""

    def __init__(self, *args: Any, choices: dict[str, list[tuple[Any, str]]], **kwargs: Any):
        # One form per kind on one page: the prefix keeps their fields' ids apart.
        kwargs.setdefault("prefix", self.kind)
        super().__init__(*args, **kwargs)
        self.fields["reason"] = _REASON
        for name, field in self.fields.items():
            if isinstance(field, forms.TypedChoiceField):
                field.choices = choices.get(f"{self.kind}.{name}", choices.get(name, []))

    def change(self) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if k != "reason" and v not in ("", None)}
        return {"kind": self.kind, **data}


def _choice(label: Any, coerce: Any = int) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(label=label, coerce=coerce, choices=[])


class KpiChangeForm(_ChangeForm):
    kind = "kpi"
    kpi = _choice(gettext_lazy("KPI"))
    target = forms.CharField(label=gettext_lazy("New target"), required=False, max_length=40)
    weight = forms.CharField(label=gettext_lazy("New weight"), required=False, max_length=20)
    evidence = forms.TypedChoiceField(
        label=gettext_lazy("New evidence level"), coerce=str, required=False, choices=[]
    )


class StageChangeForm(_ChangeForm):
    kind = "stage"
    stage = _choice(gettext_lazy("Stage"))
    months = forms.IntegerField(label=gettext_lazy("Months"), min_value=1, max_value=120)


class BudgetMoveForm(_ChangeForm):
    kind = "budget_move"
    from_organisation = _choice(gettext_lazy("From organisation"))
    from_category = _choice(gettext_lazy("From category"), str)
    to_organisation = _choice(gettext_lazy("To organisation"))
    to_category = _choice(gettext_lazy("To category"), str)
    amount = forms.IntegerField(label=gettext_lazy("Amount"), min_value=1)


class TrancheChangeForm(_ChangeForm):
    kind = "tranche"
    stage = _choice(gettext_lazy("Stage"))
    side = _choice(gettext_lazy("Side"), str)
    planned = forms.IntegerField(label=gettext_lazy("New planned tranche"), min_value=0)
    organisation = _choice(gettext_lazy("Budget of organisation"))
    category = _choice(gettext_lazy("Budget category"), str)


class PartnerAddForm(_ChangeForm):
    kind = "partner_add"
    organisation = _choice(gettext_lazy("New partner"))
    from_organisation = _choice(gettext_lazy("Budget from organisation"))
    category = _choice(gettext_lazy("Budget category"), str)
    amount = forms.IntegerField(label=gettext_lazy("Amount"), min_value=0)


class PartnerRemoveForm(_ChangeForm):
    kind = "partner_remove"
    organisation = _choice(gettext_lazy("Partner leaving"))
    to_organisation = _choice(gettext_lazy("Its budget goes to"))


FORMS: dict[str, type[_ChangeForm]] = {
    form.kind: form
    for form in (
        KpiChangeForm,
        StageChangeForm,
        BudgetMoveForm,
        TrancheChangeForm,
        PartnerAddForm,
        PartnerRemoveForm,
    )
}
TITLES = {
    "kpi": gettext_lazy("Change a KPI"),
    "stage": gettext_lazy("Change a stage's months"),
    "budget_move": gettext_lazy("Move budget within one side"),
    "tranche": gettext_lazy("Change a planned tranche"),
    "partner_add": gettext_lazy("Add a partner"),
    "partner_remove": gettext_lazy("Remove a partner"),
}


def _forms(project: Project, bound: _ChangeForm | None = None) -> list[dict[str, Any]]:
    choices = propose_choices(project)
    choices["category"] = choices["from_category"] = choices["to_category"] = [
        (value, str(label)) for value, label in BudgetCategory.choices
    ]
    out = []
    for kind, form_class in FORMS.items():
        form = bound if bound is not None and bound.kind == kind else form_class(choices=choices)
        out.append({"kind": kind, "title": TITLES[kind], "form": form})
    return out


def _render_project(
    request: HttpRequest,
    project: Project,
    *,
    bound: _ChangeForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    may_propose = perms.can_propose_amendment(user, project)[0]
    return render(
        request,
        "projects/amendments/project.html",
        {
            "project": project,
            "amendments": project_amendments(project),
            "may_propose": may_propose,
            "forms": _forms(project, bound) if may_propose else [],
            "error": error,
        },
        status=status,
    )


@login_required
@require_GET
def project_amendments_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_project(request, _project_or_404(_user(request), pk))


@login_required
@require_POST
def amendment_propose_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One change per form; the service checks it against the plan (§24)."""
    user = _user(request)
    project = _project_or_404(user, pk)
    form_class = FORMS.get(str(request.POST.get("kind", "")))
    if form_class is None:
        return _render_project(request, project, error=_("Choose a kind of change."), status=422)
    choices = propose_choices(project)
    choices["category"] = choices["from_category"] = choices["to_category"] = [
        (value, str(label)) for value, label in BudgetCategory.choices
    ]
    form = form_class(request.POST, choices=choices)
    if not form.is_valid():
        return _render_project(request, project, bound=form, status=422)
    try:
        amendment = svc.amendment_propose(
            project=project,
            actor=user,
            changes=[form.change()],
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        shown = " ".join(str(m) for texts in exc.errors.values() for m in texts) or str(exc.message)
        return _render_project(request, project, bound=form, error=shown, status=exc.status)
    messages.success(request, _("The amendment is proposed; two fund officers decide it."))
    return redirect("amendments:detail", pk=project.pk, amendment_id=amendment.pk)


def _render_detail(
    request: HttpRequest,
    project: Project,
    amendment: Amendment,
    *,
    error: str = "",
    decline_form: DeclineForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    shown = amendment_decision_shown(amendment)
    panel = two_person_panel(
        user,
        shown,
        withdraw_url=reverse("amendments:withdraw", args=[project.pk, amendment.pk]),
        decline_url=reverse("amendments:decline", args=[project.pk, amendment.pk]),
        decline_form=decline_form,
    )
    proposed = amendment.state == AmendmentState.PROPOSED
    may_decide = proposed and perms.can_decide_amendment(user)[0]
    history = (
        list(
            AuditEvent.objects.filter(
                object_type=Amendment._meta.label_lower, object_id=str(amendment.pk)
            ).order_by("id")
        )
        if is_fund_staff(user)
        else []
    )
    return render(
        request,
        "projects/amendments/detail.html",
        {
            "project": project,
            "amendment": amendment,
            "lines": diff_lines(amendment),
            "two_person": panel,
            "may_approve": may_decide,
            # Declining with no approval yet: any officer; with one, the panel's form.
            "may_decline_outright": may_decide and shown is None,
            "decline_form": decline_form or DeclineForm(),
            "may_withdraw": proposed and perms.can_withdraw_amendment(user, amendment)[0],
            "history": history,
            "is_staff_view": is_fund_staff(user),
            "error": error,
        },
        status=status,
    )


@login_required
@require_GET
def amendment_detail_view(request: HttpRequest, pk: int, amendment_id: int) -> HttpResponse:
    user = _user(request)
    project = _project_or_404(user, pk)
    return _render_detail(request, project, _amendment_or_404(user, project, amendment_id))


@login_required
@require_POST
def amendment_approve_view(request: HttpRequest, pk: int, amendment_id: int) -> HttpResponse:
    user = _user(request)
    project = _project_or_404(user, pk)
    amendment = _amendment_or_404(user, project, amendment_id)
    try:
        decision = svc.amendment_approve(amendment=amendment, actor=user)
    except DomainError as exc:
        return _render_detail(
            request, project, amendment, error=str(exc.message), status=exc.status
        )
    if decision.state == "completed":
        messages.success(request, _("The amendment is approved and applied."))
    else:
        messages.success(request, _("Your approval is recorded; the other side's is still needed."))
    return redirect("amendments:detail", pk=project.pk, amendment_id=amendment.pk)


@login_required
@require_POST
def amendment_decline_view(request: HttpRequest, pk: int, amendment_id: int) -> HttpResponse:
    user = _user(request)
    project = _project_or_404(user, pk)
    amendment = _amendment_or_404(user, project, amendment_id)
    form = DeclineForm(request.POST)
    try:
        svc.amendment_decline(amendment=amendment, actor=user, reason=request.POST.get("reason"))
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        return _render_detail(
            request,
            project,
            amendment,
            error=str(exc.message),
            decline_form=form,
            status=exc.status,
        )
    messages.success(request, _("The amendment is declined."))
    return redirect("amendments:detail", pk=project.pk, amendment_id=amendment.pk)


@login_required
@require_POST
def amendment_withdraw_view(request: HttpRequest, pk: int, amendment_id: int) -> HttpResponse:
    user = _user(request)
    project = _project_or_404(user, pk)
    amendment = _amendment_or_404(user, project, amendment_id)
    try:
        svc.amendment_withdraw(amendment=amendment, actor=user)
    except DomainError as exc:
        return _render_detail(
            request, project, amendment, error=str(exc.message), status=exc.status
        )
    messages.success(request, _("Withdrawn."))
    return redirect("amendments:detail", pk=project.pk, amendment_id=amendment.pk)


_routes: list[URLPattern | URLResolver] = [
    path("projects/<int:pk>/amendments/", project_amendments_view, name="project"),
    path("projects/<int:pk>/amendments/propose/", amendment_propose_view, name="propose"),
    path("projects/<int:pk>/amendments/<int:amendment_id>/", amendment_detail_view, name="detail"),
    path(
        "projects/<int:pk>/amendments/<int:amendment_id>/approve/",
        amendment_approve_view,
        name="approve",
    ),
    path(
        "projects/<int:pk>/amendments/<int:amendment_id>/decline/",
        amendment_decline_view,
        name="decline",
    ),
    path(
        "projects/<int:pk>/amendments/<int:amendment_id>/withdraw/",
        amendment_withdraw_view,
        name="withdraw",
    ),
]

urlpatterns: list[URLPattern | URLResolver] = [path("", include((_routes, "amendments")))]
