"""Deliverables (§24): frozen at award, submitted, accepted or sent back, and holding the
gate of their stage until every mandatory one is accepted."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, UnsupportedMediaType, ValidationFailed
from fundapp.notifications.messages import notifications_render
from fundapp.notifications.models import Notification, OutboxEvent
from projects.models import (
    Deliverable,
    DeliverableFile,
    DeliverableState,
    GateState,
    StageState,
    TrancheState,
)
from projects.services.decisions import gate_decision_approve
from projects.services.deliverables import (
    deliverable_accept,
    deliverable_request_changes,
    deliverable_submit,
)
from tests.factories import UserFactory
from tests.factories.engine import (
    award,
    deliverable,
    engine_proposal,
    evaluate,
    fund_pools,
    gate_of,
    make_staff,
    record_evaluation,
    stage,
    tranche,
)
from tests.factories.proposals import MINIMAL_PDF

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

START = date(2026, 4, 1)
HOLD = "projects.deliverables_accepted"


def report(name: str = "report.pdf", content: bytes = MINIMAL_PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def world(staff):
    fund_pools(staff)
    proposal, c = engine_proposal(
        deliverables={
            1: [
                deliverable("Test-chip report", due_month=6),
                deliverable("Benchmark dataset", kind="dataset", mandatory=False),
            ],
            2: [deliverable("Prototype", kind="prototype")],
        }
    )
    return award(proposal, staff, started_on=START), c


def only(project, title: str) -> Deliverable:
    return Deliverable.objects.get(project=project, title_en=title)


def test_the_stage_plans_deliverables_are_frozen_at_award_with_their_due_dates(world):
    project, _c = world
    rows = list(Deliverable.objects.filter(project=project).order_by("stage__number", "id"))
    assert [(d.stage.number, d.title_en, d.kind, d.mandatory) for d in rows] == [
        (1, "Test-chip report", "report", True),
        (1, "Benchmark dataset", "dataset", False),
        (2, "Prototype", "prototype", True),
    ]
    # Six months into stage 1; the others by default at their stage's end (its gate day).
    assert rows[0].due_on == date(2026, 10, 1)
    assert rows[1].due_on == gate_of(project, 1).due_on
    assert rows[2].due_on == gate_of(project, 2).due_on
    assert rows[0].title_ja == "テストチップ報告書" and rows[0].title_ko == "테스트 칩 보고서"
    assert {d.state for d in rows} == {DeliverableState.PENDING}


def test_a_due_month_beyond_the_stage_is_refused_on_the_field():
    from projects.services import proposals as proposal_svc
    from tests.factories.proposals import complete_changes, kpi, make_consortium

    c = make_consortium()
    changes = complete_changes(c)
    changes["stages"][0]["kpis"] = [kpi("K1")]
    changes["stages"][0]["deliverables"] = [deliverable(due_month=99), {"kind": "nonsense"}]
    proposal = proposal_svc.proposal_create(actor=c.pi_jp, call=c.call)
    with pytest.raises(ValidationFailed) as refused:
        proposal_svc.proposal_update(
            proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=changes
        )
    errors = refused.value.errors
    assert "stages.0.deliverables.0.due_month" in errors
    assert "stages.0.deliverables.1.kind" in errors
    assert "stages.0.deliverables.1.title_en" in errors


def test_submit_then_accept_audits_emits_and_notifies(world, staff):
    project, c = world
    target = only(project, "Test-chip report")

    submitted = deliverable_submit(
        deliverable=target, actor=c.pi_jp, note="Shuttle run 1", files=[report()]
    )

    assert submitted.state == DeliverableState.SUBMITTED and submitted.submissions == 1
    stored = DeliverableFile.objects.get(deliverable=target)
    assert stored.sha256 == hashlib.sha256(MINIMAL_PDF).hexdigest()
    assert stored.content_type == "application/pdf" and stored.submission == 1
    event = AuditEvent.objects.get(action="deliverable.submitted", object_id=str(target.pk))
    assert event.before is not None and event.after is not None
    assert event.before["state"] == "pending" and event.after["state"] == "submitted"
    assert event.after["files"] == [
        {"name": "report.pdf", "size": len(MINIMAL_PDF), "sha256": stored.sha256}
    ]
    outbox = OutboxEvent.objects.get(kind="deliverable.submitted")
    assert outbox.payload["id"] == target.pk and outbox.payload["state"] == "submitted"
    assert outbox.payload["files"][0]["sha256"] == stored.sha256
    told = Notification.objects.filter(message="deliverable.submitted")
    assert {n.user_id for n in told} >= {staff.jp.pk, staff.kr.pk}
    shown = notifications_render([told.get(user=staff.jp)], language="ja")[0]
    assert "テストチップ報告書" in shown.shown_title

    accepted = deliverable_accept(deliverable=target, actor=staff.kr)

    assert accepted.state == DeliverableState.ACCEPTED and accepted.decided_by_id == staff.kr.pk
    assert AuditEvent.objects.filter(action="deliverable.accepted").count() == 1
    assert OutboxEvent.objects.filter(kind="deliverable.accepted").count() == 1
    assert Notification.objects.filter(message="deliverable.accepted", user=c.pi_jp).exists()


def test_changes_requested_need_a_reason_and_the_consortium_submits_again(world, staff):
    project, c = world
    target = only(project, "Test-chip report")
    deliverable_submit(deliverable=target, actor=c.pi_kr, files=[report()])

    with pytest.raises(ValidationFailed) as refused:
        deliverable_request_changes(deliverable=target, actor=staff.jp, reason=" ")
    assert "reason" in refused.value.errors

    back = deliverable_request_changes(
        deliverable=target, actor=staff.jp, reason="Add the bench logs."
    )
    assert back.state == DeliverableState.CHANGES_REQUESTED and back.reason == "Add the bench logs."
    assert OutboxEvent.objects.filter(kind="deliverable.changes_requested").count() == 1
    told = Notification.objects.get(message="deliverable.changes_requested", user=c.pi_kr)
    assert told.params["reason"] == "Add the bench logs."

    again = deliverable_submit(
        deliverable=target, actor=c.pi_kr, files=[report("logs.csv", b"run,value\n1,2\n")]
    )
    assert again.state == DeliverableState.SUBMITTED and again.submissions == 2
    assert list(
        DeliverableFile.objects.filter(deliverable=target).values_list("submission", "name")
    ) == [(2, "logs.csv"), (1, "report.pdf")]


def test_the_workflow_refuses_moves_off_its_table(world, staff):
    project, c = world
    target = only(project, "Test-chip report")
    with pytest.raises(Conflict):
        deliverable_accept(deliverable=target, actor=staff.jp)
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    with pytest.raises(Conflict):
        deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    deliverable_accept(deliverable=target, actor=staff.jp)
    with pytest.raises(Conflict):
        deliverable_request_changes(deliverable=target, actor=staff.jp, reason="Too late")


def test_who_may_submit_and_decide(world, staff):
    project, c = world
    target = only(project, "Test-chip report")
    outsider = UserFactory.create()
    for actor in (outsider, c.office_jp, staff.jp, staff.finance_jp):
        with pytest.raises(PermissionDenied):
            deliverable_submit(deliverable=target, actor=actor, files=[report()])
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    for actor in (c.pi_jp, c.office_kr, staff.finance_kr, outsider):
        with pytest.raises(PermissionDenied):
            deliverable_accept(deliverable=target, actor=actor)
    assert Deliverable.objects.get(pk=target.pk).state == DeliverableState.SUBMITTED


def test_files_are_checked_by_content_and_a_refusal_leaves_nothing(world, settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path)
    project, c = world
    target = only(project, "Test-chip report")
    with pytest.raises(UnsupportedMediaType):
        deliverable_submit(
            deliverable=target, actor=c.pi_jp, files=[report("x.pdf", b"\x00\x01binary\x02")]
        )
    with pytest.raises(ValidationFailed) as refused:
        deliverable_submit(deliverable=target, actor=c.pi_jp, files=[])
    assert "files" in refused.value.errors
    assert not DeliverableFile.objects.exists()
    assert not list(tmp_path.rglob("*.*"))


def test_a_planned_stages_deliverable_waits_for_its_stage(world):
    project, c = world
    with pytest.raises(Conflict) as refused:
        deliverable_submit(deliverable=only(project, "Prototype"), actor=c.pi_jp, files=[report()])
    assert refused.value.code == "stage_not_started"


# --------------------------------------------------------------------------- the gate


def test_a_gate_with_an_unaccepted_mandatory_deliverable_cannot_be_decided(world, staff):
    project, c = world
    gate = gate_of(project, 1)
    # A PASS waits for the officers instead of releasing automatically, and says why.
    assert evaluate(gate, outcome="pass", score="1.1000") is None
    gate.refresh_from_db()
    assert gate.state == GateState.EVALUATED
    assert stage(project, 1).state == StageState.GATE_PENDING
    assert tranche(project, 2, "JP").state == TrancheState.PLANNED
    told = Notification.objects.filter(message="gate.decision_needed", user=staff.jp).latest("id")
    assert told.params["reason"] == HOLD
    assert "mandatory deliverable" in notifications_render([told], language="en")[0].shown_body

    with pytest.raises(Conflict) as refused:
        gate_decision_approve(gate=gate, actor=staff.jp, kind="release")
    assert refused.value.code == "deliverables_not_accepted"
    assert "“Test-chip report”" in str(refused.value.message)
    # The optional one does not hold it.
    assert "Benchmark dataset" not in str(refused.value.message)

    # Once it is accepted the decision goes through (two officers, one of each side).
    target = only(project, "Test-chip report")
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    with pytest.raises(Conflict):
        gate_decision_approve(gate=gate, actor=staff.jp, kind="release")
    deliverable_accept(deliverable=target, actor=staff.kr)
    gate_decision_approve(gate=gate, actor=staff.jp, kind="release")
    gate_decision_approve(gate=gate, actor=staff.kr, kind="release")
    gate.refresh_from_db()
    assert gate.state == GateState.DECIDED
    assert stage(project, 1).state == StageState.PASSED


def test_extending_or_terminating_is_not_held(world, staff):
    project, _c = world
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="fail", score="0.2000")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="extend", extension_months=3)
    gate_decision_approve(gate=gate, actor=staff.kr, kind="extend", extension_months=3)
    gate.refresh_from_db()
    assert gate.state == GateState.PENDING and gate.round == 2


def test_an_accepted_deliverable_lets_the_pass_release_automatically(world, staff):
    project, c = world
    target = only(project, "Test-chip report")
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    deliverable_accept(deliverable=target, actor=staff.jp)

    decision = evaluate(gate_of(project, 1), outcome="pass", score="1.0000")

    assert decision is not None and decision.automatic
    assert stage(project, 1).state == StageState.PASSED


@pytest.mark.usefixtures("loopback_webhooks")
def test_the_events_reach_the_projects_organisations_webhooks_only(world, staff):
    from fundapp.notifications.webhooks.models import WebhookDelivery
    from fundapp.notifications.webhooks.services import webhooks_fan_out
    from tests.factories import jp_org
    from tests.factories.webhooks import subscription
    from tests.outbox import the_event

    project, c = world
    own = subscription(c.jp)
    other = subscription(jp_org())
    target = only(project, "Test-chip report")
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    deliverable_request_changes(deliverable=target, actor=staff.jp, reason="Add the logs.")
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    deliverable_accept(deliverable=target, actor=staff.kr)
    organisations = list(project.organisations.values_list("organisation_id", flat=True))
    accepted = the_event("deliverable.accepted", target, organisations=organisations)
    assert accepted["state"] == "accepted" and accepted["submissions"] == 2
    changes = the_event("deliverable.changes_requested", target, organisations=organisations)
    assert changes["reason"] == "Add the logs."

    webhooks_fan_out()

    delivered = set(
        WebhookDelivery.objects.filter(subscription=own).values_list("event__kind", flat=True)
    )
    assert {k for k in delivered if k.startswith("deliverable.")} == {
        "deliverable.submitted",
        "deliverable.changes_requested",
        "deliverable.accepted",
    }
    assert not WebhookDelivery.objects.filter(subscription=other).exists()


def test_history_sentences_read_in_three_languages(world, staff):
    from django.utils import translation

    from fundapp.accounts.templatetags.fund_format import audit_sentence

    project, c = world
    target = only(project, "Test-chip report")
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[report()])
    deliverable_request_changes(deliverable=target, actor=staff.jp, reason="Add the logs.")
    events = list(
        AuditEvent.objects.filter(
            object_id=str(target.pk), action__startswith="deliverable."
        ).order_by("id")
    )
    with translation.override("en"):
        english = [audit_sentence(e) for e in events]
    assert "submitted the deliverable" in english[0]
    assert "requested changes to the deliverable" in english[1] and "Add the logs." in english[1]
    for language in ("ja", "ko"):
        with translation.override(language):
            sentences = [audit_sentence(e) for e in events]
        assert all(s != e for s, e in zip(sentences, english, strict=True)), sentences


def test_the_batch_evaluation_holds_the_gate_for_the_officers_too(world, staff):
    from django.db import transaction

    from projects.models import Gate, Project, Stage
    from projects.services.decisions import Evaluated, gates_decide_automatically

    project, _c = world
    gate = gate_of(project, 1)
    evaluation = record_evaluation(gate, outcome="pass", score="1.2000")
    with transaction.atomic():
        item = Evaluated(
            evaluation=evaluation,
            gate=Gate.objects.select_for_update().get(pk=gate.pk),
            project=Project.objects.select_related("call").get(pk=project.pk),
            stage=Stage.objects.get(pk=gate.stage_id),
            last=False,
        )
        assert gates_decide_automatically([item]) == {}
    told = Notification.objects.filter(message="gate.decision_needed", user=staff.kr).latest("id")
    assert told.params["reason"] == HOLD
    assert tranche(project, 2, "JP").state == TrancheState.PLANNED
