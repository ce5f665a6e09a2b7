"""Finance pages (§9, §15): accounts and balances, transactions, the CSV export and the
payment confirmation — each finance officer in their side's currency only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from pytest_django.asserts import assertContains, assertNotContains

from fundapp.accounts.models import Organisation
from fundapp.ledger.descriptions import transaction_descriptions
from fundapp.ledger.models import Entry, Transaction
from projects.models import Disbursement, DisbursementState
from projects.selectors import finance_csv
from projects.selectors.finance import account_labels
from projects.services.gates import today_in_tokyo
from projects.views import finance
from tests.factories.pages import build_world, fund_the_pools

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "pages_urls", "eager_celery"),
]

FINANCE_PAGES = ["finance:accounts", "finance:transactions", "finance:disbursements"]


@pytest.fixture
def world():
    return build_world(evaluate=False)


def csv_of(response) -> tuple[str, list[list[str]]]:
    assert isinstance(response, StreamingHttpResponse)
    chunks = response.streaming_content
    assert isinstance(chunks, Iterator)  # a synchronous response
    body = b"".join(chunks).decode("utf-8")
    return body, list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


# --------------------------------------------------------------------------- who


@pytest.mark.parametrize("name", FINANCE_PAGES + ["finance:transactions_csv"])
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("officer_jp", 200),
        ("finance_jp", 200),
        ("finance_kr", 200),
        ("researcher", 404),
        ("stranger", 404),
        ("reviewer", 404),
    ],
)
def test_finance_pages_by_role(client, world, name, who, status):
    client.force_login(getattr(world, who))
    assert client.get(reverse(name)).status_code == status


def test_a_finance_officer_without_a_side_sees_nothing(client, world):
    world.finance_jp.side = ""
    world.finance_jp.save(update_fields=["side"])
    client.force_login(world.finance_jp)
    assert client.get(reverse("finance:accounts")).status_code == 404


# --------------------------------------------------------------------------- accounts


def test_accounts_of_the_finance_officers_currency_only(client, world):
    client.force_login(world.finance_jp)
    html = client.get(reverse("finance:accounts")).content.decode()
    assert 'data-account="fund:JP:pool"' in html
    assert 'data-account="fund:KR:pool"' not in html
    assert "₩" not in html
    # Pool: 10,000,000,000 contributed, 100,000,000 committed to the project.
    assert "¥9,900,000,000" in html
    # Asking for KRW does not widen the view.
    assertNotContains(client.get(reverse("finance:accounts"), {"currency": "KRW"}), "fund:KR:pool")


def test_fund_officers_see_both_currencies_and_filter_by_prefix(client, world):
    client.force_login(world.officer_jp)
    html = client.get(reverse("finance:accounts")).content.decode()
    assert 'data-account="fund:JP:pool"' in html and 'data-account="fund:KR:pool"' in html
    filtered = client.get(reverse("finance:accounts"), {"prefix": "fund:KR:"}).content.decode()
    assert (
        'data-account="fund:KR:pool"' in filtered and 'data-account="fund:JP:pool"' not in filtered
    )
    only_jpy = client.get(reverse("finance:accounts"), {"currency": "JPY"}).content.decode()
    assert 'data-account="fund:KR:pool"' not in only_jpy


# --------------------------------------------------------------------------- transactions


def test_transactions_newest_first_of_the_officers_currency(client, world):
    client.force_login(world.finance_jp)
    html = client.get(reverse("finance:transactions")).content.decode()
    jpy = list(
        Transaction.objects.filter(currency="JPY").order_by("-id").values_list("pk", flat=True)
    )
    positions = [html.index(f'data-transaction="{pk}"') for pk in jpy]
    assert positions == sorted(positions)
    for pk in Transaction.objects.filter(currency="KRW").values_list("pk", flat=True):
        assert f'data-transaction="{pk}"' not in html


def test_transactions_filter_by_kind_currency_and_date(client, world):
    client.force_login(world.officer_jp)
    url = reverse("finance:transactions")
    releases = client.get(url, {"kind": "tranche_release"}).content.decode()
    assert releases.count("data-transaction=") == 2
    krw = client.get(url, {"kind": "tranche_release", "currency": "KRW"}).content.decode()
    assert krw.count("data-transaction=") == 1
    today = today_in_tokyo()
    assert (
        client.get(url, {"date_from": today.isoformat()})
        .content.decode()
        .count("data-transaction=")
        == Transaction.objects.count()
    )
    tomorrow = (today + timedelta(days=1)).isoformat()
    assertContains(client.get(url, {"date_from": tomorrow}), "No transactions match.")


def test_a_bad_filter_is_a_field_error(client, world):
    client.force_login(world.officer_jp)
    response = client.get(
        reverse("finance:transactions"), {"date_from": "2026-05-10", "date_to": "2026-05-01"}
    )
    assert response.status_code == 422
    assertContains(response, "The end date is before the start date.", status_code=422)
    response = client.get(reverse("finance:transactions"), {"kind": "gift"})
    assert response.status_code == 422


def test_transactions_page_by_id_with_constant_queries(client, world, monkeypatch):
    monkeypatch.setattr(finance, "TRANSACTION_PAGE_SIZE", 3)
    client.force_login(world.officer_jp)
    url = reverse("finance:transactions")
    client.get(url)
    with CaptureQueriesContext(connection) as first_page:
        html = client.get(url).content.decode()
    ids = list(Transaction.objects.order_by("-id").values_list("pk", flat=True))
    assert html.count("data-transaction=") == 3
    assert f"before={ids[2]}" in html
    older = client.get(url, {"before": ids[2]}).content.decode()
    assert f'data-transaction="{ids[3]}"' in older and f'data-transaction="{ids[2]}"' not in older
    assert f"after={ids[3]}" in older
    newer = client.get(url, {"after": ids[3]}).content.decode()
    assert [f'data-transaction="{pk}"' in newer for pk in ids[:4]] == [True, True, True, False]
    fund_the_pools(world.officer_jp, world.call)  # four more transactions
    with CaptureQueriesContext(connection) as later:
        client.get(url)
    assert len(later) == len(first_page) <= 7


# --------------------------------------------------------------------------- CSV


def test_csv_export_has_a_bom_a_header_and_one_row_per_entry(client, world):
    client.force_login(world.officer_jp)
    response = client.get(reverse("finance:transactions_csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="transactions-')
    body, rows = csv_of(response)
    assert body.startswith("\ufeff")
    assert rows[0] == [
        "Transaction",
        "Date and time (Japan)",
        "Kind",
        "Description",
        "Reference",
        "Account",
        "Account code",
        "Account kind",
        "Direction",
        "Amount",
        "Currency",
        "Currency name",
    ]
    assert len(rows) - 1 == Entry.objects.count()
    entry = Entry.objects.select_related("transaction", "account").order_by("id").first()
    assert entry is not None
    first = rows[1]
    assert first[0] == str(entry.transaction_id)
    assert first[1].endswith("+09:00")  # Asia/Tokyo
    assert first[2] == entry.transaction.get_kind_display()
    assert first[3] == transaction_descriptions([entry.transaction])[entry.transaction_id]
    assert first[4] == entry.transaction.reference
    assert first[5] == account_labels([entry.account.code])[entry.account.code]
    assert first[6:] == [
        entry.account.code,
        entry.account.get_kind_display(),
        "Into the account" if entry.amount > 0 else "Out of the account",
        str(entry.amount),
        entry.currency,
        entry.get_currency_display(),
    ]
    # Balanced: every transaction's rows sum to zero.
    totals: dict[str, int] = {}
    for row in rows[1:]:
        totals[row[0]] = totals.get(row[0], 0) + int(row[9])
    assert set(totals.values()) == {0}


@pytest.mark.parametrize(
    ("language", "header", "kind", "direction"),
    [
        ("ja", "取引", "トランシェ交付", "勘定から出金"),
        ("ko", "거래", "트랜치 집행", "계정에서 출금"),
    ],
)
def test_csv_export_in_the_readers_language(client, world, language, header, kind, direction):
    from django.conf import settings

    type(world.project).objects.filter(pk=world.project.pk).update(
        title_ja="エッジAIアクセラレータ", title_ko="엣지 AI 가속기"
    )
    client.force_login(world.officer_jp)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    _body, rows = csv_of(
        client.get(reverse("finance:transactions_csv"), {"kind": "tranche_release"})
    )
    with translation.override(language):
        assert rows[0] == finance_csv.csv_header()
    assert rows[0][0] == header
    assert {row[2] for row in rows[1:]} == {kind}
    assert direction in {row[8] for row in rows[1:]}
    title = "エッジAIアクセラレータ" if language == "ja" else "엣지 AI 가속기"
    assert all(title in row[3] for row in rows[1:])
    assert all(
        not row[9].lstrip("-").startswith("0") and row[9].lstrip("-").isdigit() for row in rows[1:]
    )


def test_csv_export_is_filtered_and_limited_to_the_officers_currency(client, world):
    client.force_login(world.finance_kr)
    _body, rows = csv_of(client.get(reverse("finance:transactions_csv")))
    assert {row[10] for row in rows[1:]} == {"KRW"}
    _body, rows = csv_of(
        client.get(reverse("finance:transactions_csv"), {"kind": "tranche_release"})
    )
    assert {row[2] for row in rows[1:]} == {"tranche release"}
    assert len(rows) == 3  # header + the KR release's two legs


def test_csv_export_streams_in_batches(client, world, monkeypatch):
    monkeypatch.setattr(finance, "CSV_BATCH", 3)
    client.force_login(world.officer_jp)
    response = client.get(reverse("finance:transactions_csv"))
    with CaptureQueriesContext(connection) as queries:
        _body, rows = csv_of(response)
    entries = Entry.objects.count()
    assert len(rows) - 1 == entries
    # One query per batch of three for the entries (plus the final empty or short one),
    # never one per row; the names and descriptions of each batch in a fixed few more.
    batches = [q for q in queries.captured_queries if "LIMIT 3" in q["sql"]]
    assert len(batches) == entries // 3 + 1
    assert len(queries) <= len(batches) * 8


def test_csv_cells_that_look_like_formulas_are_defused():
    assert finance_csv.csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert finance_csv.csv_cell("tranche:1:release") == "tranche:1:release"


# --------------------------------------------------------------------------- disbursements


def test_finance_officer_sees_their_sides_payable_disbursements_with_a_form(client, world):
    jp = Disbursement.objects.get(tranche__project=world.project, currency="JPY")
    kr = Disbursement.objects.get(tranche__project=world.project, currency="KRW")
    client.force_login(world.finance_jp)
    html = client.get(reverse("finance:disbursements")).content.decode()
    assert f'data-disbursement="{jp.pk}"' in html and f'data-disbursement="{kr.pk}"' not in html
    assert reverse("finance:disbursement_confirm", args=[jp.pk]) in html


def test_fund_officers_see_both_but_have_no_confirm_form(client, world):
    client.force_login(world.officer_jp)
    html = client.get(reverse("finance:disbursements")).content.decode()
    assert html.count("data-disbursement=") == 2
    assert "confirm-form" not in html


def test_confirming_a_payment_posts_it_and_moves_it_to_paid(client, world):
    jp = Disbursement.objects.get(tranche__project=world.project, currency="JPY")
    client.force_login(world.finance_jp)
    prefix = f"d{jp.pk}"
    response = client.post(
        reverse("finance:disbursement_confirm", args=[jp.pk]),
        {f"{prefix}-paid_on": "2026-04-30", f"{prefix}-reference": "MUFG-0001"},
    )
    assert response.status_code == 302
    jp.refresh_from_db()
    assert jp.state == DisbursementState.PAID and jp.reference == "MUFG-0001"
    assert jp.ledger_transaction is not None
    paid = client.get(reverse("finance:disbursements"), {"state": "paid"}).content.decode()
    assert f'data-disbursement="{jp.pk}"' in paid and "MUFG-0001" in paid
    assert (
        f'data-disbursement="{jp.pk}"'
        not in client.get(reverse("finance:disbursements")).content.decode()
    )


def test_a_confirmation_without_a_reference_is_a_field_error(client, world):
    jp = Disbursement.objects.get(tranche__project=world.project, currency="JPY")
    client.force_login(world.finance_jp)
    response = client.post(
        reverse("finance:disbursement_confirm", args=[jp.pk]),
        {f"d{jp.pk}-paid_on": "2026-04-30", f"d{jp.pk}-reference": ""},
    )
    assert response.status_code == 422
    assertContains(response, "Give the bank&#x27;s payment reference.", status_code=422)
    jp.refresh_from_db()
    assert jp.state == DisbursementState.PAYABLE


def test_a_second_confirmation_with_another_reference_shows_the_conflict(client, world):
    jp = Disbursement.objects.get(tranche__project=world.project, currency="JPY")
    client.force_login(world.finance_jp)
    url = reverse("finance:disbursement_confirm", args=[jp.pk])
    client.post(url, {f"d{jp.pk}-paid_on": "2026-04-30", f"d{jp.pk}-reference": "A-1"})
    response = client.post(url, {f"d{jp.pk}-paid_on": "2026-04-30", f"d{jp.pk}-reference": "B-2"})
    assert response.status_code == 409
    assertContains(response, 'data-status="409"', status_code=409)
    jp.refresh_from_db()
    assert jp.reference == "A-1"


def test_the_other_sides_disbursement_is_403_for_a_finance_officer(client, world):
    """Finance officers see every project's disbursements, so the refusal is 403 (§2)."""
    kr = Disbursement.objects.get(tranche__project=world.project, currency="KRW")
    client.force_login(world.finance_jp)
    response = client.post(
        reverse("finance:disbursement_confirm", args=[kr.pk]),
        {f"d{kr.pk}-paid_on": "2026-04-30", f"d{kr.pk}-reference": "X"},
    )
    assert response.status_code == 403
    kr.refresh_from_db()
    assert kr.state == DisbursementState.PAYABLE


