"""The screening officer's queue and case pages (§11, §15).

Only screening officers (and admins) see these pages; anyone else gets 404, as for any
object they may not see (§2).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from fundapp.accounts.models import User
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound

from .models import ScreeningCase, ScreeningState
from .permissions import can_work_screening_queue
from .reasons import reason_label, subject_type_label
from .selectors import get_case_for_actor, screening_queue, subject_types_in_use
from .services import MAX_REASON_LENGTH, screening_case_decide

PAGE_SIZE = 50


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=[
            ("clear", gettext_lazy("Clear")),
            ("block", gettext_lazy("Block for good")),
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, has_matches: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if has_matches:
            self.fields["reason"].help_text = _(
                "To clear, state why each restricted-party match is a false positive."
            )

    def add_domain_error(self, exc: DomainError) -> None:
        for field, msgs in exc.errors.items():
            for msg in msgs:
                self.add_error(field if field in self.fields else None, str(msg))
        if not exc.errors:
            self.add_error(None, str(exc.message))


def _officer(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not can_work_screening_queue(user):
        raise Http404
    return user


def _case(request: HttpRequest, pk: int) -> ScreeningCase:
    try:
        return get_case_for_actor(request.user, pk)  # type: ignore[arg-type]
    except NotFound:
        raise Http404 from None


def _reason_rows(case: ScreeningCase) -> list[dict[str, str]]:
    return [
        {
            "code": r.get("code", ""),
            "label": reason_label(r.get("code", "")),
            "detail": r.get("detail", ""),
        }
        for r in case.reasons
    ]


@require_GET
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    actor = _officer(request)
    state = request.GET.get("state", ScreeningState.OPEN)
    if state not in ScreeningState.values and state != "all":
        state = ScreeningState.OPEN
    subject_type = request.GET.get("subject_type", "")
    types = subject_types_in_use()
    if subject_type not in types:
        subject_type = ""
    cases = screening_queue(actor, state="" if state == "all" else state, subject_type=subject_type)
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "case": case,
            "subject_type_label": subject_type_label(case.subject_type),
            "reasons": _reason_rows(case),
        }
        for case in page.object_list
    ]
    context = {
        "page": page,
        "rows": rows,
        "states": [("all", _("All states")), *ScreeningState.choices],
        "selected_state": state,
        "subject_types": [(t, subject_type_label(t)) for t in types],
        "selected_subject_type": subject_type,
    }
    template = "screening/_queue_results.html" if request.htmx else "screening/queue.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _officer(request)
    case = _case(request, pk)
    form = DecisionForm(request.POST or None, has_matches=case.has_matches)
    status = 200
    if request.method == "POST":
        if case.state != ScreeningState.OPEN:
            form.add_error(None, _("This case has already been decided."))
            status = 409
        elif form.is_valid():
            try:
                screening_case_decide(
                    case=case,
                    actor=actor,
                    decision=form.cleaned_data["decision"],
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                form.add_domain_error(exc)
                status = exc.status
            else:
                if form.cleaned_data["decision"] == "clear":
                    messages.success(request, _("The case has been cleared."))
                else:
                    messages.success(request, _("The case has been blocked."))
                return redirect("screening:case", pk=case.pk)
        else:
            status = 422
        case.refresh_from_db()
    return render(
        request,
        "screening/case_detail.html",
        {
            "case": case,
            "subject_type_label": subject_type_label(case.subject_type),
            "reasons": _reason_rows(case),
            "form": form,
            "can_decide": case.state == ScreeningState.OPEN,
            "successor": ScreeningCase.objects.filter(previous=case).first(),
            "history": history_for(case),
        },
        status=status,
    )
