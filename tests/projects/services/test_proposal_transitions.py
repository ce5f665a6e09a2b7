"""§5 states: submit freezes a version and ends editing; withdraw from draft, submitted and
eligible; both lead research offices endorse (idempotently) before the fund sees it; the
deadline makes the unendorsed ineligible; every transition is one audit event; a stale save
is a 409 that loses nothing."""

from datetime import timedelta

import pytest

from fundapp.audit.models import AuditEvent
from fundapp.audit.services import verify_chain
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.notifications.messages import notifications_render
from fundapp.notifications.models import Notification
from fundapp.notifications.services import recipient_language
from projects.models import Attachment, Endorsement, Proposal, ProposalState, ProposalVersion
from projects.services import proposals as svc
from tests.factories.proposals import complete_proposal, pdf_upload, submitted_proposal
from tests.outbox import the_event

from .refusals import refused, save, stored_files, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def events(proposal, action=None):
    qs = AuditEvent.objects.filter(object_type="projects.proposal", object_id=str(proposal.pk))
    if action:
        qs = qs.filter(action=action)
    return list(qs.order_by("id"))


def eligible_proposal():
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    proposal = svc.proposal_endorse(proposal=proposal, actor=c.office_kr)
    assert proposal.state == ProposalState.ELIGIBLE, proposal.eligibility_reasons
    return proposal, c


# --------------------------------------------------------------------------- submit


def test_submit_freezes_the_content_as_a_version():
    proposal, c = complete_proposal()
    audit_before = AuditEvent.objects.count()

    submitted = submit(proposal, c.pi_jp)

    assert submitted.state == ProposalState.SUBMITTED and submitted.submitted_at is not None
    version = ProposalVersion.objects.get(proposal=proposal)
    assert version.number == submitted.version
    assert version.content == svc.proposal_snapshot(Proposal.objects.get(pk=proposal.pk))
    content = version.content
    assert content["title"]["ja"] == "エッジAIアクセラレータ"
    assert [m["role"] for m in content["members"]] == ["lead_jp", "lead_kr"]
    assert [s["planned"] for s in content["stages"]] == [
        {"JPY": 40_000_000, "KRW": 400_000_000},
        {"JPY": 60_000_000, "KRW": 600_000_000},
    ]
    assert [k["code"] for k in content["stages"][0]["kpis"]] == ["K1A", "K1B"]
    assert content["attachments"][0]["kind"] == "research_plan"
    [event] = AuditEvent.objects.order_by("id")[audit_before:]
    assert event.action == "proposal.submitted"
    assert event.before == {"state": "draft"}
    assert event.after == {"state": "submitted", "version": version.number}


def test_a_refused_submission_freezes_nothing():
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, basics={"title_en": "", "title_ja": "", "title_ko": ""})
    with refused(proposal, field="title_en", code="not_eligible"):
        submit(proposal, c.pi_jp)
    assert not ProposalVersion.objects.filter(proposal=proposal).exists()


@pytest.mark.parametrize(
    "section",
    [
        {"basics": {"title_en": "Changed after submission"}},
        {"stages": []},
        {"budget": []},
    ],
    ids=["basics", "stages", "budget"],
)
def test_a_submitted_proposal_cannot_be_edited(section):
    proposal, c = submitted_proposal()
    with refused(proposal, Conflict, message="Only a draft can be changed"):
        svc.proposal_update(
            proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=section
        )


def test_a_submitted_proposal_takes_no_new_attachment_and_keeps_no_file(private_media):
    proposal, c = submitted_proposal()
    with refused(proposal, Conflict):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=pdf_upload("late.pdf"))
    assert len(stored_files()) == 1  # only the research plan uploaded before submission


def test_a_submitted_proposal_loses_no_attachment():
    proposal, c = submitted_proposal()
    attachment = Attachment.objects.get(proposal=proposal)
    with refused(proposal, Conflict):
        svc.attachment_remove(attachment=attachment, actor=c.pi_jp)


