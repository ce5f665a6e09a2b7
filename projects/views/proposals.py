"""Proposal pages (§5, §15): my proposals, the wizard, review & submit, detail, attachments.

Views fetch through the selector (anything not visible answers 404), ask
``projects.permissions`` before an action (403 with the reason), and change state only
through ``projects.services.proposals``. A refused change renders the page again with the
service's messages beside the fields and the service's status (422, 409, 413, 415);
nothing the person typed is lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fundapp.accounts.models import Organisation, User
from fundapp.audit.services import history_for
from fundapp.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from projects import permissions
from projects.forms.proposals import (
    FORM_STEPS,
    STEP_SLUGS,
    STEPS,
    AttachmentForm,
    EndorseForm,
    ReturnForm,
    VersionForm,
    WithdrawForm,
    WizardStep,
    next_step,
    step_for_field,
)
from projects.models import ConsortiumMember, Proposal, ProposalState
from projects.selectors.calls import calls_visible_to, open_calls
from projects.selectors.proposals import (
    get_proposal_for_actor,
    last_return,
    proposals_visible_to,
)
from projects.services import proposals as svc

PAGE_SIZE = 25


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _proposal_or_404(user: User, pk: object) -> Proposal:
    try:
        return get_proposal_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _forbidden(
    request: HttpRequest, message: object, proposal: Proposal | None = None
) -> HttpResponse:
    return render(
        request,
        "projects/proposals/forbidden.html",
        {"message": str(message), "proposal": proposal},
        status=403,
    )


# --------------------------------------------------------------------------- reading


def proposal_sections(proposal: Proposal) -> dict[str, Any]:
    """Everything a read-only page shows of a proposal, one query per relation."""
    members = list(proposal.members.select_related("organisation"))
    stages = list(proposal.stages.prefetch_related("kpis", "deliverables"))
    budget = list(proposal.budget_lines.select_related("organisation"))
    totals = {"JPY": 0, "KRW": 0}
    for line in budget:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount
    return {
        "members": members,
        "people": list(proposal.people.select_related("user", "member__organisation")),
        "stages": stages,
        "planned": {
            "JPY": sum(s.planned_jpy for s in stages),
            "KRW": sum(s.planned_krw for s in stages),
        },
        "budget": budget,
        "budget_totals": totals,
        "background_ip": list(proposal.background_ip.select_related("owner")),
        "attachments": list(proposal.attachments.all()),
    }


# ``?check=1`` on a step's address: show the rules the saved draft breaks beside the fields
# (after a save, or from the review's checklist), not on a first visit before any input.
CHECK = "check"


def _step_url(proposal: Proposal, step: str, *, check: bool = False) -> str:
    url = reverse("proposals:step", args=[proposal.pk, step])
    return f"{url}?{CHECK}=1" if check else url


def _problems_of_step(problems: dict[str, list[Any]], step: str) -> dict[str, list[Any]]:
    """The eligibility problems (§6) whose values are entered on ``step``."""
    return {path: msgs for path, msgs in problems.items() if step_for_field(path) == step}


def _checklist(proposal: Proposal, errors: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Each failed rule with the wizard step where it is fixed."""
    labels = {s.slug: s.label for s in STEPS}
    items = []
    for field_path, msgs in errors.items():
        step = step_for_field(field_path)
        url = _step_url(proposal, step, check=True) if step and step != "review" else ""
        for message in msgs:
            items.append(
                {
                    "field": field_path,
                    "message": str(message),
                    "step": step,
                    "step_label": labels.get(step or "", ""),
                    "url": url,
                }
            )
    return items


def _step_bar(
    proposal: Proposal, current: str, problems: dict[str, list[Any]], current_has_errors: bool
) -> list[dict[str, Any]]:
    with_problems = {step_for_field(f) for f in problems}
    bar = []
    for number, step in enumerate(STEPS, start=1):
        if step.slug == current and current_has_errors:
            status = "error"
        elif step.slug in with_problems:
            status = "attention"
        elif step.slug == "review":
            status = "ready" if not problems else "attention"
        else:
            status = "ok"
        bar.append(
            {
                "number": number,
                "slug": step.slug,
                "label": step.label,
                "url": reverse("proposals:step", args=[proposal.pk, step.slug]),
                "current": step.slug == current,
                "status": status,
            }
        )
    return bar


