"""Finance pages (§9, §15, §24): ledger accounts and balances, transactions with a CSV
export, the disbursements awaiting payment with their confirmation form, and spending
against release across the fund's projects with its CSV export.

Who: finance officers, who see and confirm only their side's currency (JP → JPY, KR →
KRW), and fund officers, who see both and confirm nothing (the payments service decides
who confirms). Anyone else gets 404 on these pages. Confirming a disbursement of a
project one can see but may not pay (another side's, or not a finance officer) answers
403 with the reason; one of a project one cannot see answers 404. Everything is read through ``fundapp.ledger`` models and filtered in
SQL; the CSV export streams the entries in batches by id and never loads the table.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import Side, User
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound
from fundapp.ledger.descriptions import transaction_descriptions
from fundapp.ledger.models import Account, Entry, Transaction, TransactionKind
from fundapp.ledger.rules import SIDE_CURRENCY
from projects import permissions as engine_perms
from projects.models import Call, Disbursement, DisbursementState, ReportState, TransactionExport
from projects.selectors.finance import (
    TOKYO,
    account_labels,
    finance_currencies,
    transaction_entries,
    transaction_filter,
)
from projects.selectors.finance_csv import transaction_csv_rows
from projects.selectors.spending import NO_REPORT, SpendingFilter, spending_csv, spending_rows
from projects.selectors.tranches import disbursements_visible_to
from projects.services import payments as payment_svc
from projects.services import transaction_exports as export_svc

ACCOUNT_PAGE_SIZE = 50
TRANSACTION_PAGE_SIZE = 50
DISBURSEMENT_PAGE_SIZE = 50
CSV_BATCH = 2000


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _currencies_or_404(request: HttpRequest) -> tuple[str, ...]:
    currencies = finance_currencies(_user(request))
    if not currencies:
        raise Http404
    return currencies


def _currency_choices(currencies: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("", _("All currencies"))] + [(c, c) for c in currencies]


# --------------------------------------------------------------------------- accounts


@login_required
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    """Ledger accounts with their balances, filtered by currency and code prefix, 50 a page."""
    currencies = _currencies_or_404(request)
    currency = request.GET.get("currency", "")
    prefix = request.GET.get("prefix", "").strip()[:200]
    accounts = Account.objects.filter(currency__in=currencies)
    if currency in currencies:
        accounts = accounts.filter(currency=currency)
    if prefix:
        accounts = accounts.filter(code__startswith=prefix)
    page = Paginator(accounts.order_by("code"), ACCOUNT_PAGE_SIZE).get_page(request.GET.get("page"))
    labels = account_labels(account.code for account in page.object_list)
    for account in page.object_list:
        account.label = labels[account.code]  # type: ignore[attr-defined]
    sides = [side for side, ccy in SIDE_CURRENCY.items() if ccy in currencies]
    fund_codes = [f"fund:{side}:{kind}" for side in sides for kind in ("pool", "reserve")]
    balances = dict(Account.objects.filter(code__in=fund_codes).values_list("code", "balance"))
    fund = [
        {
            "side": side,
            "currency": SIDE_CURRENCY[side],
            "pool": balances.get(f"fund:{side}:pool", 0),
            "reserve": balances.get(f"fund:{side}:reserve", 0),
        }
        for side in sides
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "projects/finance/accounts.html",
        {
            "page": page,
            "fund": fund,
            "currencies": currencies,
            "selected_currency": currency if currency in currencies else "",
            "prefix": prefix,
            "query": query.urlencode(),
        },
    )


# --------------------------------------------------------------------------- transactions


class TransactionFilterForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), required=False)
    currency = forms.ChoiceField(label=gettext_lazy("Currency"), required=False)
    date_from = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, currencies: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = [("", _("All kinds"))] + [
            (value, str(label)) for value, label in TransactionKind.choices
        ]
        cast(forms.ChoiceField, self.fields["currency"]).choices = _currency_choices(currencies)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


def _cursor(value: str) -> int | None:
    return int(value) if value.isdigit() else None


@login_required
@require_GET
def transaction_list(request: HttpRequest) -> HttpResponse:
    """Transactions newest first with their entries, paged by id (``?before=`` / ``?after=``),
    filtered by kind, currency and Asia/Tokyo dates. Two queries a page."""
    currencies = _currencies_or_404(request)
    form = TransactionFilterForm(request.GET or None, currencies=currencies)
    if request.GET and not form.is_valid():
        return render(
            request,
            "projects/finance/transactions.html",
            {"form": form, "transactions": [], "query": ""},
            status=422,
        )
    data = form.cleaned_data if form.is_bound else {}
    rows: QuerySet[Transaction] = Transaction.objects.filter(
        transaction_filter(data, currencies)
    ).prefetch_related(
        Prefetch("entries", queryset=Entry.objects.select_related("account").order_by("id"))
    )
    before = _cursor(request.GET.get("before", ""))
    after = _cursor(request.GET.get("after", ""))
    if after is not None:
        chunk = list(rows.filter(id__gt=after).order_by("id")[: TRANSACTION_PAGE_SIZE + 1])
        has_newer = len(chunk) > TRANSACTION_PAGE_SIZE
        transactions = list(reversed(chunk[:TRANSACTION_PAGE_SIZE]))
        has_older = True
    else:
        if before is not None:
            rows = rows.filter(id__lt=before)
        chunk = list(rows.order_by("-id")[: TRANSACTION_PAGE_SIZE + 1])
        has_older = len(chunk) > TRANSACTION_PAGE_SIZE
        transactions = chunk[:TRANSACTION_PAGE_SIZE]
        has_newer = before is not None
    descriptions = transaction_descriptions(transactions)
    for txn in transactions:
        txn.description = descriptions[txn.pk]  # type: ignore[attr-defined]
    entries = [entry for txn in transactions for entry in txn.entries.all()]
    labels = account_labels(entry.account.code for entry in entries)
    for entry in entries:
        entry.account.label = labels[entry.account.code]  # type: ignore[attr-defined]
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return render(
        request,
        "projects/finance/transactions.html",
        {
            "form": form,
            "transactions": transactions,
            "older": transactions[-1].pk if transactions and has_older else None,
            "newer": transactions[0].pk if transactions and has_newer else None,
            "query": query.urlencode(),
            "exports": export_svc.recent_exports_of(_user(request)),
        },
    )


@login_required
@require_GET
def transaction_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered transactions as CSV, one row per entry, streamed (§15)."""
    currencies = _currencies_or_404(request)
    form = TransactionFilterForm(request.GET or None, currencies=currencies)
    if request.GET and not form.is_valid():
        return render(
            request,
            "projects/finance/transactions.html",
            {"form": form, "transactions": [], "query": ""},
            status=422,
        )
    data = form.cleaned_data if form.is_bound else {}
    entries = transaction_entries(data, currencies)
    stamp = timezone.now().astimezone(TOKYO).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        transaction_csv_rows(entries, batch=CSV_BATCH), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="transactions-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- background exports