def test_submitting_twice_is_refused():
    proposal, c = submitted_proposal()
    with refused(proposal, (PermissionDenied, Conflict)):
        submit(proposal, c.pi_jp)


# --------------------------------------------------------------------------- withdraw


def _draft():
    return complete_proposal()


@pytest.mark.parametrize(
    ("build", "state"),
    [(_draft, "draft"), (submitted_proposal, "submitted"), (eligible_proposal, "eligible")],
    ids=["draft", "submitted", "eligible"],
)
def test_withdraw_is_allowed_before_a_decision(build, state):
    proposal, c = build()
    audit_before = AuditEvent.objects.count()

    withdrawn = svc.proposal_withdraw(proposal=proposal, actor=c.pi_kr, reason="Team changed")

    assert withdrawn.state == ProposalState.WITHDRAWN
    stored = Proposal.objects.get(pk=proposal.pk)
    assert stored.state == ProposalState.WITHDRAWN and stored.withdrawn_at is not None
    [event] = AuditEvent.objects.order_by("id")[audit_before:]
    assert (event.action, event.actor_user_id) == ("proposal.withdrawn", c.pi_kr.pk)
    assert event.before == {"state": state}
    assert event.after == {"state": "withdrawn", "reason": "Team changed"}


def test_a_withdrawn_proposal_cannot_be_withdrawn_again():
    proposal, c = complete_proposal()
    svc.proposal_withdraw(proposal=proposal, actor=c.pi_jp)
    with refused(proposal, (PermissionDenied, Conflict), message="can no longer be withdrawn"):
        svc.proposal_withdraw(proposal=Proposal.objects.get(pk=proposal.pk), actor=c.pi_jp)


def test_a_co_investigator_cannot_withdraw():
    from tests.factories import member_of

    proposal, c = complete_proposal()
    coi = member_of(c.jp)
    save(
        proposal,
        c.pi_jp,
        consortium={
            "members": [
                {"organisation": c.jp.code, "role": "lead_jp"},
                {"organisation": c.kr.code, "role": "lead_kr"},
            ],
            "people": [
                {"user": c.pi_jp.pk, "organisation": c.jp.code, "role": "pi", "effort_percent": 30},
                {"user": c.pi_kr.pk, "organisation": c.kr.code, "role": "pi", "effort_percent": 30},
                {
                    "user": coi.pk,
                    "organisation": c.jp.code,
                    "role": "co_investigator",
                    "effort_percent": 10,
                },
            ],
        },
    )
    with refused(proposal, PermissionDenied):
        svc.proposal_withdraw(proposal=proposal, actor=coi)


# --------------------------------------------------------------------------- endorse


def test_a_draft_cannot_be_endorsed():
    proposal, c = complete_proposal()
    with refused(proposal, Conflict, code="invalid_state"):
        svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    assert not Endorsement.objects.exists()


def test_a_withdrawn_proposal_cannot_be_endorsed():
    proposal, c = submitted_proposal()
    svc.proposal_withdraw(proposal=proposal, actor=c.pi_jp)
    with refused(proposal, Conflict, code="invalid_state"):
        svc.proposal_endorse(proposal=proposal, actor=c.office_jp)


def test_endorsing_twice_for_the_same_organisation_is_idempotent():
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp, comment="OK from JP")
    again = svc.proposal_endorse(proposal=proposal, actor=c.office_jp, comment="Again")
    third = svc.proposal_endorse(proposal=proposal, actor=c.office_jp, organisation=c.jp)

    assert again.state == third.state == ProposalState.SUBMITTED
    [endorsement] = Endorsement.objects.filter(proposal=proposal)
    assert (endorsement.organisation_id, endorsement.comment) == (c.jp.pk, "OK from JP")
    [event] = events(proposal, "proposal.endorsed")
    assert event.after == {"organisation": c.jp.pk}


