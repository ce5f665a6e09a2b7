"""Sign-in, language choice and the officer's API-key pages (§2, §14, §15)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from fundapp.audit.services import history_for
from fundapp.errors import DomainError

from .forms import ApiKeyIssueForm, ResearcherNumbersForm
from .models import ApiKey, Organisation, User
from .permissions import can_manage_api_keys
from .services import (
    LANGUAGE_CODES,
    api_key_issue,
    api_key_revoke,
    user_identifiers_set,
    user_preferred_language_set,
)

SESSION_LANGUAGE_KEY = "preferred_language"


def _set_language_cookie(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class LoginView(auth_views.LoginView):
    """Django's sign-in, then the person's saved language for this and later requests."""

    template_name = "registration/login.html"

    def form_valid(self, form):
        response = super().form_valid(form)
        language = form.get_user().preferred_language
        if language in LANGUAGE_CODES:
            self.request.session[SESSION_LANGUAGE_KEY] = language
            translation.activate(language)
            _set_language_cookie(response, language)
        return response


class LogoutView(auth_views.LogoutView):
    template_name = "registration/logged_out.html"


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language``; a signed-in person's choice is also remembered on their account."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if language in LANGUAGE_CODES:
        user = request.user
        if user.is_authenticated:
            user_preferred_language_set(user=user, language=language)  # type: ignore[arg-type]
            request.session[SESSION_LANGUAGE_KEY] = language
    return response


def fund_officer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign in first; then anyone who is not a fund officer sees 404 (no existence leak)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not can_manage_api_keys(request.user):  # type: ignore[arg-type]
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@fund_officer_required
def api_key_list(request: HttpRequest) -> HttpResponse:
    keys = ApiKey.objects.select_related("organisation", "created_by").order_by(
        "organisation__code", "-created_at"
    )
    organisations = Organisation.objects.order_by("code").only("id", "code", "name_en")
    selected = request.GET.get("organisation", "")
    if selected.isdigit():
        keys = keys.filter(organisation_id=int(selected))
    now = timezone.now()
    return render(
        request,
        "accounts/api_key_list.html",
        {
            "keys": keys,
            "now": now,
            "organisations": organisations,
            "selected_organisation": int(selected) if selected.isdigit() else None,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@fund_officer_required
def api_key_issue_view(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("organisation", "").isdigit():
        initial["organisation"] = request.GET["organisation"]
    form = ApiKeyIssueForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            key, full_key = api_key_issue(
                organisation=form.cleaned_data["organisation"],
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at,
                actor=request.user,  # type: ignore[arg-type]
            )
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            # Rendered, not redirected: the full key exists only in this one response.
            return render(
                request, "accounts/api_key_issued.html", {"key": key, "full_key": full_key}
            )
    return render(request, "accounts/api_key_form.html", {"form": form})


@require_GET
@fund_officer_required
def api_key_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.select_related("organisation", "created_by"), pk=pk)
    history = history_for(key)
    return render(
        request,
        "accounts/api_key_detail.html",
        {"key": key, "now": timezone.now(), "history": history},
    )


@require_POST
@fund_officer_required
def api_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    try:
        key = api_key_revoke(key=key, actor=request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The key “%(name)s” is revoked.") % {"name": key.name})
    return redirect("accounts:api_key_detail", pk=key.pk)


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def researcher_numbers(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own e-Rad number, Korean researcher number and ORCID iD
    (§22); ``next`` brings them back to where they came from (the proposal's people)."""
    user = request.user
    assert isinstance(user, User)
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = ""
    form = ResearcherNumbersForm(
        request.POST or None,
        initial={
            "erad_number": user.erad_number,
            "kr_researcher_number": user.kr_researcher_number,
            "orcid": user.orcid,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user_identifiers_set(user=user, actor=user, **form.cleaned_data)
            except DomainError as exc:
                form.add_domain_error(exc)
                status = exc.status
            else:
                messages.success(request, _("Your researcher numbers are saved."))
                return redirect(back or "accounts:researcher_numbers")
        else:
            status = 422
    return render(
        request, "accounts/researcher_numbers.html", {"form": form, "next": back}, status=status
    )