def test_a_fund_officer_confirming_is_refused_with_the_services_reason(client, world):
    jp = Disbursement.objects.get(tranche__project=world.project, currency="JPY")
    client.force_login(world.officer_jp)
    response = client.post(
        reverse("finance:disbursement_confirm", args=[jp.pk]),
        {f"d{jp.pk}-paid_on": "2026-04-30", f"d{jp.pk}-reference": "X"},
    )
    assert response.status_code == 403
    assertContains(response, "Only a finance officer of the JP side", status_code=403)


@pytest.mark.parametrize("name", ["finance:accounts", "finance:disbursements"])
def test_finance_lists_keep_their_query_count_as_rows_grow(client, world, name):
    client.force_login(world.finance_jp)
    url = reverse(name)
    client.get(url)
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    build_world(evaluate=False, area_code="green.tech")  # more accounts and disbursements
    with CaptureQueriesContext(connection) as after:
        response = client.get(url)
    assert response.status_code == 200
    # Two of them name the page's accounts (their organisations, their projects).
    assert len(after) == len(before) <= 9


def test_accounts_are_named_in_the_readers_language_with_organisation_and_project(client, world):
    """Account names read as sentences in the reader's language (issue 10): the
    organisation's name and the project's title as the reader reads them, not the English
    default name stored with the account."""
    from django.conf import settings

    from fundapp.ledger.models import Account
    from projects.selectors.finance import account_labels

    payable = Account.objects.filter(code__startswith="org:", code__endswith=":payable").first()
    committed = Account.objects.filter(code__startswith=f"project:{world.project.pk}:").first()
    assert payable is not None and committed is not None
    org_id = int(payable.code.split(":")[1])
    organisation = Organisation.objects.get(pk=org_id)
    Organisation.objects.filter(pk=org_id).update(name_ko="서울 연구소")
    type(world.project).objects.filter(pk=world.project.pk).update(title_ko="엣지 AI 가속기")

    with translation.override("ko"):
        labels = account_labels([payable.code, committed.code, "fund:JP:pool", "agency:KR"])
    assert labels[payable.code] == f"서울 연구소: 지급 예정 ({payable.code.split(':')[2]})"
    assert labels[committed.code].startswith("“엣지 AI 가속기”")
    assert labels["fund:JP:pool"] == "기금 풀, 일본"
    with translation.override("en"):
        assert account_labels([payable.code])[payable.code] == (
            f"{organisation.name_en}: payable ({payable.code.split(':')[2]})"
        )

    client.force_login(world.officer_jp)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"
    html = client.get(reverse("finance:accounts"), {"prefix": "org:"}).content.decode()
    assert "서울 연구소: 지급 예정" in html