@login_required
@require_POST
def transaction_export_request_view(request: HttpRequest) -> HttpResponse:
    """Ask for the filtered transactions as a CSV written in the background (any size); the
    filter comes in the query string, as on the transactions page."""
    currencies = _currencies_or_404(request)
    form = TransactionFilterForm(request.GET or None, currencies=currencies)
    if request.GET and not form.is_valid():
        return render(
            request,
            "projects/finance/transactions.html",
            {"form": form, "transactions": [], "query": ""},
            status=422,
        )
    export = export_svc.transaction_export_request(
        actor=_user(request), filters=form.cleaned_data if form.is_bound else {}
    )
    return redirect("finance:transaction_export", pk=export.pk)


def _export_or_404(request: HttpRequest, pk: int) -> TransactionExport:
    try:
        return export_svc.get_export_for_requester(_user(request), pk)
    except NotFound:
        raise Http404 from None


@login_required
@require_GET
def transaction_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    """An export's page with its progress bar (the requester's alone; others get 404)."""
    export = _export_or_404(request, pk)
    return render(
        request,
        "projects/finance/export.html",
        {"export": export, "history": history_for(export)},
    )


@login_required
@require_GET
def transaction_export_progress_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The small partial htmx polls every second until the export has finished."""
    export = _export_or_404(request, pk)
    return render(request, "projects/finance/_export_progress.html", {"export": export})


@login_required
@require_GET
def transaction_export_download_view(request: HttpRequest, pk: int) -> FileResponse:
    """The finished CSV, for its requester, until it expires."""
    export = _export_or_404(request, pk)
    try:
        file_path = export_svc.transaction_export_download(export=export, actor=_user(request))
    except NotFound:
        raise Http404 from None
    stamp = (export.finished_at or timezone.now()).astimezone(TOKYO).strftime("%Y%m%d-%H%M")
    response = FileResponse(
        file_path.open("rb"),
        as_attachment=True,
        filename=f"transactions-{stamp}.csv",
        content_type="text/csv; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- disbursements


class ConfirmPaymentForm(forms.Form):
    paid_on = forms.DateField(
        label=gettext_lazy("Paid on"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": gettext_lazy("Give the day the payment was made.")},
    )
    reference = forms.CharField(
        label=gettext_lazy("Payment reference"),
        max_length=payment_svc.MAX_PAYMENT_REFERENCE,
        error_messages={"required": gettext_lazy("Give the bank's payment reference.")},
    )

    def add_service_errors(self, errors: dict[str, list[Any]], message: object) -> None:
        placed = False
        for key, texts in errors.items():
            for text in texts:
                self.add_error(key if key in self.fields else None, str(text))
                placed = True
        if not placed and message:
            self.add_error(None, str(message))


DISBURSEMENT_VIEWS = {
    "payable": (DisbursementState.PAYABLE,),
    "paid": (DisbursementState.PAID,),
}


def _disbursement_rows(currencies: tuple[str, ...], state: str) -> QuerySet[Disbursement]:
    rows = Disbursement.objects.filter(
        currency__in=currencies, state__in=DISBURSEMENT_VIEWS[state]
    ).select_related("organisation", "tranche__project", "tranche__stage", "confirmed_by")
    if state == "paid":
        return rows.order_by("-confirmed_at", "-id")
    return rows.order_by("tranche__released_at", "id")


def _render_disbursements(
    request: HttpRequest,
    *,
    currencies: tuple[str, ...],
    failed: Disbursement | None = None,
    failed_form: ConfirmPaymentForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    state = request.GET.get("state", "payable")
    if state not in DISBURSEMENT_VIEWS or failed is not None:
        state = "payable"
    page = Paginator(_disbursement_rows(currencies, state), DISBURSEMENT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = []
    for disbursement in page.object_list:
        can_confirm = (
            disbursement.state == DisbursementState.PAYABLE
            and engine_perms.can_confirm_disbursement(user, disbursement)[0]
        )
        is_failed = failed is not None and failed.pk == disbursement.pk
        form = None
        if can_confirm:
            form = (
                failed_form
                if is_failed
                else ConfirmPaymentForm(
                    prefix=f"d{disbursement.pk}",
                    initial={"paid_on": timezone.now().astimezone(TOKYO).date()},
                )
            )
        rows.append({"disbursement": disbursement, "form": form, "failed": is_failed})
    return render(
        request,
        "projects/finance/disbursements.html",
        {
            "page": page,
            "rows": rows,
            "state": state,
            "currencies": currencies,
            "error": error,
            "error_status": status if error else "",
            "failed": failed,
        },
        status=status,
    )


@login_required
@require_GET
def disbursement_list(request: HttpRequest) -> HttpResponse:
    """Disbursements awaiting payment (or paid), of the currencies the person may see."""
    return _render_disbursements(request, currencies=_currencies_or_404(request))


@login_required
@require_POST
def disbursement_confirm_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm that a disbursement has been paid (``payments.disbursement_confirm``)."""
    user = _user(request)
    # Not visible → 404; visible but not this person's to confirm → 403 with the reason (§2).
    disbursement = (
        disbursements_visible_to(user)
        .filter(pk=pk)
        .select_related("tranche", "organisation")
        .first()
    )
    if disbursement is None:
        raise Http404
    allowed, reason = engine_perms.can_confirm_disbursement(user, disbursement)
    if not allowed:
        raise PermissionDenied(reason)
    currencies = _currencies_or_404(request)
    form = ConfirmPaymentForm(request.POST, prefix=f"d{disbursement.pk}")
    if not form.is_valid():
        return _render_disbursements(
            request, currencies=currencies, failed=disbursement, failed_form=form, status=422
        )
    try:
        payment_svc.disbursement_confirm(
            disbursement=disbursement,
            actor=user,
            paid_on=form.cleaned_data["paid_on"],
            reference=form.cleaned_data["reference"],
        )
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        return _render_disbursements(
            request,
            currencies=currencies,
            failed=disbursement,
            failed_form=form,
            error=str(exc.message),
            status=exc.status,
        )
    messages.success(
        request,
        _("Payment to %(organisation)s confirmed.") % {"organisation": disbursement.organisation},
    )
    return redirect("finance:disbursements")


