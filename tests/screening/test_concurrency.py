"""Real threads against real PostgreSQL: one live case per subject, one decision per case."""

from __future__ import annotations

import pytest

from fundapp.accounts.models import Role
from fundapp.audit.models import AuditEvent
from fundapp.audit.services import verify_chain
from fundapp.errors import Conflict
from fundapp.screening.models import ScreeningCase, ScreeningState
from fundapp.screening.services import screening_case_decide, screening_case_open
from tests.concurrency import run_at_once as _run_at_once
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 6


def run_at_once(work):
    return _run_at_once(work, threads=THREADS)


def test_concurrent_opens_converge_on_one_case_with_every_reason():
    def open_with(index):
        case = screening_case_open(
            subject_type="proposal",
            subject_id=42,
            subject_label="Race",
            reasons=[{"code": f"reason_{index}"}],
            parties=[],
        )
        assert case is not None
        return case.pk

    results, errors = run_at_once(open_with)

    assert errors == [None] * THREADS
    assert len(set(results)) == 1
    case = ScreeningCase.objects.get()
    assert sorted(r["code"] for r in case.reasons) == [f"reason_{i}" for i in range(THREADS)]
    assert verify_chain().ok


def test_concurrent_decisions_record_exactly_one():
    officers = [
        UserFactory.create(username=f"screener{i}", role=Role.SCREENING_OFFICER)
        for i in range(THREADS)
    ]
    case = screening_case_open(
        subject_type="licence", subject_id=7, reasons=[{"code": "controlled_field"}], parties=[]
    )
    assert case is not None

    def decide(index):
        return screening_case_decide(
            case=case,
            actor=officers[index],
            decision="clear" if index % 2 else "block",
            reason=f"Decision {index}",
        ).state

    results, errors = run_at_once(decide)

    assert sum(r is not None for r in results) == 1
    assert sum(isinstance(e, Conflict) for e in errors) == THREADS - 1
    case.refresh_from_db()
    assert case.state in (ScreeningState.CLEARED, ScreeningState.BLOCKED)
    assert (
        AuditEvent.objects.filter(
            action__in=["screening.case_cleared", "screening.case_blocked"]
        ).count()
        == 1
    )