def _render_wizard(
    request: HttpRequest,
    proposal: Proposal,
    step: str,
    context: dict[str, Any],
    *,
    has_errors: bool = False,
    status: int = 200,
    problems: dict[str, list[Any]] | None = None,
    shown_problems: list[str] | None = None,
) -> HttpResponse:
    """A wizard page. ``shown_problems``: the step's problems are being shown (beside the
    fields; the list holds those no field of the step takes), else ``None``."""
    if problems is None:
        problems = svc.eligibility_problems(proposal).as_dict()
    labels = {s.slug: s.label for s in STEPS}
    index = STEP_SLUGS.index(step)
    following = STEP_SLUGS[index + 1] if index + 1 < len(STEP_SLUGS) else None
    return render(
        request,
        "projects/proposals/wizard.html",
        {
            "proposal": proposal,
            "step": step,
            "step_label": labels[step],
            "step_number": index + 1,
            "step_count": len(STEPS),
            "steps": _step_bar(proposal, step, problems, has_errors),
            "step_has_problems": step != "review" and bool(_problems_of_step(problems, step)),
            "shown_problems": shown_problems,
            "check_url": _step_url(proposal, step, check=True),
            "following_step": following,
            "following_label": labels[following] if following else "",
            "previous_step": STEP_SLUGS[index - 1] if index else None,
            "is_last_form_step": step == "attachments",
            "problems": problems,
            "returned": last_return(proposal),
            **context,
        },
        status=status,
    )


# --------------------------------------------------------------------------- list


def _state_counts(qs: QuerySet[Proposal]) -> list[dict[str, Any]]:
    counts = dict(qs.order_by().values_list("state").annotate(n=Count("id")))
    return [
        {"value": value, "label": label, "count": counts.get(value, 0)}
        for value, label in ProposalState.choices
    ]


@login_required
@require_GET
def proposal_list(request: HttpRequest) -> HttpResponse:
    """The proposals the person may see, filtered by call and state, with state counts."""
    user = _user(request)
    visible = proposals_visible_to(user)
    call_id = request.GET.get("call", "")
    state = request.GET.get("state", "")
    if call_id.isdigit():
        visible = visible.filter(call_id=int(call_id))
    counts = _state_counts(visible)
    if state in ProposalState.values:
        visible = visible.filter(state=state)
    leads = ConsortiumMember.objects.filter(role__in=permissions.LEAD_ROLES).select_related(
        "organisation"
    )
    rows = visible.select_related("call", "research_area").prefetch_related(
        Prefetch("members", queryset=leads, to_attr="lead_members")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "counts": counts,
        "calls": calls_visible_to(user).only("id", "title_en", "title_ja", "title_ko"),
        "selected_call": int(call_id) if call_id.isdigit() else None,
        "selected_state": state,
        "states": ProposalState.choices,
        "query": query.urlencode(),
        "total": sum(c["count"] for c in counts),
    }
    template = (
        "projects/proposals/_list_results.html"
        if getattr(request, "htmx", False)
        else "projects/proposals/list.html"
    )
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def proposal_new(request: HttpRequest) -> HttpResponse:
    """Choose an open call; a draft is started there and the wizard opens."""
    user = _user(request)
    calls = open_calls(now=timezone.now())
    error = ""
    status = 200
    if request.method == "POST":
        call_id = request.POST.get("call", "")
        call = calls.filter(pk=int(call_id)).first() if call_id.isdigit() else None
        if call is None:
            error = _("Choose a call that is open for proposals.")
            status = 422
        else:
            try:
                proposal = svc.proposal_create(actor=user, call=call)
            except PermissionDenied as exc:
                return _forbidden(request, exc.message)
            except DomainError as exc:
                error = str(exc.message)
                status = exc.status
            else:
                messages.success(request, _("Your draft proposal has been started."))
                return redirect("proposals:step", pk=proposal.pk, step="basics")
    return render(
        request, "projects/proposals/new.html", {"calls": calls, "error": error}, status=status
    )


# --------------------------------------------------------------------------- wizard


@login_required
@require_GET
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _proposal_or_404(_user(request), pk)
    return redirect("proposals:step", pk=pk, step=STEP_SLUGS[0])


