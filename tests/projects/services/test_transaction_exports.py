"""Transaction exports of any size as a background job (issue 10): requested from the
transactions page, written in batches by the real task (run eagerly after commit) in the
requester's language with its progress, downloaded by the requester alone, tidied away
when they expire or get stuck; every step audited and read as a sentence."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from fundapp.accounts.models import Role, User
from fundapp.audit.models import AuditEvent
from fundapp.kernel.events import event_sentence
from fundapp.ledger.models import Entry
from projects.models import ExportState, TransactionExport
from projects.selectors import finance_csv
from projects.services import transaction_exports as svc
from projects.tasks import tidy_transaction_exports
from tests.factories import CallFactory, UserFactory, officer
from tests.factories.pages import fund_the_pools

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "pages_urls", "eager_celery"),
]


@dataclass
class Ledger:
    officer: User
    finance_jp: User
    finance_jp2: User
    finance_kr: User
    researcher: User


@pytest.fixture
def ledger() -> Ledger:
    """Four contributions (eight entries): two in JPY, two in KRW."""
    fund_officer = officer("JP")
    fund_the_pools(fund_officer, CallFactory.create())
    return Ledger(
        officer=fund_officer,
        finance_jp=UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        finance_jp2=UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        finance_kr=UserFactory.create(role=Role.FINANCE_OFFICER, side="KR"),
        researcher=UserFactory.create(role=Role.RESEARCHER),
    )


def actions(export: TransactionExport) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            object_type="projects.transactionexport", object_id=str(export.pk)
        )
        .order_by("id")
        .values_list("action", flat=True)
    )


def request_export(client, django_capture_on_commit_callbacks, language="en", **query):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    url = reverse("finance:transaction_exports")
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    export = TransactionExport.objects.order_by("-pk").first()
    assert export is not None
    assert response["Location"] == reverse("finance:transaction_export", args=[export.pk])
    return export


def downloaded_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


def test_an_export_runs_in_the_background_and_its_requester_downloads_it(
    client, ledger, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(finance_csv, "CSV_BATCH", 3)  # several batches, several progress steps
    client.force_login(ledger.finance_jp)
    export = request_export(client, django_capture_on_commit_callbacks, language="ko")

    export.refresh_from_db()
    jpy_entries = Entry.objects.filter(currency="JPY").count()
    assert export.state == ExportState.COMPLETED
    assert export.language == "ko"
    assert (export.progress_done, export.progress_total) == (jpy_entries, jpy_entries)
    assert export.percent == 100
    assert export.expires_at is not None and export.expires_at > timezone.now()
    assert export.message == f"{jpy_entries}행을 내보냈습니다."

    page = client.get(reverse("finance:transaction_export", args=[export.pk]))
    assert page.status_code == 200
    partial = client.get(reverse("finance:transaction_export_progress", args=[export.pk]))
    html = partial.content.decode()
    assert 'data-state="completed"' in html and "hx-get" not in html  # polling stops
    assert reverse("finance:transaction_export_download", args=[export.pk]) in html

    response = client.get(reverse("finance:transaction_export_download", args=[export.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = downloaded_rows(response)
    with translation.override("ko"):
        assert rows[0] == finance_csv.csv_header()
    assert rows[0][0] == "거래"
    assert len(rows) - 1 == jpy_entries
    assert {row[10] for row in rows[1:]} == {"JPY"}  # the officer's currency only
    assert {row[2] for row in rows[1:]} == {"출연금"}  # the kind, translated
    assert all("기관의" in row[3] for row in rows[1:])  # described, not the English memo

    assert actions(export) == [
        "transaction_export.requested",
        "transaction_export.started",
        "transaction_export.completed",
        "transaction_export.downloaded",
    ]
    # The transactions page links the reader's recent exports.
    html = client.get(reverse("finance:transactions")).content.decode()
    assert f'data-export-id="{export.pk}"' in html
    client.force_login(ledger.finance_jp2)
    html = client.get(reverse("finance:transactions")).content.decode()
    assert f'data-export-id="{export.pk}"' not in html
    client.force_login(ledger.finance_jp)
    # The export's history reads as sentences in the reader's language.
    html = client.get(reverse("finance:transaction_export", args=[export.pk])).content.decode()
    assert "거래 내보내기를 요청했습니다" in html
    assert f"거래 내보내기가 완료되었습니다: {jpy_entries}행" in html
    assert "거래 내보내기를 다운로드했습니다" in html


def test_a_running_export_shows_its_progress_and_keeps_polling(client, ledger):
    export = TransactionExport.objects.create(requested_by=ledger.finance_jp)
    client.force_login(ledger.finance_jp)
    html = client.get(reverse("finance:transaction_export_progress", args=[export.pk])).content
    assert b'data-state="queued"' in html and b"hx-get" in html and b"every 1s" in html


def test_the_filter_of_the_page_is_the_filter_of_the_export(
    client, ledger, django_capture_on_commit_callbacks
):
    client.force_login(ledger.officer)
    export = request_export(
        client, django_capture_on_commit_callbacks, currency="KRW", kind="contribution"
    )
    export.refresh_from_db()
    assert export.filters == {"currency": "KRW", "kind": "contribution"}
    assert export.progress_done == Entry.objects.filter(currency="KRW").count()
    response = client.get(reverse("finance:transaction_export_download", args=[export.pk]))
    assert {row[10] for row in downloaded_rows(response)[1:]} == {"KRW"}


def test_a_bad_filter_queues_nothing(client, ledger):
    client.force_login(ledger.finance_jp)
    url = reverse("finance:transaction_exports") + "?kind=gift"
    assert client.post(url).status_code == 422
    assert not TransactionExport.objects.exists()


@pytest.mark.parametrize("who", ["finance_jp2", "finance_kr", "officer", "researcher"])
def test_only_the_requester_sees_and_downloads_an_export(
    client, ledger, django_capture_on_commit_callbacks, who
):
    client.force_login(ledger.finance_jp)
    export = request_export(client, django_capture_on_commit_callbacks)
    client.force_login(getattr(ledger, who))
    for name in (
        "finance:transaction_export",
        "finance:transaction_export_progress",
        "finance:transaction_export_download",
    ):
        assert client.get(reverse(name, args=[export.pk])).status_code == 404
    assert actions(export)[-1] == "transaction_export.completed"  # no download recorded


def test_a_researcher_cannot_ask_for_an_export(client, ledger):
    client.force_login(ledger.researcher)
    assert client.post(reverse("finance:transaction_exports")).status_code == 404
    assert not TransactionExport.objects.exists()


def test_a_requester_who_lost_the_right_gets_a_failed_export(ledger):
    with translation.override("ja"):
        export = svc.transaction_export_request(actor=ledger.finance_jp, filters={})
    User.objects.filter(pk=ledger.finance_jp.pk).update(role=Role.RESEARCHER)
    svc.transaction_export_run(export_id=export.pk)
    export.refresh_from_db()
    assert export.state == ExportState.FAILED
    assert export.message == "元帳を閲覧する権限がなくなったため、何もエクスポートされていません。"
    assert not export.storage_name


def test_a_finished_export_is_left_alone(client, ledger, django_capture_on_commit_callbacks):
    client.force_login(ledger.finance_jp)
    export = request_export(client, django_capture_on_commit_callbacks)
    before = actions(export)
    svc.transaction_export_run(export_id=export.pk)
    assert actions(export) == before


def test_expired_files_are_deleted_and_no_longer_downloaded(
    client, ledger, django_capture_on_commit_callbacks
):
    client.force_login(ledger.finance_jp)
    export = request_export(client, django_capture_on_commit_callbacks)
    export.refresh_from_db()
    path = svc.export_path(export)
    assert path.is_file()
    assert export.expires_at is not None

    assert svc.transaction_exports_tidy(now=export.expires_at - timedelta(seconds=1)) == {
        "expired": [],
        "failed": [],
        "requeued": [],
    }
    with django_capture_on_commit_callbacks(execute=True):
        result = svc.transaction_exports_tidy(now=export.expires_at + timedelta(seconds=1))
    assert result["expired"] == [export.pk]
    export.refresh_from_db()
    assert export.state == ExportState.EXPIRED
    assert not path.exists()
    assert actions(export)[-1] == "transaction_export.expired"
    download = reverse("finance:transaction_export_download", args=[export.pk])
    assert client.get(download).status_code == 404
    html = client.get(reverse("finance:transaction_export", args=[export.pk])).content.decode()
    assert (
        "This export&#x27;s file has expired." in html or "This export's file has expired." in html
    )


def test_stuck_exports_are_given_up_and_lost_ones_enqueued_again(ledger):
    now = timezone.now()
    old = now - svc.EXPORT_STUCK_AFTER - timedelta(minutes=1)
    stuck_queued = TransactionExport.objects.create(requested_by=ledger.finance_jp, created_at=old)
    stuck_running = TransactionExport.objects.create(requested_by=ledger.finance_jp, created_at=old)
    TransactionExport.objects.filter(pk=stuck_running.pk).update(
        state=ExportState.RUNNING, started_at=old
    )
    lost = TransactionExport.objects.create(
        requested_by=ledger.finance_jp, created_at=now - timedelta(minutes=10)
    )
    fresh = TransactionExport.objects.create(requested_by=ledger.finance_jp, created_at=now)

    result = tidy_transaction_exports.apply().get()  # the beat task; the requeued one runs

    assert result == {
        "expired": [],
        "failed": [stuck_queued.pk, stuck_running.pk],
        "requeued": [lost.pk],
    }
    states = dict(TransactionExport.objects.values_list("pk", "state"))
    assert states[stuck_queued.pk] == states[stuck_running.pk] == ExportState.FAILED
    assert states[lost.pk] == ExportState.COMPLETED
    assert states[fresh.pk] == ExportState.QUEUED
    failed = AuditEvent.objects.get(
        action="transaction_export.failed", object_id=str(stuck_running.pk)
    )
    assert failed.before == {"state": "running"}


def test_the_beat_schedule_tidies_exports():
    from projects.schedules import SCHEDULES

    assert "projects.tidy_transaction_exports" in {s.task for s in SCHEDULES}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "The export of the transactions is ready: 12 rows"),
        ("ja", "取引のエクスポートが完了しました（12 行）"),
        ("ko", "거래 내보내기가 완료되었습니다: 12행"),
    ],
)
def test_export_events_read_as_sentences(language, expected):
    with translation.override(language):
        assert event_sentence("transaction_export.completed", {"rows": 12}) == expected
        for action in ("requested", "started", "failed", "downloaded", "expired"):
            sentence = event_sentence(f"transaction_export.{action}", {"actor": "A"})
            assert sentence and "transaction_export" not in sentence