def test_endorsing_again_after_eligibility_changes_nothing():
    proposal, c = eligible_proposal()
    audit_before = AuditEvent.objects.count()

    again = svc.proposal_endorse(proposal=proposal, actor=c.office_kr)
    named = svc.proposal_endorse(proposal=proposal, actor=c.office_jp, organisation=c.jp)

    assert again.state == named.state == ProposalState.ELIGIBLE
    assert Endorsement.objects.filter(proposal=proposal).count() == 2
    assert AuditEvent.objects.count() == audit_before


def test_naming_an_endorsed_organisation_is_no_replay_for_someone_who_cannot_endorse_it():
    proposal, c = eligible_proposal()
    with refused(proposal, Conflict, code="invalid_state"):
        svc.proposal_endorse(proposal=proposal, actor=c.pi_jp, organisation=c.jp)
    with refused(proposal, Conflict, code="invalid_state"):
        svc.proposal_endorse(proposal=proposal, actor=c.office_jp, organisation=c.kr)


def test_both_lead_endorsements_make_the_proposal_eligible_with_one_event_each():
    proposal, c = submitted_proposal()
    audit_before = AuditEvent.objects.count()

    first = svc.proposal_endorse(proposal=proposal, actor=c.office_kr)
    assert first.state == ProposalState.SUBMITTED
    second = svc.proposal_endorse(proposal=proposal, actor=c.office_jp)

    assert second.state == ProposalState.ELIGIBLE and second.eligibility_reasons == []
    new = AuditEvent.objects.order_by("id")[audit_before:]
    assert [(e.action, e.actor_user_id) for e in new] == [
        ("proposal.endorsed", c.office_kr.pk),
        ("proposal.endorsed", c.office_jp.pk),
        ("proposal.eligible", c.office_jp.pk),
    ]
    assert new[2].before == {"state": "submitted"}
    assert new[2].after == {"state": "eligible", "reasons": []}


def test_a_researcher_cannot_endorse_their_own_proposal():
    proposal, c = submitted_proposal()
    with refused(proposal, PermissionDenied):
        svc.proposal_endorse(proposal=proposal, actor=c.pi_jp)


def test_an_office_cannot_endorse_for_the_other_lead():
    proposal, c = submitted_proposal()
    with refused(proposal, PermissionDenied, message="You may not endorse for this organisation."):
        svc.proposal_endorse(proposal=proposal, actor=c.office_jp, organisation=c.kr)


# --------------------------------------------------------------------------- deadline


def test_the_deadline_makes_unendorsed_proposals_ineligible_naming_the_missing_office():
    half, c = submitted_proposal()
    svc.proposal_endorse(proposal=half, actor=c.office_jp)
    none_yet, c2 = submitted_proposal(_same_call(c))
    eligible, c3 = eligible_in(c.call)
    draft, _c4 = complete_proposal(_same_call(c))
    audit_before = AuditEvent.objects.count()

    assert svc.proposals_close_for_call(call=c.call) == 2

    half.refresh_from_db()
    assert half.state == ProposalState.INELIGIBLE
    assert half.eligibility_reasons == [
        f"Not endorsed by the research office of {c.kr.name} before the deadline."
    ]
    none_yet.refresh_from_db()
    assert none_yet.state == ProposalState.INELIGIBLE
    [reason] = none_yet.eligibility_reasons
    assert c2.jp.name in reason and c2.kr.name in reason
    assert Proposal.objects.get(pk=eligible.pk).state == ProposalState.ELIGIBLE
    assert Proposal.objects.get(pk=draft.pk).state == ProposalState.DRAFT
    new = AuditEvent.objects.order_by("id")[audit_before:]
    assert sorted((e.action, e.object_id, e.actor_user_id) for e in new) == sorted(
        ("proposal.ineligible", str(p.pk), None) for p in (half, none_yet)
    )
    assert all(e.before == {"state": "submitted"} for e in new)
    # Running the deadline job again changes nothing.
    assert svc.proposals_close_for_call(call=c.call) == 0
    assert AuditEvent.objects.count() == audit_before + 2


def _same_call(c):
    from tests.factories.proposals import make_consortium

    return make_consortium(c.call)


