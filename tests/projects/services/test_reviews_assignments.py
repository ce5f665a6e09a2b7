"""Starting review, assigning reviewers with automatic exclusions, declaring conflicts (§6)."""

from __future__ import annotations

import pytest

from fundapp.accounts.models import Membership, Role
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundapp.notifications.models import Notification
from projects.models import AssignmentState, Project, Proposal, ProposalState, ReviewerAssignment
from projects.selectors.proposals import get_proposal_for_actor
from projects.services import projects as project_svc
from projects.services import reviews as svc
from tests.factories import UserFactory, jp_org, kr_org, member_of
from tests.factories.proposals import Consortium, complete_changes, make_consortium
from tests.factories.review import (
    eligible_proposal,
    fund_pools,
    make_officers,
    proposal_under_review,
    reviewer,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]


def events(obj, action: str):
    return AuditEvent.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk), action=action
    )


# --------------------------------------------------------------------------- start review


def test_an_officer_starts_the_review_of_an_eligible_proposal():
    officers = make_officers()
    proposal, _c = eligible_proposal()

    started = svc.proposal_start_review(proposal=proposal, actor=officers.jp)

    assert started.state == ProposalState.UNDER_REVIEW
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.UNDER_REVIEW
    event = events(proposal, "proposal.under_review").get()
    assert event.before == {"state": "eligible"} and event.after == {"state": "under_review"}


def test_starting_review_twice_or_by_a_researcher_is_refused():
    officers = make_officers()
    proposal, c = eligible_proposal()
    with pytest.raises(PermissionDenied):
        svc.proposal_start_review(proposal=proposal, actor=c.pi_jp)
    svc.proposal_start_review(proposal=proposal, actor=officers.jp)
    with pytest.raises(Conflict) as refused:
        svc.proposal_start_review(proposal=proposal, actor=officers.kr)
    assert refused.value.code == "invalid_state"
    assert events(proposal, "proposal.under_review").count() == 1


# --------------------------------------------------------------------------- assignment


def test_assigning_a_reviewer_awaits_their_declaration_and_tells_them():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()

    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)

    assert assignment.state == AssignmentState.AWAITING_DECLARATION
    assert assignment.exclusion_reason == ""
    assert assignment.assigned_by == officers.jp
    assert events(assignment, "review.assigned").count() == 1
    assert Notification.objects.filter(user=expert, kind="review_assigned").count() == 1


def test_assignment_is_idempotent_per_proposal_and_reviewer():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()

    first = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)
    again = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.kr)

    assert again.pk == first.pk
    assert ReviewerAssignment.objects.filter(proposal=proposal, reviewer=expert).count() == 1
    assert events(first, "review.assigned").count() == 1


def test_only_people_with_the_reviewer_role_can_be_assigned():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    with pytest.raises(ValidationFailed) as refused:
        svc.reviewer_assign(proposal=proposal, reviewer=UserFactory.create(), actor=officers.jp)
    assert "reviewer" in refused.value.errors
    with pytest.raises(PermissionDenied):
        svc.reviewer_assign(proposal=proposal, reviewer=reviewer(), actor=reviewer())


def test_assignment_is_refused_before_eligibility():
    from tests.factories.proposals import submitted_proposal

    officers = make_officers()
    proposal, _c = submitted_proposal()
    with pytest.raises(Conflict):
        svc.reviewer_assign(proposal=proposal, reviewer=reviewer(), actor=officers.jp)


def test_a_member_of_a_consortium_organisation_is_excluded_with_the_reason():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    insider = member_of(c.kr, role=Role.REVIEWER)

    assignment = svc.reviewer_assign(proposal=proposal, reviewer=insider, actor=officers.jp)

    assert assignment.state == AssignmentState.EXCLUDED
    assert c.kr.name in assignment.exclusion_reason
    assert "member" in assignment.exclusion_reason
    assert events(assignment, "review.assigned").get().after["state"] == "excluded"
    # Officers see why; the reviewer is not invited.
    assert not Notification.objects.filter(user=insider).exists()
    with pytest.raises(Conflict):
        svc.assignment_declare(assignment=assignment, actor=insider, conflict=False)