# --------------------------------------------------------------------------- spending


SPENDING_PAGE_SIZE = 50


def _sort_choices() -> list[tuple[str, str]]:
    labels = {
        "project": _("Project"),
        "budget": _("Budget"),
        "released": _("Released"),
        "spent": _("Spent"),
        "ratio": _("Spent of released"),
    }
    return [
        choice
        for key, label in labels.items()
        for choice in (
            (key, _("%(column)s, ascending") % {"column": label}),
            (f"-{key}", _("%(column)s, descending") % {"column": label}),
        )
    ]


class SpendingFilterForm(forms.Form):
    side = forms.ChoiceField(label=gettext_lazy("Side"), required=False)
    call = forms.TypedChoiceField(
        label=gettext_lazy("Call"), required=False, coerce=int, empty_value=None
    )
    report = forms.ChoiceField(label=gettext_lazy("Latest report"), required=False)
    sort = forms.ChoiceField(label=gettext_lazy("Sort by"), required=False)

    def __init__(self, *args: Any, sides: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["side"]).choices = [("", _("Both sides"))] + [
            (side, str(Side(side).label)) for side in sides
        ]
        cast(forms.ChoiceField, self.fields["call"]).choices = [("", _("All calls"))] + [
            (str(call.pk), call.title)
            for call in Call.objects.only("pk", "title_en", "title_ja", "title_ko").order_by("-pk")
        ]
        cast(forms.ChoiceField, self.fields["report"]).choices = [
            ("", _("Any state")),
            (NO_REPORT, _("No report yet")),
            *ReportState.choices,
        ]
        cast(forms.ChoiceField, self.fields["sort"]).choices = _sort_choices()

    def spending_filter(self, sides: tuple[str, ...]) -> SpendingFilter:
        data = self.cleaned_data if self.is_bound else {}
        side = data.get("side") or ""
        return SpendingFilter(
            sides=(side,) if side else sides,
            call_id=data.get("call"),
            report_state=data.get("report") or "",
            sort=data.get("sort") or "project",
        )