@login_required
@require_http_methods(["GET", "POST"])
def proposal_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    """One wizard step: show the draft's section, or save it through ``proposal_update``."""
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    if step not in STEP_SLUGS:
        raise Http404
    allowed, reason = permissions.can_edit_proposal(user, proposal)
    if not allowed:
        return _forbidden(request, reason, proposal)
    if step == "attachments":
        return _attachments_step(request, user, proposal)
    if step == "review":
        if request.method != "GET":
            return redirect("proposals:step", pk=pk, step="review")
        return _render_review(request, proposal)

    step_class = FORM_STEPS[step]
    if request.method == "GET":
        forms = step_class(proposal)
        return _render_form_step(
            request,
            proposal,
            forms,
            VersionForm(initial={"version": proposal.version}),
            show_problems=request.GET.get(CHECK) == "1",
        )

    forms = step_class(proposal, data=request.POST)
    version_form = VersionForm(request.POST)
    if not version_form.is_valid() or not forms.is_valid():
        if not version_form.is_valid():
            forms.top_errors.append(_("The form was incomplete. Reload the page and try again."))
        return _render_form_step(request, proposal, forms, version_form, status=400)
    try:
        proposal = svc.proposal_update(
            proposal=proposal,
            actor=user,
            expected_version=version_form.cleaned_data["version"],
            changes={forms.section: forms.payload()},
        )
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except Conflict as exc:
        # Someone saved first: keep everything posted (and the old version, so a second
        # click cannot overwrite their work) and say how to see the current draft.
        forms.top_errors.append(str(exc.message))
        return _render_form_step(
            request, proposal, forms, version_form, status=exc.status, stale=True
        )
    except ValidationFailed as exc:
        forms.add_errors(exc.errors)
        return _render_form_step(
            request, proposal, forms, version_form, status=exc.status, message=exc.message
        )
    # A wizard keeps incomplete work, but says at once which rules the saved step still
    # breaks, beside the fields, rather than only on the review step.
    if _problems_of_step(svc.eligibility_problems(proposal).as_dict(), step):
        messages.warning(
            request,
            _(
                "Draft saved (version %(version)d). This step does not yet meet every rule "
                "for submission; each problem is explained beside its field."
            )
            % {"version": proposal.version},
        )
        return redirect(_step_url(proposal, step, check=True))
    messages.success(
        request, _("Draft saved (version %(version)d).") % {"version": proposal.version}
    )
    target = next_step(step) if "continue" in request.POST else step
    return redirect("proposals:step", pk=proposal.pk, step=target)


def _render_form_step(
    request: HttpRequest,
    proposal: Proposal,
    forms: WizardStep,
    version_form: VersionForm,
    *,
    status: int = 200,
    message: object = "",
    stale: bool = False,
    show_problems: bool = False,
) -> HttpResponse:
    # Errors of a refused save mark the step ✗; the saved draft's problems only "!".
    refused = forms.has_errors
    problems = svc.eligibility_problems(proposal).as_dict()
    shown = forms.show_problems(_problems_of_step(problems, forms.slug)) if show_problems else None
    return _render_wizard(
        request,
        proposal,
        forms.slug,
        {
            "forms": forms,
            "step_template": forms.template_name,
            "version_form": version_form,
            "top_errors": forms.top_errors,
            "error_message": str(message) if message else "",
            "stale": stale,
            **forms.context(),
        },
        has_errors=refused,
        status=status,
        problems=problems,
        shown_problems=shown,
    )


def _attachments_step(request: HttpRequest, user: User, proposal: Proposal) -> HttpResponse:
    status = 200
    if request.method == "POST":
        if "continue" in request.POST and not request.FILES:
            return redirect("proposals:step", pk=proposal.pk, step="review")
        form = AttachmentForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                svc.attachment_add(
                    proposal=proposal,
                    actor=user,
                    upload=form.cleaned_data["file"],
                    kind=form.cleaned_data["kind"],
                )
            except PermissionDenied as exc:
                return _forbidden(request, exc.message, proposal)
            except (NotFound, Conflict) as exc:
                form.add_domain_errors({}, exc.message)
                status = exc.status
            except DomainError as exc:
                form.add_domain_errors(exc.errors, exc.message)
                status = exc.status
            else:
                messages.success(request, _("The file was attached."))
                target = "review" if "continue" in request.POST else "attachments"
                return redirect("proposals:step", pk=proposal.pk, step=target)
        else:
            status = 422
    else:
        form = AttachmentForm()
    proposal.refresh_from_db(fields=["version"])
    problems = svc.eligibility_problems(proposal).as_dict()
    shown = None
    if request.method == "GET" and request.GET.get(CHECK) == "1":
        shown = [
            str(m) for msgs in _problems_of_step(problems, "attachments").values() for m in msgs
        ]
    return _render_wizard(
        request,
        proposal,
        "attachments",
        {
            "step_template": "projects/proposals/step_attachments.html",
            "form": form,
            "attachments": list(proposal.attachments.all()),
            "max_attachments": settings.MAX_ATTACHMENTS_PER_PROPOSAL,
        },
        has_errors=bool(form.errors),
        status=status,
        problems=problems,
        shown_problems=shown,
    )


