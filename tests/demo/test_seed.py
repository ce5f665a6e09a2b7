"""``manage.py seed_demo`` (§20): complete, valid, audited and idempotent."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse

from fundapp.accounts.models import Membership, Organisation, User
from fundapp.audit.models import AuditEvent
from fundapp.audit.services import verify_chain
from fundapp.demo import DEMO_LOGINS, DEMO_PASSWORD
from fundapp.demo import seed as demo
from fundapp.ledger.models import Account, Entry, Transaction
from fundapp.ledger.selectors import account_balance
from fundapp.notifications.models import Notification, OutboxEvent
from fundapp.screening.models import ScreeningCase, ScreeningState
from ip_licensing.models import (
    BreachDecision,
    IPAsset,
    Licence,
    LicenceApproval,
    LicenceAsset,
    LicenceState,
    Obligation,
    RoyaltyAudit,
    RoyaltyPeriod,
    RoyaltyReport,
)
from ip_licensing.services.licences import tokyo_today
from mobility.models import Visit, VisitApplication, VisitAwardDecision, VisitPayment
from projects.models import (
    KPI,
    Attachment,
    AwardDecision,
    BudgetLine,
    Call,
    CallState,
    ConsortiumMember,
    DecisionState,
    Disbursement,
    DisbursementState,
    DuplicateFundingFlag,
    Endorsement,
    Fund,
    Gate,
    GateDecision,
    GateDecisionKind,
    GateEvaluation,
    GateOutcome,
    GateState,
    Measurement,
    MeasurementAttestation,
    MeasurementEvidence,
    Project,
    ProjectPerson,
    ProjectState,
    Proposal,
    ProposalKPI,
    ProposalPerson,
    ProposalStage,
    ProposalState,
    ProposalVersion,
    ResearchArea,
    Review,
    ReviewCriterion,
    ReviewerAssignment,
    ReviewScore,
    Stage,
    StageState,
    Tranche,
    TrancheState,
    VerifierAssignment,
)
from projects.models.proposals import PENDING_STATES
from projects.selectors.verification import verification_queue

pytestmark = pytest.mark.django_db

COUNTED = (
    Organisation,
    User,
    Membership,
    Fund,
    ResearchArea,
    Call,
    ReviewCriterion,
    Proposal,
    ConsortiumMember,
    ProposalPerson,
    ProposalStage,
    ProposalKPI,
    BudgetLine,
    Attachment,
    Endorsement,
    ProposalVersion,
    ReviewerAssignment,
    Review,
    ReviewScore,
    AwardDecision,
    DuplicateFundingFlag,
    ScreeningCase,
    Project,
    ProjectPerson,
    Stage,
    Gate,
    KPI,
    Measurement,
    GateEvaluation,
    GateDecision,
    Tranche,
    Disbursement,
    IPAsset,
    Licence,
    LicenceAsset,
    LicenceApproval,
    RoyaltyReport,
    VisitApplication,
    Visit,
    VisitPayment,
    Account,
    Transaction,
    Entry,
    Notification,
    AuditEvent,
)


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    # The demo password is hashed once per person and run; a fast hasher keeps the test short.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return tmp_path


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_seed_demo_twice_makes_everything_once_and_the_demo_logins_work(settings, media, client):
    settings.DEBUG = True

    first_output = seed()
    after_first = counts()
    files = sorted(media.rglob("*.pdf"))
    second_output = seed()

    assert counts() == after_first
    assert sorted(media.rglob("*.pdf")) == files
    assert re.search(r"organisations +9 new, 0 already there", first_output)
    assert re.search(r"organisations +0 new, 9 already there", second_output)
    assert not re.search(r" [1-9]\d* new, ", second_output)  # the second run made nothing
    assert re.search(r"IP assets +4 new, 0 already there", first_output)
    # Four licences in every end state, two exclusive ones with obligations, a sublicensable
    # one and its sublicence (§23), plus §23's second-project result and the licence of two
    # assets with its four quarterly reports.
    assert re.search(r"licences +7 new, 0 already there", first_output)
    assert re.search(r"obligations +3 new, 0 already there", first_output)
    assert re.search(r"sublicences +1 new, 0 already there", first_output)
    assert re.search(r"royalty reports +0 new, 3 already there", second_output)
    assert after_first["IPAsset"] == 4 + 1 and after_first["Licence"] == 8 + 1
    assert after_first["RoyaltyReport"] == 3 + 4
    # §24: on the edge-AI project, one amendment approved (a budget move between its two
    # Korean organisations) and one awaiting the Korean officer's approval.
    assert re.search(r"amendments +1 new, 0 already there", first_output)
    assert re.search(r"amendments +0 new, 1 already there", second_output)
    call_command("check_ledger", stdout=StringIO())  # raises CommandError on a breach

    # One duplicate-funding flag awaits an officer's resolution (§22): the chiplet work
    # submitted again by its Sapporo PI while the first project runs.
    [flag] = DuplicateFundingFlag.objects.all()
    assert flag.state == "open" and flag.raised_during == "submission"
    assert flag.proposal.title_en.startswith("Chiplet AI accelerators")
    assert flag.matched_project is not None
    assert flag.matched_project.title_en.startswith("Chiplet AI accelerator with")
    assert [i["kind"] for i in flag.identifiers] == ["erad"]
    assert re.search(r"duplicate-funding flags +1 new, 0 already there", first_output)

    # Every state reachable so far, made through the services.
    states = set(Proposal.objects.values_list("state", flat=True))
    assert {
        ProposalState.DRAFT,
        ProposalState.SUBMITTED,
        ProposalState.ELIGIBLE,
        ProposalState.INELIGIBLE,
        ProposalState.WITHDRAWN,
        ProposalState.UNDER_REVIEW,
        ProposalState.AWARDED,
        ProposalState.REJECTED,
    } <= states
    ineligible = Proposal.objects.get(state=ProposalState.INELIGIBLE)
    assert "Daejeon" in ineligible.eligibility_reasons[0]
    assert Proposal.objects.get(state=ProposalState.ELIGIBLE).eligibility_reasons == []
    for proposal in Proposal.objects.exclude(state=ProposalState.DRAFT):
        assert proposal.versions.count() == 1
        attachment = proposal.attachments.get(kind=Attachment.Kind.RESEARCH_PLAN)
        stored = (media / attachment.storage_name).read_bytes()
        assert stored.startswith(b"%PDF-") and stored.rstrip().endswith(b"%%EOF")

    # Three research calls: two open, the green one closed; and the open mobility call (§25).
    assert Call.objects.count() == 3 + 1
    assert Call.objects.filter(state=CallState.OPEN).count() == 2 + 1
    assert Call.objects.get(state=CallState.CLOSED).title_en.startswith("Green")
    for call in Call.objects.all():
        assert [c.weight for c in call.criteria.all()] == [
            Decimal("0.4"),
            Decimal("0.3"),
            Decimal("0.3"),
        ]
    qkd = ResearchArea.objects.get(code="quantum.communication.qkd")
    assert qkd.parent is not None
    assert qkd.parent.code == "quantum.communication" and qkd.sensitivity == "controlled"

    # The e-Rad rule holds for everybody.
    for user in User.objects.all():
        pending = ProposalPerson.objects.filter(user=user, proposal__state__in=PENDING_STATES)
        assert sum(p.effort_percent for p in pending) <= 100

    # The published logins, and the further demo people printed after them.
    assert "pi_sapporo" in first_output and "office_busan" in first_output
    for username in [p.username for p in demo.PEOPLE]:
        response = client.post(
            reverse("accounts:login"), {"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302, username
        assert client.session["_auth_user_id"] == str(User.objects.get(username=username).pk)
        client.logout()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.role == "admin"
    assert Membership.objects.get(user__username="office_tokyo").research_office

    report = verify_chain()
    assert report.ok, report


def test_seed_demo_funds_and_runs_projects_through_every_stage_state(settings, media, client):
    settings.DEBUG = False
    seed()

    # Both sides funded: pool and reserve, contributed once each.
    for side, to, amount, _officer in demo.CONTRIBUTIONS:
        reference = f"contribution:{demo.contribution_reference(side, to)}"
        assert Transaction.objects.get(reference=reference).entries.filter(amount=amount).exists()
    assert account_balance("fund:JP:reserve") < 300_000_000  # a bonus came from it

    # Reviewed and decided under the two-person rule.
    for review in Review.objects.select_related("assignment"):
        assert review.assignment.reviewer.username == "reviewer1"
    rejected = Proposal.objects.get(state=ProposalState.REJECTED)
    decision = AwardDecision.objects.get(proposal=rejected)
    assert decision.state == DecisionState.COMPLETED
    assert {decision.first_side, decision.second_side} == {"JP", "KR"}

    # The dual-use proposal waits for screening, its award approved once.
    waiting = Proposal.objects.get(state=ProposalState.UNDER_REVIEW)
    assert waiting.dual_use
    case = ScreeningCase.objects.get(subject_type="proposal", subject_id=waiting.pk)
    assert case.state == ScreeningState.OPEN
    pending = AwardDecision.objects.get(proposal=waiting)
    assert pending.state == DecisionState.PENDING and pending.first_side == "JP"

    # Projects: one per award, every stage state the demo promises.
    assert Project.objects.count() == Proposal.objects.filter(state="awarded").count() == 6
    stage_states = set(Stage.objects.values_list("state", flat=True))
    assert {
        StageState.ACTIVE,
        StageState.PASSED,
        StageState.CONDITIONAL,
        StageState.FAILED,
        StageState.GATE_PENDING,
        StageState.PLANNED,
    } <= stage_states
    fresh = Project.objects.get(proposal__title_en=demo.EDGE_AI.title_en)
    assert fresh.state == ProjectState.ACTIVE and fresh.current_stage is not None
    assert fresh.current_stage.number == 1
    assert fresh.current_stage.state == StageState.ACTIVE
    # Its stage-1 gate is due on the day the demo is seeded: "evaluate now" works at once.
    due_now = fresh.current_stage.gate
    assert due_now.state == GateState.PENDING and due_now.due_on <= tokyo_today()
    assert Gate.objects.filter(due_on__gt=tokyo_today(), state=GateState.PENDING).exists()
    terminated = Project.objects.get(state=ProjectState.TERMINATED)
    assert terminated.stages.get(number=1).state == StageState.FAILED

    passed = Stage.objects.get(state=StageState.PASSED)
    evaluation = passed.gate.evaluations.get()
    assert evaluation.outcome == GateOutcome.PASS
    assert evaluation.score is not None and evaluation.score > 1
    assert evaluation.as_of == passed.gate.due_on
    automatic = passed.gate.decisions.get()
    assert automatic.automatic and automatic.multiplier is not None
    assert automatic.multiplier > 1

    conditional = Stage.objects.get(state=StageState.CONDITIONAL)
    reduced = conditional.gate.decisions.get()
    assert reduced.kind == GateDecisionKind.RELEASE_REDUCED
    assert reduced.state == DecisionState.COMPLETED
    assert {reduced.first_side, reduced.second_side} == {"JP", "KR"}

    awaiting = Stage.objects.get(
        state=StageState.GATE_PENDING, project__proposal__title_en=demo.CHIPLET_DATACENTRE.title_en
    )
    assert awaiting.gate.state == GateState.EVALUATED
    assert awaiting.gate.evaluations.get().outcome == GateOutcome.FAIL
    first = awaiting.gate.decisions.get()
    assert first.state == DecisionState.PENDING and first.first_officer is not None
    assert first.first_officer.username == "officer_jp"

    # A PASS with every kind of anomaly flag (§22) awaits the officers' decision; its next
    # tranches stay planned.
    flagged = Stage.objects.get(project__proposal__title_en=demo.THERMAL_STORAGE.title_en, number=1)
    assert flagged.state == StageState.GATE_PENDING
    flagged_evaluation = flagged.gate.evaluations.get()
    assert flagged_evaluation.outcome == GateOutcome.PASS
    assert {f["kind"] for f in flagged_evaluation.anomaly_flags} == {
        "late_decisive",
        "at_target",
        "jump",
        "reentered_after_rejection",
        "shared_evidence",
    }
    assert not flagged.gate.decisions.exists()
    assert set(
        Tranche.objects.filter(project=flagged.project, stage__number=2).values_list(
            "state", flat=True
        )
    ) == {TrancheState.PLANNED}

    # Money: tranches released (with and without a bonus, and reduced), payments confirmed.
    released = Tranche.objects.filter(state=TrancheState.RELEASED)
    assert released.filter(from_reserve__gt=0).exists()
    assert released.filter(from_reserve=0, returned_to_pool=0).exists()
    assert released.filter(returned_to_pool__gt=0).exists()
    assert not Tranche.objects.filter(state=TrancheState.DECIDED).exists()
    paid = Disbursement.objects.filter(state=DisbursementState.PAID)
    assert paid.filter(confirmed_by__username="finance_jp").exists()
    assert Disbursement.objects.filter(state=DisbursementState.CANCELLED).exists()  # clawback
    assert Measurement.objects.filter(evidence_files__isnull=False).exists()

    # Evidence (§22): KPIs at every level, files of every kind with their hashes, and a
    # verifier with a verdict given and one awaiting.
    assert set(KPI.objects.values_list("evidence", flat=True)) == {"none", "document", "attested"}
    files = MeasurementEvidence.objects.all()
    assert {"application/pdf", "image/png", "text/csv; charset=utf-8"} <= set(
        files.values_list("content_type", flat=True)
    )
    for evidence in files:
        stored = (settings.PRIVATE_MEDIA_ROOT / evidence.storage).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == evidence.sha256
    verifier = User.objects.get(username="verifier_seoul")
    assert VerifierAssignment.objects.filter(verifier=verifier, revoked_at__isnull=True).exists()
    assert MeasurementAttestation.objects.filter(verifier=verifier, verdict="attested").exists()
    assert verification_queue(verifier).filter(evidence_files__isnull=False).exists()
    documented = KPI.objects.filter(evidence="attested", measurements__isnull=False).distinct()
    assert documented.exists()

    # IP: results of the projects (one owner each) and background IP; licences in every
    # end state, approved by two officers of different sides; royalties with a correction.
    assert IPAsset.objects.filter(is_background=True).count() == 1
    assert IPAsset.objects.filter(project__isnull=False).count() == 3 + 1  # + §23's
    licences = {licence.state: licence for licence in Licence.objects.all()}
    assert set(licences) == {
        LicenceState.ACTIVE,
        LicenceState.PENDING,
        LicenceState.EXPIRED,
        LicenceState.TERMINATED,
    }
    for licence in licences.values():
        assert licence.currency == {"JP": "JPY", "KR": "KRW"}[licence.licensor.country]
    active = licences[LicenceState.ACTIVE]
    assert active.fields_of_use == ["semiconductor.ai"]
    assert active.exclusivity == "non_exclusive" and active.upfront_posted
    assert active.licensor.country == "JP" and active.licensee.kind == "company"
    pending_licence = licences[LicenceState.PENDING]
    assert pending_licence.licensor_accepted_at and pending_licence.licensee_accepted_at
    assert LicenceApproval.objects.get(licence=pending_licence).state == "pending"
    assert pending_licence.approved_at is None
    assert licences[LicenceState.TERMINATED].end_reason
    assert licences[LicenceState.EXPIRED].end_on <= demo.tokyo_today()  # job ran for tomorrow
    # Diligence (§23): an exclusive licence with an obligation overdue in its cure period,
    # and one whose obligation was breached and which the officers converted.
    in_cure = Obligation.objects.get(state="overdue")
    assert in_cure.licence.exclusivity == "exclusive"
    assert in_cure.overdue_on is not None and in_cure.cure_ends_on is not None
    assert in_cure.overdue_on <= demo.tokyo_today() <= in_cure.cure_ends_on
    assert Obligation.objects.filter(licence=in_cure.licence, state="met").exists()
    breached_one = Obligation.objects.get(state="breached")
    converted = breached_one.licence
    assert converted.exclusivity == "non_exclusive" and converted.exclusivity_lost_on
    assert BreachDecision.objects.get(licence=converted).state == "completed"
    original, correction = RoyaltyReport.objects.filter(licence=active).order_by("pk")
    assert original.quarter == correction.quarter == demo.previous_quarter(demo.tokyo_today())
    assert correction.supersedes == original
    assert correction.posted_amount == correction.royalty_due - original.royalty_due > 0
    assert original.ledger_transaction and correction.ledger_transaction

    # §23: a consented sublicence under the sublicensable licence, and its income reported
    # with the parent's royalty report (the parent's share split like royalties).
    [sublicence] = Licence.objects.filter(parent__isnull=False).select_related("parent")
    parent = sublicence.parent
    assert parent is not None and parent.sublicensable and parent.sublicence_share_bp == 3000
    assert sublicence.state == LicenceState.ACTIVE
    assert sublicence.licensor_id == parent.licensee_id
    assert sublicence.consent.state == "consented"
    assert set(sublicence.territories) <= set(parent.territories)
    assert parent.start_on <= sublicence.start_on <= sublicence.end_on <= parent.end_on
    [with_income] = RoyaltyReport.objects.filter(licence=parent)
    assert with_income.sublicence_income == 2_000_000 and with_income.sublicence_due == 600_000
    assert with_income.posted_amount == with_income.royalty_due + 600_000
    # §23: a licence of two assets from two projects, shares 60/40; a quarter overdue, the
    # latest report flagged, and a closed royalty audit whose finding posted a correction.
    two = Licence.objects.annotate(n=Count("licence_assets")).get(n=2)
    links = list(two.licence_assets.select_related("asset").order_by("asset_id"))
    assert sorted(link.share_bp for link in links) == [4000, 6000]
    assert len({link.asset.project_id for link in links}) == 2
    assert RoyaltyPeriod.objects.filter(licence=two, state="overdue").exists()
    assert RoyaltyReport.objects.filter(licence=two, flagged=True).count() == 1
    audit = RoyaltyAudit.objects.get(licence=two)
    assert audit.state == "closed" and audit.finding_amount and audit.finding_interest
    assert audit.ledger_transaction is not None
    assert audit.ledger_transaction.reference == f"royalty-audit:{audit.pk}"

    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "consistent" in out.getvalue()

    # Nobody over 100% across active projects and pending proposals.
    for user in User.objects.all():
        pending_effort = ProposalPerson.objects.filter(
            user=user, proposal__state__in=PENDING_STATES
        ).values_list("effort_percent", flat=True)
        active_effort = ProjectPerson.objects.filter(
            user=user, project__state=ProjectState.ACTIVE
        ).values_list("effort_percent", flat=True)
        assert sum(pending_effort) + sum(active_effort) <= 100, user.username

    assert verify_chain().ok

    # "Evaluate now" on the gate due today, as the JP officer would in the browser.
    client.force_login(User.objects.get(username="officer_jp"))
    answer = client.post(f"/api/v1/gates/{due_now.pk}/evaluate/")
    assert answer.status_code == 200, answer.content
    assert answer.json()["state"] == GateState.EVALUATED
    assert answer.json()["latest_evaluation"]["outcome"] == GateOutcome.FAIL  # nothing reported


def test_without_debug_the_demo_people_cannot_sign_in_until_asked(settings, media):
    settings.DEBUG = False

    output = seed()

    assert "no usable password" in output
    assert not any(u.has_usable_password() for u in User.objects.all())

    events = AuditEvent.objects.count()
    output = seed("--with-logins")

    assert all(
        User.objects.get(username=username).check_password(DEMO_PASSWORD)
        for username, _who in DEMO_LOGINS
    )
    assert AuditEvent.objects.count() == events + len(demo.PEOPLE)
    assert "Demo logins" in output

    seed()  # DEBUG still off: the published password stops working again
    assert not any(u.has_usable_password() for u in User.objects.all())
    assert verify_chain().ok


@pytest.mark.usefixtures("loopback_webhooks")
def test_seed_demo_subscribes_the_tokyo_office_to_the_demo_receiver(settings, media, tmp_path):
    from fundapp.notifications.webhooks.models import WebhookDelivery, WebhookSubscription
    from fundapp.notifications.webhooks.services import active_secrets, webhooks_fan_out

    settings.DEMO_WEBHOOK_URL = "http://127.0.0.1:8099/webhooks"
    settings.DEMO_WEBHOOK_SECRET_FILE = tmp_path / "var" / "demo-webhook-secret"

    output = seed()

    sub = WebhookSubscription.objects.get(url=settings.DEMO_WEBHOOK_URL)
    office = User.objects.get(username="office_tokyo")
    assert sub.organisation.code == "JP-TKY-01" and sub.event_types == [] and sub.active
    assert sub.created_by == office
    secret = settings.DEMO_WEBHOOK_SECRET_FILE.read_text().strip()
    assert secret.startswith("whsec_")
    assert active_secrets(sub.pk, at=sub.created_at) == [secret]
    assert AuditEvent.objects.filter(
        action="webhook_subscription.created", object_id=str(sub.pk), actor_user=office
    ).exists()
    assert "Demo webhook: http://127.0.0.1:8099/webhooks" in output
    # The demo's own stories happened after it: the receiver has deliveries waiting.
    webhooks_fan_out()
    assert WebhookDelivery.objects.filter(subscription=sub).count() > 0

    settings.DEMO_WEBHOOK_SECRET_FILE.unlink()
    seed()
    assert WebhookSubscription.objects.filter(url=settings.DEMO_WEBHOOK_URL).count() == 1
    assert settings.DEMO_WEBHOOK_SECRET_FILE.read_text().strip() == secret


def test_seed_demo_makes_no_loopback_subscription_where_loopback_is_refused(
    settings, media, tmp_path
):
    from fundapp.notifications.webhooks.models import WebhookSubscription

    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    settings.DEMO_WEBHOOK_SECRET_FILE = tmp_path / "demo-webhook-secret"
    output = seed()
    assert not WebhookSubscription.objects.exists()
    assert not settings.DEMO_WEBHOOK_SECRET_FILE.exists()
    assert "Demo webhook receiver: not subscribed" in output


def test_seed_demo_has_a_deliverable_awaiting_acceptance_that_holds_its_gate(settings, media):
    from fundapp.errors import Conflict
    from projects.models import Deliverable, DeliverableState
    from projects.services.decisions import gate_decision_approve
    from projects.services.deliverables import deliverable_accept
    from projects.services.gates import gate_evaluate

    settings.DEBUG = False
    seed()
    seed()  # idempotent: submitted once

    awaiting = Deliverable.objects.select_related("stage__gate").get(
        title_en=demo.DELIVERABLE_AWAITING
    )
    assert awaiting.state == DeliverableState.SUBMITTED and awaiting.mandatory
    assert awaiting.submissions == 1 and awaiting.files.count() == 1
    gate = awaiting.stage.gate
    assert gate.state == GateState.PENDING and gate.due_on <= tokyo_today()
    officer_jp = User.objects.get(username="officer_jp")
    officer_kr = User.objects.get(username="officer_kr")

    # Evaluated now, the gate waits for the officers, and a release is refused.
    gate_evaluate(gate=gate, actor=officer_jp)
    gate.refresh_from_db()
    assert gate.state == GateState.EVALUATED
    with pytest.raises(Conflict) as refused:
        gate_decision_approve(gate=gate, actor=officer_jp, kind="release_reduced")
    assert refused.value.code == "deliverables_not_accepted"

    deliverable_accept(deliverable=awaiting, actor=officer_kr)
    # Whatever the outcome, a releasing decision is no longer held by the deliverable.
    pending = gate_decision_approve(
        gate=gate,
        actor=officer_jp,
        kind="release_reduced",
        justification="The report is accepted; release at the reduced rate.",
    )
    assert pending.kind == "release_reduced" and pending.first_officer_id == officer_jp.pk


def test_seed_demo_has_an_approved_and_a_pending_amendment(settings, media):
    from projects.models import Amendment, AmendmentDecision, Project, ProjectOrganisation

    settings.DEBUG = False
    seed()
    seed()  # idempotent: proposed once

    project = Project.objects.get(proposal__title_en__startswith="Ultra-low-power edge AI")
    approved, pending = Amendment.objects.filter(project=project).order_by("pk")
    assert (approved.state, approved.plan_version) == ("approved", 2)
    assert project.plan_version == 2
    assert [(d["subject"], d["before"], d["after"]) for d in approved.diff] == [
        (f"{org.pk}:equipment", before, after)
        for org, before, after in (
            (Organisation.objects.get(code="KR-DJN-01"), 400_000_000, 300_000_000),
            (Organisation.objects.get(code="KR-PGY-01"), 0, 100_000_000),
        )
    ]
    budgets = dict(
        ProjectOrganisation.objects.filter(project=project, side="KR").values_list(
            "organisation__code", "budget"
        )
    )
    assert budgets == {"KR-DJN-01": 950_000_000, "KR-PGY-01": 850_000_000}
    assert pending.state == "proposed" and pending.base_version == 2
    [decision] = AmendmentDecision.objects.filter(amendment=pending)
    assert (decision.state, decision.first_side, decision.needed_side) == ("pending", "JP", "KR")


def test_seed_demo_has_an_overdue_report_and_a_report_with_a_spending_statement(settings, media):
    from projects.models import ReportReminder, ReportState, StageReport
    from projects.selectors.reports import report_due_on, statement
    from tests.outbox import events_of

    settings.DEBUG = True
    seed()
    seed()

    overdue = StageReport.objects.get(project__proposal__title_en=demo.EDGE_AI.title_en)
    assert overdue.state == ReportState.DRAFT
    assert report_due_on(overdue.stage.gate.due_on) < tokyo_today()
    assert ReportReminder.objects.filter(stage=overdue.stage, kind="overdue").count() == 1
    # Sent once for it (the demo's other projects may have overdue reports of their own).
    assert len(events_of("report.overdue", overdue.stage)) == 1

    spending = StageReport.objects.get(project__proposal__title_en=demo.HYDROGEN_TANKS.title_en)
    assert spending.state == ReportState.SUBMITTED
    found = statement(spending)
    rows = found.rows()
    assert rows and all(row.spent > 0 for row in rows if row.released)
    assert all(row.spent <= row.released for row in rows)
    for side in found.sides:
        assert side.released == sum(
            o.totals.released
            for o in found.organisations
            if o.totals and o.currency == side.currency
        )


@pytest.mark.django_db
def test_seed_demo_has_visits_of_the_talent_exchange_at_each_point(settings, media):
    """§25, §20: a KR→JP visit in progress with two stipends paid, a US→KR application
    waiting for screening, a JP→US visit awarded and a closed JP→KR visit with its report."""
    from fundapp.demo.mobility import CALL_TITLE
    from fundapp.ledger.selectors import ledger_verify

    seed()
    call = Call.objects.get(title_en=CALL_TITLE)
    assert call.kind == "mobility" and call.state == CallState.OPEN

    def route(home: str, host: str) -> VisitApplication:
        return VisitApplication.objects.get(
            call=call, home_organisation__country=home, host_organisation__country=host
        )

    active = route("KR", "JP").visit
    assert (active.state, active.paying_side, active.payee.code) == ("active", "JP", "JP-TKY-01")
    assert sorted(VisitPayment.objects.filter(visit=active).values_list("kind", "month")) == [
        ("stipend", 1),
        ("stipend", 2),
        ("travel", 0),
    ]
    waiting = route("US", "KR")
    assert waiting.state == "endorsed"
    assert ScreeningCase.objects.filter(
        subject_type="visit_application", subject_id=waiting.pk, state=ScreeningState.OPEN
    ).exists()
    awarded = route("JP", "US").visit
    assert (awarded.state, awarded.paying_side, awarded.payee.code) == (
        "awarded",
        "JP",
        "JP-SPR-01",
    )
    closed = route("JP", "KR").visit
    assert closed.state == "closed" and closed.report_en
    assert ledger_verify().breaches == []

    # Every visit was awarded through the award service: two officers of different sides
    # completed the decision, and the award left its commitment, audit event and outbox row.
    for visit in (active, awarded, closed):
        [decision] = VisitAwardDecision.objects.filter(application=visit.application)
        assert (decision.state, decision.outcome) == (DecisionState.COMPLETED, "award")
        assert {decision.first_side, decision.second_side} == {"JP", "KR"}
        first, second = decision.first_officer, decision.second_officer
        assert second is not None and first.pk != second.pk
        assert first.role == second.role == "fund_officer"
        assert Transaction.objects.filter(reference=f"visit:{visit.pk}:commitment").exists()
        assert AuditEvent.objects.filter(action="visit.awarded", object_id=str(visit.pk)).exists()
        assert OutboxEvent.objects.filter(kind="visit.awarded", object_id=str(visit.pk)).exists()
        assert visit.application.assignments.filter(state="submitted").exists()
    assert not VisitAwardDecision.objects.filter(application=waiting).exists()
    call_command("check_ledger", stdout=StringIO())  # raises CommandError on a breach


def test_seed_demo_gives_the_exchange_s_office_and_reviewer_something_to_see(settings, media):
    """§25, §6, §20: an application waiting for the Tokyo office's endorsement, and one
    under review with the demo reviewer asked to declare their conflicts."""
    from fundapp.demo.mobility import CALL_TITLE
    from fundapp.demo.mobility_reviews import AWAITING_ENDORSEMENT, UNDER_REVIEW
    from mobility.models import VisitReviewerAssignment

    seed()
    call = Call.objects.get(title_en=CALL_TITLE)
    waiting = VisitApplication.objects.get(call=call, title_en=AWAITING_ENDORSEMENT)
    assert waiting.state == "submitted" and waiting.host_organisation.code == "JP-TKY-01"
    assert waiting.host_organisation.memberships.filter(
        user__username="office_tokyo", research_office=True
    ).exists()
    reviewed = VisitApplication.objects.get(call=call, title_en=UNDER_REVIEW)
    assert reviewed.state == "under_review"
    assignment = VisitReviewerAssignment.objects.get(application=reviewed)
    assert assignment.reviewer.username == "reviewer1"
    assert assignment.state == "awaiting_declaration"
    assert ScreeningCase.objects.filter(
        subject_type="visit_application", subject_id=reviewed.pk, state=ScreeningState.OPEN
    ).exists()