def test_transactions_are_described_in_the_readers_language(client, world):
    """An award's commitment and a tranche's release read as sentences with the project's
    title in the reader's language, not as the English memo they were posted with."""
    from django.conf import settings

    from fundapp.ledger.descriptions import transaction_descriptions
    from projects.models import Tranche

    type(world.project).objects.filter(pk=world.project.pk).update(title_ko="엣지 AI 가속기")
    award = Transaction.objects.get(reference=f"project:{world.project.pk}:JP:commit")
    released = Tranche.objects.filter(project=world.project, ledger_transaction__isnull=False)
    tranche = released.order_by("pk").first()
    assert tranche is not None and tranche.ledger_transaction_id is not None
    release = Transaction.objects.get(pk=tranche.ledger_transaction_id)
    contribution = Transaction.objects.filter(reference__startswith="contribution:").first()
    assert contribution is not None

    with translation.override("ko"):
        described = transaction_descriptions([award, release, contribution])
    assert described[award.pk] == "“엣지 AI 가속기” 선정: 예산 확정, 일본"
    assert described[release.pk] == (
        f"“엣지 AI 가속기”, {tranche.stage.number}단계: 트랜치 지급, "
        + ("일본" if tranche.side == "JP" else "한국")
    )
    assert described[contribution.pk] != contribution.memo
    assert described[contribution.pk].endswith("기관의 기금 풀 출연")

    client.force_login(world.officer_jp)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"
    html = client.get(reverse("finance:transactions")).content.decode()
    assert "“엣지 AI 가속기” 선정: 예산 확정, 일본" in html