def _active_project_with(person_a, person_b, officers) -> Project:
    """An active project on which both people are named (built through the services)."""
    c = make_consortium()
    Membership.objects.get_or_create(user=person_a, organisation=c.jp)
    Membership.objects.get_or_create(user=person_b, organisation=c.jp)
    changes = complete_changes(c)
    changes["consortium"]["people"] += [
        {
            "user": person_a.pk,
            "organisation": c.jp.code,
            "role": "co_investigator",
            "effort_percent": 5,
        },
        {
            "user": person_b.pk,
            "organisation": c.jp.code,
            "role": "co_investigator",
            "effort_percent": 5,
        },
    ]
    from projects.models import Attachment
    from projects.services import proposals as proposal_svc
    from tests.factories.proposals import pdf_upload

    proposal = proposal_svc.proposal_create(actor=c.pi_jp, call=c.call)
    proposal = proposal_svc.proposal_update(
        proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=changes
    )
    proposal_svc.attachment_add(
        proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind=Attachment.Kind.RESEARCH_PLAN
    )
    proposal = proposal_svc.proposal_submit(proposal=proposal, actor=c.pi_jp)
    fund_pools(c.call, officers.jp)
    return project_svc.project_create_from_proposal(proposal=proposal, actor=officers.jp)


def _proposal_naming(person) -> tuple[Proposal, Consortium]:
    """An eligible proposal whose JP PI is ``person`` (member of a fresh JP organisation)."""
    jp = jp_org()
    kr = kr_org()
    Membership.objects.create(user=person, organisation=jp)
    c = Consortium(
        call=make_consortium().call,
        jp=jp,
        kr=kr,
        pi_jp=person,
        pi_kr=member_of(kr),
        office_jp=member_of(jp, research_office=True),
        office_kr=member_of(kr, research_office=True),
    )
    return eligible_proposal(c)


def test_a_reviewer_sharing_an_active_project_with_a_consortium_member_is_excluded():
    officers = make_officers()
    colleague = UserFactory.create()
    expert = reviewer()
    project = _active_project_with(colleague, expert, officers)
    proposal, _c = _proposal_naming(colleague)

    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)

    assert assignment.state == AssignmentState.EXCLUDED
    assert project.title in assignment.exclusion_reason
    assert str(colleague) in assignment.exclusion_reason
    assert "member of" not in assignment.exclusion_reason  # not an organisation member


def test_a_shared_project_that_is_no_longer_active_does_not_exclude():
    officers = make_officers()
    colleague = UserFactory.create()
    expert = reviewer()
    project = _active_project_with(colleague, expert, officers)
    project_svc.project_suspend(project=project, actor=officers.jp, reason="Screening finding")
    proposal, _c = _proposal_naming(colleague)

    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)

    assert assignment.state == AssignmentState.AWAITING_DECLARATION


# --------------------------------------------------------------------------- declaration


def test_declaring_no_conflict_activates_and_opens_the_proposal_to_the_reviewer():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)
    with pytest.raises(NotFound):
        get_proposal_for_actor(expert, proposal.pk)  # title and call only, on the queue

    declared = svc.assignment_declare(assignment=assignment, actor=expert, conflict=False)

    assert declared.state == AssignmentState.ACTIVE and declared.declared_at is not None
    assert get_proposal_for_actor(expert, proposal.pk) == proposal
    event = events(assignment, "review.declared").get()
    assert event.before == {"state": "awaiting_declaration"}
    assert event.after["state"] == "active" and event.after["conflict"] is False


def test_declaring_a_conflict_blocks_the_assignment_with_the_note_as_reason():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)

    with pytest.raises(ValidationFailed) as refused:
        svc.assignment_declare(assignment=assignment, actor=expert, conflict=True, note="  ")
    assert "note" in refused.value.errors
    declared = svc.assignment_declare(
        assignment=assignment, actor=expert, conflict=True, note="I co-authored with the PI."
    )

    assert declared.state == AssignmentState.CONFLICTED
    assert declared.conflict_note == "I co-authored with the PI."
    with pytest.raises(NotFound):
        get_proposal_for_actor(expert, proposal.pk)
    with pytest.raises(Conflict):
        svc.assignment_declare(assignment=assignment, actor=expert, conflict=False)


def test_only_the_reviewer_declares():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)
    for someone in (officers.jp, reviewer(), c.pi_jp):
        with pytest.raises(PermissionDenied):
            svc.assignment_declare(assignment=assignment, actor=someone, conflict=False)
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.AWAITING_DECLARATION


def test_the_exclusion_reason_is_written_in_the_assigning_officers_language():
    from django.utils import translation

    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    insider = member_of(c.jp, role=Role.REVIEWER)
    with translation.override("ja"):
        expected = translation.gettext(
            "The reviewer is a member of %(org)s, an organisation of the consortium."
        ) % {"org": c.jp.name}
        assignment = svc.reviewer_assign(proposal=proposal, reviewer=insider, actor=officers.jp)
    assert assignment.exclusion_reason == expected
    assert c.jp.name_ja in assignment.exclusion_reason  # the organisation's Japanese name
