"""A real Celery worker writes a transactions export with its progress, and a duplicate
message writes nothing more (§15, §16)."""

from __future__ import annotations

import pytest
from django.conf import settings

from fundapp.accounts.models import Role
from fundapp.audit.models import AuditEvent
from fundapp.ledger.models import Entry
from projects.models import ExportState, TransactionExport
from projects.services import transaction_exports as svc
from projects.tasks import export_transactions
from tests.factories import CallFactory, UserFactory, officer
from tests.factories.pages import fund_the_pools

from .conftest import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_writes_the_export_once(start_worker, celery_queue, tmp_path, monkeypatch):
    # The worker and this process share the private media root.
    root = tmp_path / "private"
    monkeypatch.setenv("PRIVATE_MEDIA_ROOT", str(root))
    monkeypatch.setattr(settings, "PRIVATE_MEDIA_ROOT", root)
    # The request's own message would go to the default queue: this test sends its own.
    monkeypatch.setattr(export_transactions, "delay", lambda *args, **kwargs: None)
    fund_the_pools(officer("JP"), CallFactory.create())
    finance = UserFactory.create(role=Role.FINANCE_OFFICER, side="KR")
    export = svc.transaction_export_request(actor=finance, filters={})
    worker = start_worker()

    for _ in range(2):  # a duplicate delivery
        export_transactions.apply_async(kwargs={"export_id": export.pk}, queue=celery_queue)
    wait_for(
        lambda: TransactionExport.objects.get(pk=export.pk).state == ExportState.COMPLETED,
        timeout=60,
        what="the worker to write the export",
        worker=worker,
    )
    export.refresh_from_db()
    entries = Entry.objects.filter(currency="KRW").count()
    assert (export.progress_done, export.progress_total) == (entries, entries)
    path = svc.export_path(export)
    assert path.is_file() and path.stat().st_size == export.size
    assert len(path.read_text(encoding="utf-8").splitlines()) == entries + 1
    assert list(path.parent.iterdir()) == [path]  # the duplicate left no second file
    assert (
        AuditEvent.objects.filter(
            action="transaction_export.completed", object_id=str(export.pk)
        ).count()
        == 1
    )
