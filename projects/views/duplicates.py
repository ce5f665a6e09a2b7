"""The fund officers' duplicate-funding pages (§22): the list of flags and one flag with
both items side by side and the resolution form.

Only fund officers (and administrators) see them; anyone else gets 404, as for any object
they may not see (§2).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import User
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound
from projects.models import (
    DuplicateFlagState,
    DuplicateFundingFlag,
    DuplicateResolution,
    Proposal,
)
from projects.permissions import can_see_duplicate_flags
from projects.selectors.duplicates import (
    COMPARED_FIELDS,
    duplicate_flag_list,
    get_duplicate_flag_for_actor,
    people_side_by_side,
)
from projects.services.duplicates import MAX_NOTE_LENGTH, duplicate_flag_resolve

PAGE_SIZE = 50

IDENTIFIER_LABELS = {
    "erad": gettext_lazy("e-Rad researcher number"),
    "kr_researcher_number": gettext_lazy("Korean researcher number"),
    "orcid": gettext_lazy("ORCID iD"),
}
FIELD_LABELS = {
    "title_en": gettext_lazy("Title (English)"),
    "title_ja": gettext_lazy("Title (Japanese)"),
    "title_ko": gettext_lazy("Title (Korean)"),
    "abstract_en": gettext_lazy("Abstract (English)"),
    "abstract_ja": gettext_lazy("Abstract (Japanese)"),
    "abstract_ko": gettext_lazy("Abstract (Korean)"),
}


class ResolutionForm(forms.Form):
    resolution = forms.ChoiceField(
        label=gettext_lazy("Resolution"),
        choices=DuplicateResolution.choices,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=MAX_NOTE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "Why the two are or are not the same work, and what happens to the person's effort."
        ),
    )

    def add_domain_error(self, exc: DomainError) -> None:
        for field, msgs in exc.errors.items():
            for msg in msgs:
                self.add_error(field if field in self.fields else None, str(msg))
        if not exc.errors:
            self.add_error(None, str(exc.message))


def _officer(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not can_see_duplicate_flags(user):
        raise Http404
    return user


def _identifier_rows(flag: DuplicateFundingFlag) -> list[dict[str, Any]]:
    return [
        {
            "kind": item.get("kind", ""),
            "label": IDENTIFIER_LABELS.get(item.get("kind", ""), item.get("kind", "")),
            "value": item.get("value", ""),
        }
        for item in flag.identifiers
    ]


def _text_rows(flag: DuplicateFundingFlag) -> list[dict[str, Any]]:
    """Each title and abstract field either side has, with both texts and their score."""
    mine: Proposal = flag.proposal
    other: Proposal = flag.matched_proposal
    rows = []
    for name in COMPARED_FIELDS:
        left, right = getattr(mine, name), getattr(other, name)
        if not left and not right:
            continue
        rows.append(
            {
                "field": name,
                "label": FIELD_LABELS[name],
                "left": left,
                "right": right,
                "score": flag.similarity.get(name, ""),
            }
        )
    return rows


@login_required
def flag_list(request: HttpRequest) -> HttpResponse:
    actor = _officer(request)
    state = request.GET.get("state", DuplicateFlagState.OPEN)
    if state not in DuplicateFlagState.values and state != "all":
        state = DuplicateFlagState.OPEN
    flags = duplicate_flag_list(actor, state="" if state == "all" else state)
    page = Paginator(flags, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "projects/duplicates/list.html",
        {
            "page": page,
            "flags": list(page.object_list),
            "states": [("all", _("All states")), *DuplicateFlagState.choices],
            "selected_state": state,
        },
    )


@login_required
def flag_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _officer(request)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405)
    try:
        flag = get_duplicate_flag_for_actor(actor, pk)
    except NotFound:
        raise Http404 from None
    form = ResolutionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                duplicate_flag_resolve(
                    flag=flag,
                    actor=actor,
                    resolution=form.cleaned_data["resolution"],
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                form.add_domain_error(exc)
                status = exc.status
            else:
                messages.success(request, _("The resolution is recorded."))
                return redirect("duplicates:detail", pk=flag.pk)
        else:
            status = 422
        flag = get_duplicate_flag_for_actor(actor, pk)
    people = people_side_by_side(flag)
    return render(
        request,
        "projects/duplicates/detail.html",
        {
            "flag": flag,
            "identifiers": _identifier_rows(flag),
            "texts": _text_rows(flag),
            "people_left": people[flag.proposal_id],
            "people_right": people[flag.matched_proposal_id],
            "form": form,
            "can_resolve": flag.state == DuplicateFlagState.OPEN,
            "history": history_for(flag),
        },
        status=status,
    )


_routes = [
    path("", flag_list, name="list"),
    path("<int:pk>/", flag_detail, name="detail"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("duplicate-funding/", include((_routes, "duplicates"))),
]
