"""Stage reports (§24): opening, narrative, spending lines, submission, acceptance and
return through the workflow; the statement's exact sums against budget and release; the
database refusing to change a submitted statement."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.utils.translation import override

from fundapp.accounts.templatetags.fund_format import audit_sentence
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.notifications.models import Notification
from projects.models import (
    Disbursement,
    DisbursementState,
    ReportState,
    StageReport,
    StatementLine,
)
from projects.selectors.reports import report_due_on, statement
from projects.services.reports import (
    report_accept,
    report_open,
    report_return,
    report_submit,
    report_update,
    statement_lines_set,
)
from tests.factories.reports import filled_report, full_lines, report_world

pytestmark = pytest.mark.django_db

DATABASE_REFUSES = (InternalError, IntegrityError, ProgrammingError)


@pytest.fixture
def w():
    return report_world()


def test_the_statement_is_budget_release_and_spending_per_organisation_and_category(w):
    report = filled_report(w)

    found = statement(report)

    rows = [(r.organisation_id, r.category, r.budget, r.released, r.spent) for r in found.rows()]
    assert rows == [
        # The JP lead's 28,000,000 released, split 50:20 over its categories.
        (w.c.jp.pk, "personnel", 50_000_000, 20_000_000, 15_000_000),
        (w.c.jp.pk, "equipment", 20_000_000, 8_000_000, 9_000_000),
        (w.c.kr.pk, "personnel", 600_000_000, 240_000_000, 200_000_000),
        (w.c.kr.pk, "equipment", 300_000_000, 120_000_000, 0),
        (w.c.kr.pk, "travel", 100_000_000, 40_000_000, 10_000_000),
        (w.partner.pk, "personnel", 30_000_000, 12_000_000, 6_000_000),
    ]
    # Released per organisation is exactly what the ledger paid out to it.
    for block in found.organisations:
        assert block.totals is not None
        assert block.totals.released == sum(
            Disbursement.objects.filter(
                organisation=block.organisation, tranche__project=w.project
            ).values_list("amount", flat=True)
        )
    jp, kr = found.sides
    assert (jp.currency, jp.budget, jp.released, jp.spent) == (
        "JPY",
        100_000_000,
        40_000_000,
        30_000_000,
    )
    assert (kr.currency, kr.budget, kr.released, kr.spent) == (
        "KRW",
        1_000_000_000,
        400_000_000,
        210_000_000,
    )
    assert str(jp.spent_of_released) == "0.7500"
    assert str(kr.spent_of_released) == "0.5250"


def test_release_split_over_categories_sums_exactly_with_largest_remainder(w):
    # 28,000,000 over 50:20 is exact; a cancelled disbursement (clawed back) is not counted.
    report = filled_report(w)
    lead = Disbursement.objects.get(organisation=w.c.jp, tranche__project=w.project)
    Disbursement.objects.filter(pk=lead.pk).update(state=DisbursementState.CANCELLED)

    found = statement(report)

    block = next(b for b in found.organisations if b.organisation == w.c.jp)
    assert [r.released for r in block.rows] == [0, 0]
    assert found.sides[0].released == 12_000_000


def test_the_statement_reads_four_queries_whatever_its_size(w, django_assert_num_queries):
    report = filled_report(w)
    with django_assert_num_queries(4):
        statement(report)


def test_the_pi_opens_a_report_due_fourteen_days_before_the_gate(w):
    report = report_open(
        project=w.project, stage=w.stage1, actor=w.c.pi_kr, narrative={"ko": "보고"}
    )

    assert report.state == ReportState.DRAFT
    assert report.narrative_ko == "보고"
    gate_day = w.stage1.gate.due_on
    assert (gate_day - report_due_on(gate_day)).days == 14
    event = AuditEvent.objects.get(action="report.created", object_id=str(report.pk))
    with override("en"):
        assert audit_sentence(event) == f"{w.c.pi_kr} started the report on stage 1"
    with pytest.raises(Conflict):
        report_open(project=w.project, stage=w.stage1, actor=w.c.pi_jp)


@pytest.mark.parametrize("who", ["co_partner", "outsider", "officer"])
def test_only_a_pi_opens_a_report(w, who):
    actor = {"co_partner": w.co_partner, "outsider": w.outsider, "officer": w.staff.jp}[who]
    with pytest.raises(PermissionDenied):
        report_open(project=w.project, stage=w.stage1, actor=actor)
    assert not StageReport.objects.exists()


def test_a_researcher_enters_only_their_own_organisations_lines(w):
    report = report_open(project=w.project, stage=w.stage1, actor=w.c.pi_jp)

    statement_lines_set(
        report=report,
        actor=w.co_partner,
        lines=[{"organisation": w.partner.pk, "category": "personnel", "spent": "1,000"}],
    )
    with pytest.raises(PermissionDenied):
        statement_lines_set(
            report=report,
            actor=w.co_partner,
            lines=[{"organisation": w.c.jp.pk, "category": "personnel", "spent": 1}],
        )

    assert list(StatementLine.objects.values_list("organisation", "spent", "currency")) == [
        (w.partner.pk, 1000, "JPY")
    ]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"category": "personnel", "spent": "1.5"}, "lines.0.spent"),
        ({"category": "personnel", "spent": -1}, "lines.0.spent"),
        ({"category": "yachts", "spent": 1}, "lines.0.category"),
    ],
)
def test_bad_lines_answer_field_errors(w, line, field):
    report = report_open(project=w.project, stage=w.stage1, actor=w.c.pi_jp)
    with pytest.raises(ValidationFailed) as caught:
        statement_lines_set(
            report=report, actor=w.c.pi_jp, lines=[{"organisation": w.c.jp.pk, **line}]
        )
    assert field in caught.value.errors
    assert not StatementLine.objects.exists()


def test_a_line_for_an_organisation_outside_the_consortium_is_refused(w):
    report = report_open(project=w.project, stage=w.stage1, actor=w.c.pi_jp)
    with pytest.raises(ValidationFailed) as caught:
        statement_lines_set(
            report=report,
            actor=w.c.pi_jp,
            lines=[
                {
                    "organisation": w.outsider.memberships.get().organisation_id,
                    "category": "travel",
                    "spent": 1,
                }
            ],
        )
    assert "lines.0.organisation" in caught.value.errors


def test_submit_needs_a_narrative_and_every_budgeted_line(w):
    report = report_open(project=w.project, stage=w.stage1, actor=w.c.pi_jp)
    statement_lines_set(report=report, actor=w.c.pi_jp, lines=full_lines(w)[:2])

    with pytest.raises(ValidationFailed) as caught:
        report_submit(report=report, actor=w.c.pi_jp)

    assert set(caught.value.errors) == {"narrative_en", "lines"}
    assert len(caught.value.errors["lines"]) == 4
    report.refresh_from_db()
    assert report.state == ReportState.DRAFT


def test_submit_accept_and_return_move_the_report_through_the_workflow(w):
    report = filled_report(w)

    report = report_submit(report=report, actor=w.c.pi_jp)
    assert report.state == ReportState.SUBMITTED
    assert Notification.objects.filter(user=w.staff.kr, message="report.submitted").exists()
    # A submitted statement is what the officers judge: closed to changes.
    with pytest.raises(Conflict):
        statement_lines_set(report=report, actor=w.c.pi_jp, lines=full_lines(w)[:1])
    with pytest.raises(PermissionDenied):
        report_accept(report=report, actor=w.c.pi_jp)
    with pytest.raises(ValidationFailed):
        report_return(report=report, actor=w.staff.jp, reason=" ")

    report = report_return(report=report, actor=w.staff.jp, reason="Equipment is under-spent.")
    assert (report.state, report.return_reason) == (
        ReportState.RETURNED,
        "Equipment is under-spent.",
    )
    assert Notification.objects.filter(user=w.c.pi_kr, message="report.returned").exists()
    statement_lines_set(
        report=report,
        actor=w.c.pi_kr,
        lines=[{"organisation": w.c.kr.pk, "category": "equipment", "spent": 50_000_000}],
    )
    report = report_submit(report=report, actor=w.c.pi_kr)
    report = report_accept(report=report, actor=w.staff.kr)
    assert report.state == ReportState.ACCEPTED
    with pytest.raises(Conflict):
        report_accept(report=report, actor=w.staff.jp)

    actions = list(
        AuditEvent.objects.filter(object_id=str(report.pk), action__startswith="report.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "report.created",
        "report.statement_updated",
        "report.submitted",
        "report.returned",
        "report.statement_updated",
        "report.submitted",
        "report.accepted",
    ]
    returned = AuditEvent.objects.get(action="report.returned", object_id=str(report.pk))
    with override("ja"):
        assert "Equipment is under-spent." in audit_sentence(returned)


def test_a_stale_narrative_save_answers_409_and_changes_nothing(w):
    report = report_open(project=w.project, stage=w.stage1, actor=w.c.pi_jp)
    report_update(report=report, actor=w.c.pi_jp, narrative={"ja": "第一版"}, expected_version=1)

    with pytest.raises(Conflict):
        report_update(report=report, actor=w.c.pi_kr, narrative={"ja": "古い"}, expected_version=1)

    report.refresh_from_db()
    assert (report.narrative_ja, report.version) == ("第一版", 2)


def test_the_database_refuses_lines_of_a_submitted_report(w):
    report = report_submit(report=filled_report(w), actor=w.c.pi_jp)
    line = StatementLine.objects.filter(report=report).first()
    assert line is not None
    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        StatementLine.objects.filter(pk=line.pk).update(spent=1)
    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        StageReport.objects.filter(pk=report.pk).update(state=ReportState.DRAFT)