def _spending_sides_or_404(request: HttpRequest) -> tuple[str, ...]:
    """The sides whose spending the reader sees: a finance officer their own, a fund
    officer both; anyone else 404, as on the other finance pages."""
    currencies = _currencies_or_404(request)
    return tuple(side for side, ccy in SIDE_CURRENCY.items() if ccy in currencies)


@login_required
@require_GET
def spending_list(request: HttpRequest) -> HttpResponse:
    """Spending across the fund's projects (§24, RCMS-style): per project and side, the
    budget, released, reported spent and its share of released, and the latest report's
    state; filtered by side, call and report state, sorted, 50 a page (two queries for the
    rows, one for the calls, whatever their number)."""
    sides = _spending_sides_or_404(request)
    form = SpendingFilterForm(request.GET or None, sides=sides)
    if request.GET and not form.is_valid():
        return render(
            request,
            "projects/finance/spending.html",
            {"form": form, "page": None, "query": ""},
            status=422,
        )
    page = Paginator(spending_rows(form.spending_filter(sides)), SPENDING_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "projects/finance/spending.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


@login_required
@require_GET
def spending_export(request: HttpRequest) -> HttpResponse:
    """The filtered spending rows as CSV in the reader's language (§24)."""
    sides = _spending_sides_or_404(request)
    form = SpendingFilterForm(request.GET or None, sides=sides)
    if request.GET and not form.is_valid():
        return render(
            request,
            "projects/finance/spending.html",
            {"form": form, "page": None, "query": ""},
            status=422,
        )
    rows = spending_rows(form.spending_filter(sides)).all()
    stamp = timezone.now().astimezone(TOKYO).strftime("%Y%m%d-%H%M")
    response = HttpResponse(spending_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="spending-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


_routes: list[URLPattern | URLResolver] = [
    path("", account_list, name="accounts"),
    path("transactions/", transaction_list, name="transactions"),
    path("transactions/export.csv", transaction_export, name="transactions_csv"),
    path("transactions/exports/", transaction_export_request_view, name="transaction_exports"),
    path("exports/<int:pk>/", transaction_export_view, name="transaction_export"),
    path(
        "exports/<int:pk>/progress/",
        transaction_export_progress_view,
        name="transaction_export_progress",
    ),
    path(
        "exports/<int:pk>/download/",
        transaction_export_download_view,
        name="transaction_export_download",
    ),
    path("disbursements/", disbursement_list, name="disbursements"),
    path("spending/", spending_list, name="spending"),
    path("spending/export.csv", spending_export, name="spending_csv"),
    path("disbursements/<int:pk>/confirm/", disbursement_confirm_view, name="disbursement_confirm"),
]

# Namespaced "finance:…".
urlpatterns: list[URLPattern | URLResolver] = [path("finance/", include((_routes, "finance")))]