def _render_review(
    request: HttpRequest,
    proposal: Proposal,
    *,
    refusal: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    problems = svc.eligibility_problems(proposal).as_dict()
    errors = refusal.errors if refusal is not None and refusal.errors else problems
    return _render_wizard(
        request,
        proposal,
        "review",
        {
            "step_template": "projects/proposals/step_review.html",
            "checklist": _checklist(proposal, errors),
            "refusal": str(refusal.message) if refusal is not None else "",
            **proposal_sections(proposal),
        },
        has_errors=refusal is not None,
        status=status,
        problems=problems,
    )


@login_required
@require_POST
def proposal_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    allowed, reason = permissions.can_submit_proposal(user, proposal)
    if not allowed:
        return _forbidden(request, reason, proposal)
    try:
        proposal = svc.proposal_submit(proposal=proposal, actor=user)
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except DomainError as exc:
        proposal.refresh_from_db()
        return _render_review(request, proposal, refusal=exc, status=exc.status)
    messages.success(
        request,
        _(
            "Your proposal has been submitted. The research offices of the lead organisations "
            "will now be asked to endorse it."
        ),
    )
    return redirect("proposals:detail", pk=proposal.pk)


# --------------------------------------------------------------------------- attachments


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int, attachment_id: int) -> FileResponse:
    """Stream a PDF to someone who may see the proposal; 404 for anyone else."""
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    try:
        attachment = svc.get_attachment_for_actor(user, proposal, attachment_id)
    except NotFound:
        raise Http404 from None
    file_path: Path = svc.attachment_path(attachment)
    if not file_path.is_file():
        raise Http404
    return FileResponse(
        file_path.open("rb"),
        as_attachment=True,
        filename=attachment.original_name,
        content_type="application/pdf",
    )


@login_required
@require_POST
def attachment_delete(request: HttpRequest, pk: int, attachment_id: int) -> HttpResponse:
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    allowed, reason = permissions.can_edit_proposal(user, proposal)
    if not allowed:
        return _forbidden(request, reason, proposal)
    try:
        attachment = svc.get_attachment_for_actor(user, proposal, attachment_id)
        svc.attachment_remove(attachment=attachment, actor=user)
    except NotFound:
        raise Http404 from None
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    messages.success(request, _("The file was removed."))
    return redirect("proposals:step", pk=proposal.pk, step="attachments")


# --------------------------------------------------------------------------- detail


def _render_detail(
    request: HttpRequest,
    proposal: Proposal,
    *,
    action_error: str = "",
    status: int = 200,
    return_form: ReturnForm | None = None,
) -> HttpResponse:
    user = _user(request)
    sections = proposal_sections(proposal)
    endorsements = {
        e.organisation_id: e
        for e in proposal.endorsements.select_related("endorsed_by_user", "endorsed_by_api_key")
    }
    leads = [m for m in sections["members"] if m.role in permissions.LEAD_ROLES]
    endorsable = (
        set(permissions.endorsable_organisation_ids(user, proposal))
        if proposal.state == ProposalState.SUBMITTED
        else set()
    )
    # Endorsing and returning both end at the call's deadline: past it, say so instead of
    # offering buttons the service would refuse.
    call_closed = timezone.now() >= proposal.call.closes_at
    endorsement_rows = [
        {
            "member": m,
            "endorsement": endorsements.get(m.organisation_id),
            "can_endorse": not call_closed
            and m.organisation_id in endorsable
            and m.organisation_id not in endorsements,
        }
        for m in leads
    ]
    returnable = [m.organisation for m in leads if m.organisation_id in endorsable]
    can_history = permissions.can_view_history(user, proposal)
    return render(
        request,
        "projects/proposals/detail.html",
        {
            "proposal": proposal,
            "can_edit": permissions.can_edit_proposal(user, proposal)[0],
            "can_withdraw": permissions.can_withdraw_proposal(user, proposal)[0],
            "endorsement_rows": endorsement_rows,
            "office_past_deadline": call_closed and bool(endorsable),
            "can_return": bool(returnable) and not call_closed,
            "return_form": return_form or ReturnForm(organisations=returnable),
            "returned": last_return(proposal),
            "versions": list(proposal.versions.all()),
            "history": list(history_for(proposal)) if can_history else None,
            "withdraw_form": WithdrawForm(),
            "endorse_form": EndorseForm(),
            "action_error": action_error,
            **sections,
        },
        status=status,
    )


@login_required
@require_GET
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _proposal_or_404(_user(request), pk))