def test_the_transactions_page_costs_the_same_whatever_its_size(client, world):
    """Every kind the projects domain posts is on the page (contributions, commitments, a
    release, a payment, a reversal): the descriptions and account names cost a fixed
    number of queries, however many transactions of those kinds the page shows."""
    from fundapp.ledger.services import ledger_reverse
    from projects.services.payments import disbursement_confirm, fund_contribute

    def more_of_every_kind(n: int) -> None:
        disbursement = (
            Disbursement.objects.filter(currency="JPY", state=DisbursementState.PAYABLE)
            .order_by("pk")
            .first()
        )
        assert disbursement is not None
        disbursement_confirm(
            disbursement=disbursement,
            actor=world.finance_jp,
            paid_on=today_in_tokyo(),
            reference=f"BANK-{n}",
        )
        extra = fund_contribute(
            fund=world.call.fund,
            side="KR",
            amount=1_000,
            to="reserve",
            actor=world.officer_jp,
            reference=f"extra-{n}",
        )
        ledger_reverse(transaction=extra, reference=f"extra-{n}-reversal")

    client.force_login(world.officer_jp)
    url = reverse("finance:transactions")
    more_of_every_kind(1)
    client.get(url)
    small = Transaction.objects.count()
    with CaptureQueriesContext(connection) as before:
        html = client.get(url).content.decode()
    assert html.count("data-transaction=") == small
    build_world(evaluate=False, area_code="green.tech")
    more_of_every_kind(2)
    large = Transaction.objects.count()
    assert large >= 2 * small
    with CaptureQueriesContext(connection) as after:
        html = client.get(url).content.decode()
    assert html.count("data-transaction=") == large
    assert len(after) == len(before) <= 13
