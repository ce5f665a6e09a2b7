"""Proposal detail (endorsement, withdraw, history) and the list with its pinned query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from projects.models import Endorsement, ProposalState
from projects.services import proposals as svc
from tests.factories import CallFactory, ResearchAreaFactory, officer
from tests.factories import proposal_forms as fd
from tests.factories.proposals import make_consortium, submitted_proposal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]


def detail_url(proposal) -> str:
    return reverse("proposals:detail", args=[proposal.pk])


def test_research_office_endorses_with_the_button_and_both_make_it_eligible(client):
    proposal, c = submitted_proposal()

    client.force_login(c.office_jp)
    html = client.get(detail_url(proposal)).content.decode()
    assert 'data-action="endorse"' in html
    assert html.count('data-endorsed="false"') == 2
    response = client.post(
        reverse("proposals:endorse", args=[proposal.pk]),
        {"organisation": c.jp.pk, "comment": "Checked by the office."},
    )
    assert response.status_code == 302
    endorsement = Endorsement.objects.get(proposal=proposal)
    assert endorsement.organisation == c.jp
    assert endorsement.comment == "Checked by the office."
    html = client.get(detail_url(proposal)).content.decode()
    assert 'data-action="endorse"' not in html  # done for this organisation
    assert html.count('data-endorsed="true"') == 1

    client.force_login(c.office_kr)
    client.post(reverse("proposals:endorse", args=[proposal.pk]), {"organisation": c.kr.pk})
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.ELIGIBLE
    assert 'data-state="eligible"' in client.get(detail_url(proposal)).content.decode()


def test_endorsing_for_an_organisation_one_does_not_staff_is_403(client):
    proposal, c = submitted_proposal()
    client.force_login(c.office_jp)
    response = client.post(
        reverse("proposals:endorse", args=[proposal.pk]), {"organisation": c.kr.pk}
    )
    assert response.status_code == 403
    assert not Endorsement.objects.exists()


def return_url(proposal) -> str:
    return reverse("proposals:return", args=[proposal.pk])


def test_research_office_returns_the_proposal_to_the_pi_with_a_reason(client):
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)

    client.force_login(c.office_kr)
    html = client.get(detail_url(proposal)).content.decode()
    assert 'id="return-to-pi"' in html and 'data-action="return"' in html
    response = client.post(
        return_url(proposal), {"organisation": c.kr.pk, "reason": "Split the KR budget."}
    )

    # The office no longer sees a draft: it lands on its list, told what happened.
    assert response.status_code == 302
    assert response["Location"] == reverse("proposals:list")
    assert client.get(detail_url(proposal)).status_code == 404
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.DRAFT
    assert not Endorsement.objects.filter(proposal=proposal).exists()

    # The PI sees why, on the proposal and in the wizard, and may edit it again.
    client.force_login(c.pi_jp)
    for url in (detail_url(proposal), reverse("proposals:step", args=[proposal.pk, "basics"])):
        page = client.get(url).content.decode()
        notice = page.split('id="returned-notice"', 1)[1].split("</div>", 1)[0]
        assert c.kr.name_en in notice and "Split the KR budget." in notice
    assert "Continue editing" in client.get(detail_url(proposal)).content.decode()
    response = client.post(reverse("proposals:submit", args=[proposal.pk]))
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED
    assert 'id="returned-notice"' not in client.get(detail_url(proposal)).content.decode()


def test_returning_without_a_reason_shows_the_error_beside_the_reason(client):
    proposal, c = submitted_proposal()
    client.force_login(c.office_jp)
    response = client.post(return_url(proposal), {"organisation": c.jp.pk, "reason": "  "})
    assert response.status_code == 422
    html = response.content.decode()
    assert fd.field_errors(html, "return_reason") == ["This field is required."]
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED


def test_the_return_form_is_offered_only_to_the_lead_offices(client):
    proposal, c = submitted_proposal()
    client.force_login(c.pi_jp)
    assert 'id="return-to-pi"' not in client.get(detail_url(proposal)).content.decode()
    response = client.post(return_url(proposal), {"reason": "Mine."})
    assert response.status_code == 403
    client.force_login(c.office_jp)
    response = client.post(return_url(proposal), {"organisation": c.kr.pk, "reason": "Theirs."})
    assert response.status_code == 403
    client.force_login(make_consortium().office_jp)
    assert client.post(return_url(proposal), {"reason": "Not ours."}).status_code == 404
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED


def test_after_the_deadline_the_office_is_told_instead_of_offered_buttons(client):
    proposal, c = submitted_proposal()
    call = c.call
    call.closes_at = timezone.now() - timedelta(minutes=1)
    call.save(update_fields=["closes_at"])
    client.force_login(c.office_jp)
    html = client.get(detail_url(proposal)).content.decode()
    assert 'data-action="endorse"' not in html
    assert 'data-action="return"' not in html
    assert 'id="endorsement-closed"' in html


def test_pi_sees_withdraw_and_withdraws(client):
    proposal, c = submitted_proposal()
    client.force_login(c.pi_jp)
    html = client.get(detail_url(proposal)).content.decode()
    assert 'action="' + reverse("proposals:withdraw", args=[proposal.pk]) in html
    assert 'data-action="endorse"' not in html
    response = client.post(reverse("proposals:withdraw", args=[proposal.pk]), {"reason": "Merged"})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.WITHDRAWN


def test_detail_shows_every_section_and_versions(client):
    proposal, c = submitted_proposal()
    client.force_login(c.pi_kr)
    html = client.get(detail_url(proposal)).content.decode()
    for text in (
        "Edge AI accelerators",
        "엣지 AI 가속기",
        "¥40,000,000",
        "₩600,000,000",
        "K2B",
        "Non-exclusive research licences.",
        "plan.pdf",
        c.jp.name_en,
        c.kr.name_en,
    ):
        assert text in html, text
    assert "frozen at submission" in html
    assert "audit-history" not in html  # officers only


def test_fund_officer_sees_the_audit_history(client):
    proposal, _c = submitted_proposal()
    client.force_login(officer())
    html = client.get(detail_url(proposal)).content.decode()
    assert "audit-history" in html
    assert "proposal.submitted" in html
    assert AuditEvent.objects.filter(object_id=str(proposal.pk)).count() >= 3


def test_detail_shows_eligibility_reasons_of_an_ineligible_proposal(client):
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    svc.proposals_close_for_call(call=c.call)  # the deadline passes without the KR office
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.INELIGIBLE

    client.force_login(c.pi_jp)
    html = client.get(detail_url(proposal)).content.decode()
    assert 'data-state="ineligible"' in html
    reasons = html.split('id="eligibility-reasons"', 1)[1].split("</section>", 1)[0]
    assert "before the deadline" in reasons and c.kr.name_en in reasons


# --------------------------------------------------------------------------- list


def _drafts(pi, call, n: int) -> None:
    for _ in range(n):
        svc.proposal_create(actor=pi, call=call)


def _count_list_queries(client, django_assert_max_num_queries, url: str, limit: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with django_assert_max_num_queries(limit), CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# Session + user, then count, state counts, page, lead organisations, call filter: 7.
LIST_QUERY_LIMIT = 9


def test_my_proposals_list_uses_few_queries_whatever_the_number_of_rows(
    client, django_assert_max_num_queries
):
    c = make_consortium()
    client.force_login(c.pi_jp)
    _drafts(c.pi_jp, c.call, 2)
    few = _count_list_queries(
        client, django_assert_max_num_queries, reverse("proposals:list"), LIST_QUERY_LIMIT
    )
    _drafts(c.pi_jp, c.call, 20)
    many = _count_list_queries(
        client, django_assert_max_num_queries, reverse("proposals:list"), LIST_QUERY_LIMIT
    )
    assert few == many


def test_fund_officer_list_filters_by_call_and_state_with_counts(
    client, django_assert_max_num_queries
):
    c = make_consortium()
    other_call = CallFactory.create(
        research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")]
    )
    _drafts(c.pi_jp, c.call, 3)
    _drafts(c.pi_jp, other_call, 2)
    submitted, _ = submitted_proposal(make_consortium(call=c.call))
    client.force_login(officer())

    url = reverse("proposals:list") + f"?call={c.call.pk}"
    _count_list_queries(client, django_assert_max_num_queries, url, LIST_QUERY_LIMIT)
    html = client.get(url).content.decode()
    assert html.count("data-proposal=") == 4
    assert '<li data-state="draft" data-count="3">' in html
    assert '<li data-state="submitted" data-count="1">' in html

    html = client.get(url + "&state=submitted").content.decode()
    assert html.count("data-proposal=") == 1
    assert f'data-proposal="{submitted.pk}"' in html


def test_list_answers_htmx_with_the_results_only(client):
    c = make_consortium()
    _drafts(c.pi_jp, c.call, 1)
    client.force_login(c.pi_jp)
    response = client.get(reverse("proposals:list"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "data-proposal=" in html
    assert "<html" not in html


def test_list_shows_only_visible_proposals(client):
    mine = make_consortium()
    theirs = make_consortium()
    _drafts(mine.pi_jp, mine.call, 1)
    _drafts(theirs.pi_jp, theirs.call, 2)
    client.force_login(mine.pi_jp)
    html = client.get(reverse("proposals:list")).content.decode()
    assert html.count("data-proposal=") == 1


def test_list_paginates(client):
    c = make_consortium()
    _drafts(c.pi_jp, c.call, 27)
    client.force_login(c.pi_jp)
    first = client.get(reverse("proposals:list")).content.decode()
    second = client.get(reverse("proposals:list") + "?page=2").content.decode()
    assert first.count("data-proposal=") == 25
    assert second.count("data-proposal=") == 2