@login_required
@require_POST
def proposal_endorse_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A lead organisation's research office vouches for a submitted proposal (§5)."""
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    allowed, reason = permissions.can_endorse_proposal(user, proposal)
    if not allowed:
        return _forbidden(request, reason, proposal)
    form = EndorseForm(request.POST)
    organisation = None
    if form.is_valid() and form.cleaned_data["organisation"]:
        organisation = next(
            (
                m.organisation
                for m in proposal.members.select_related("organisation")
                if m.organisation_id == form.cleaned_data["organisation"]
            ),
            None,
        )
        if organisation is None:
            return _forbidden(request, _("You may not endorse for this organisation."), proposal)
    try:
        proposal = svc.proposal_endorse(
            proposal=proposal,
            actor=user,
            organisation=organisation,
            comment=form.cleaned_data.get("comment", "") if form.is_valid() else "",
        )
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except DomainError as exc:
        proposal.refresh_from_db()
        return _render_detail(request, proposal, action_error=str(exc.message), status=exc.status)
    messages.success(request, _("The proposal is endorsed."))
    return redirect("proposals:detail", pk=proposal.pk)


@login_required
@require_POST
def proposal_return_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A lead organisation's research office returns a submission to the PIs with a reason,
    instead of endorsing it (§5). The draft is then the consortium's again: an office that
    no longer sees it lands on its list of proposals."""
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    allowed, reason = permissions.can_return_proposal(user, proposal)
    if not allowed:
        return _forbidden(request, reason, proposal)
    returnable = list(
        Organisation.objects.filter(
            pk__in=permissions.endorsable_organisation_ids(user, proposal)
        ).order_by("pk")
    )
    form = ReturnForm(request.POST, organisations=returnable)
    if not form.is_valid() and "organisation" in form.errors:
        return _forbidden(request, _("You may not return the proposal for this organisation."))
    organisation = next(
        (o for o in returnable if o.pk == form.cleaned_data.get("organisation")), None
    )
    try:
        svc.proposal_return(
            proposal=proposal,
            actor=user,
            organisation=organisation,
            reason=form.cleaned_data.get("reason", ""),
        )
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except DomainError as exc:
        proposal.refresh_from_db()
        for field, field_messages in exc.errors.items():
            if field == "reason":
                for message in field_messages:
                    form.add_error("reason", str(message))
        return _render_detail(
            request,
            proposal,
            action_error=str(exc.message),
            status=exc.status,
            return_form=form,
        )
    messages.success(
        request,
        _(
            "The proposal was returned to its principal investigators as a draft, with your "
            "reason. Once they submit it again, your office will be asked to endorse it."
        ),
    )
    if proposals_visible_to(user).filter(pk=proposal.pk).exists():
        return redirect("proposals:detail", pk=proposal.pk)
    return redirect("proposals:list")


@login_required
@require_POST
def proposal_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    proposal = _proposal_or_404(user, pk)
    allowed, reason = permissions.can_withdraw_proposal(user, proposal)
    if not allowed:
        return _forbidden(request, reason, proposal)
    form = WithdrawForm(request.POST)
    reason_text = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        proposal = svc.proposal_withdraw(proposal=proposal, actor=user, reason=reason_text)
    except PermissionDenied as exc:
        return _forbidden(request, exc.message, proposal)
    except DomainError as exc:
        proposal.refresh_from_db()
        return _render_detail(request, proposal, action_error=str(exc.message), status=exc.status)
    messages.success(request, _("The proposal has been withdrawn."))
    return redirect("proposals:detail", pk=proposal.pk)


_routes = [
    path("", proposal_list, name="list"),
    path("new/", proposal_new, name="new"),
    path("<int:pk>/", proposal_detail, name="detail"),
    path("<int:pk>/edit/", proposal_edit, name="edit"),
    path("<int:pk>/edit/<slug:step>/", proposal_step, name="step"),
    path("<int:pk>/submit/", proposal_submit_view, name="submit"),
    path("<int:pk>/endorse/", proposal_endorse_view, name="endorse"),
    path("<int:pk>/return/", proposal_return_view, name="return"),
    path("<int:pk>/withdraw/", proposal_withdraw_view, name="withdraw"),
    path("<int:pk>/attachments/<int:attachment_id>/", attachment_download, name="attachment"),
    path(
        "<int:pk>/attachments/<int:attachment_id>/delete/",
        attachment_delete,
        name="attachment_delete",
    ),
]

# Namespaced "proposals:…" (the navigation links to "proposals:list").
urlpatterns: list[URLPattern | URLResolver] = [
    path("proposals/", include((_routes, "proposals"))),
]