def eligible_in(call):
    from tests.factories.proposals import make_consortium

    proposal, c = submitted_proposal(make_consortium(call))
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    svc.proposal_endorse(proposal=proposal, actor=c.office_kr)
    return proposal, c


# --------------------------------------------------------------------------- audit chain


def test_each_transition_writes_one_event_with_before_and_after_and_the_chain_holds():
    proposal, c = complete_proposal()
    submit(proposal, c.pi_jp)
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    svc.proposal_endorse(proposal=proposal, actor=c.office_kr)
    svc.proposal_withdraw(proposal=proposal, actor=c.pi_jp)

    transitions = [
        (e.action, e.before, {k: e.after[k] for k in ("state",)})
        for e in events(proposal)
        if e.before and "state" in e.before
    ]
    assert transitions == [
        ("proposal.submitted", {"state": "draft"}, {"state": "submitted"}),
        ("proposal.eligible", {"state": "submitted"}, {"state": "eligible"}),
        ("proposal.withdrawn", {"state": "eligible"}, {"state": "withdrawn"}),
    ]
    assert [e.action for e in events(proposal)] == [
        "proposal.created",
        "proposal.updated",
        "proposal.attachment_added",
        "proposal.submitted",
        "proposal.endorsed",
        "proposal.endorsed",
        "proposal.eligible",
        "proposal.withdrawn",
    ]
    report = verify_chain()
    assert report.ok, report
    assert report.checked == AuditEvent.objects.count()


# --------------------------------------------------------------------------- stale saves


def test_a_stale_save_is_a_conflict_and_the_first_save_is_kept():
    proposal, c = complete_proposal()
    opened_version = proposal.version
    svc.proposal_update(
        proposal=proposal,
        actor=c.pi_jp,
        expected_version=opened_version,
        changes={"basics": {"title_en": "First writer", "trl_now": 3, "trl_target": 6}},
    )
    with refused(proposal, Conflict, field="version", code="stale_version") as info:
        svc.proposal_update(
            proposal=proposal,
            actor=c.pi_kr,
            expected_version=opened_version,
            changes={"basics": {"title_en": "Second writer"}},
        )
    stored = Proposal.objects.get(pk=proposal.pk)
    assert stored.title_en == "First writer" and stored.trl_now == 3
    assert stored.version == opened_version + 1
    assert f"the current version is {opened_version + 1}" in info.value.errors["version"][0]


def test_a_save_bumps_the_version_by_one_and_writes_one_event():
    proposal, c = complete_proposal()
    audit_before = AuditEvent.objects.count()
    saved = save(proposal, c.pi_jp, basics={"title_en": "New"}, security={"dual_use": True})
    assert saved.version == proposal.version + 1
    [event] = AuditEvent.objects.order_by("id")[audit_before:]
    assert event.action == "proposal.updated"
    assert event.after == {"version": saved.version, "sections": ["basics", "security"]}


def test_a_refused_save_keeps_every_section_even_those_that_were_valid():
    proposal, c = complete_proposal()
    with refused(proposal, ValidationFailed, field="budget.0.amount"):
        save(
            proposal,
            c.pi_jp,
            basics={"title_en": "Valid title"},
            stages=[],
            budget=[{"organisation": c.jp.code, "category": "personnel", "amount": "1.5"}],
        )


# --------------------------------------------------------------------------- return to the PI


REASON = "The KR personnel line needs the office's sign-off; split it by person."


def test_an_office_returns_a_submission_to_its_pis_with_a_reason():
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    c.pi_kr.preferred_language = "ko"
    c.pi_kr.save(update_fields=["preferred_language"])
    submitted_version = Proposal.objects.get(pk=proposal.pk).version

    returned = svc.proposal_return(proposal=proposal, actor=c.office_kr, reason=REASON)

    # Back with the consortium as an editable draft, at a version of its own.
    assert returned.state == ProposalState.DRAFT
    row = Proposal.objects.get(pk=proposal.pk)
    assert (row.state, row.version, row.submitted_at) == (
        ProposalState.DRAFT,
        submitted_version + 1,
        None,
    )
    # The JP endorsement was of the returned submission: the next one is endorsed afresh.
    assert not Endorsement.objects.filter(proposal=proposal).exists()
    [event] = events(proposal, "proposal.returned")
    assert event.actor_user_id == c.office_kr.pk
    assert event.before == {"state": "submitted", "endorsements": [c.jp.pk]}
    assert event.after == {
        "state": "draft",
        "organisation": c.kr.pk,
        "reason": REASON,
        "version": submitted_version + 1,
    }
    data = the_event("proposal.returned", proposal, organisations=[c.jp.pk, c.kr.pk])
    assert (data["state"], data["organisation"], data["reason"]) == ("draft", c.kr.code, REASON)
    # Each PI is told why, in their own language.
    notes = {n.user_id: n for n in Notification.objects.filter(kind="proposal_returned")}
    assert set(notes) == {c.pi_jp.pk, c.pi_kr.pk}
    english, korean = notes[c.pi_jp.pk], notes[c.pi_kr.pk]
    notifications_render([english], language=recipient_language(c.pi_jp))
    notifications_render([korean], language=recipient_language(c.pi_kr))
    assert "returned" in english.shown_title and REASON in english.shown_body
    assert "반환" in korean.shown_title and REASON in korean.shown_body


def test_a_returned_proposal_is_edited_resubmitted_and_endorsed_afresh():
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    svc.proposal_return(proposal=proposal, actor=c.office_kr, reason=REASON)

    save(proposal, c.pi_kr, basics={"title_en": "Edge AI accelerators, revised"})
    again = submit(proposal, c.pi_jp)
    assert again.state == ProposalState.SUBMITTED
    assert ProposalVersion.objects.filter(proposal=proposal).count() == 2
    # One endorsement is not enough any more: both offices endorse the new submission.
    assert svc.proposal_endorse(proposal=proposal, actor=c.office_kr).state == "submitted"
    assert svc.proposal_endorse(proposal=proposal, actor=c.office_jp).state == "eligible"


def test_a_returned_proposal_can_be_resubmitted_unchanged():
    proposal, c = submitted_proposal()
    svc.proposal_return(proposal=proposal, actor=c.office_jp, reason=REASON)
    assert submit(proposal, c.pi_jp).state == ProposalState.SUBMITTED
    numbers = list(
        ProposalVersion.objects.filter(proposal=proposal).values_list("number", flat=True)
    )
    assert len(numbers) == len(set(numbers)) == 2


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_return_without_a_reason_is_refused_on_the_reason(reason):
    proposal, c = submitted_proposal()
    with refused(proposal, ValidationFailed, field="reason", message="This field is required."):
        svc.proposal_return(proposal=proposal, actor=c.office_jp, reason=reason)  # type: ignore[arg-type]


def test_only_a_lead_organisations_research_office_may_return_it():
    proposal, c = submitted_proposal()
    with refused(proposal, PermissionDenied):
        svc.proposal_return(proposal=proposal, actor=c.pi_jp, reason=REASON)
    with refused(
        proposal,
        PermissionDenied,
        message="You may not return the proposal for this organisation.",
    ):
        svc.proposal_return(proposal=proposal, actor=c.office_jp, organisation=c.kr, reason=REASON)


@pytest.mark.parametrize("build", [complete_proposal, eligible_proposal], ids=["draft", "eligible"])
def test_only_a_proposal_awaiting_endorsement_can_be_returned(build):
    proposal, c = build()
    with refused(proposal, Conflict, code="invalid_state"):
        svc.proposal_return(proposal=proposal, actor=c.office_jp, reason=REASON)


def test_after_the_call_closes_a_proposal_can_no_longer_be_returned():
    proposal, c = submitted_proposal()
    later = c.call.closes_at + timedelta(seconds=1)
    with refused(proposal, ValidationFailed, field="call"):
        svc.proposal_return(proposal=proposal, actor=c.office_jp, reason=REASON, now=later)
