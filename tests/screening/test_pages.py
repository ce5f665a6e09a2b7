"""The screening officer's queue and case pages (§11, §15)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fundapp.audit.models import AuditEvent
from fundapp.screening.models import ScreeningState
from fundapp.screening.services import screening_case_decide

from .conftest import open_case, party

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(restricted_list):
    proposal = open_case(
        1,
        reasons=[{"code": "controlled_area", "detail": "semiconductor.ai.edge"}],
        parties=[party(3, "Toyo Denshi Co., Ltd.")],
    )
    licence = open_case(
        2, subject_type="licence", reasons=[{"code": "licensee_outside_jp_kr", "detail": "US"}]
    )
    return proposal, licence


@pytest.mark.parametrize("who", ["researcher", "fund_officer", "finance_officer"])
def test_pages_are_404_for_everyone_but_screening_officers(client, request, cases, who):
    client.force_login(request.getfixturevalue(who))
    proposal, _licence = cases

    assert client.get(reverse("screening:queue")).status_code == 404
    assert client.get(reverse("screening:case", args=[proposal.pk])).status_code == 404
    response = client.post(
        reverse("screening:case", args=[proposal.pk]), {"decision": "clear", "reason": "x"}
    )
    assert response.status_code == 404
    proposal.refresh_from_db()
    assert proposal.state == ScreeningState.OPEN


def test_anonymous_is_sent_to_login(client, cases):
    response = client.get(reverse("screening:queue"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_queue_lists_open_cases_with_why_they_need_screening(client, screener, cases):
    client.force_login(screener)

    response = client.get(reverse("screening:queue"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Proposal 1" in html and "Proposal 2" in html
    assert "Research area is controlled" in html and "semiconductor.ai.edge" in html
    assert "Restricted-party list match" in html
    assert "Licensee outside Japan and Korea" in html
    assert 'data-reason="restricted_party_match"' in html


def test_queue_filters_by_state_and_subject_type(client, screener, cases):
    proposal, licence = cases
    screening_case_decide(case=proposal, actor=screener, decision="clear", reason="False positive.")
    client.force_login(screener)

    open_only = client.get(reverse("screening:queue")).content.decode()
    assert (
        f'data-case="{licence.pk}"' in open_only and f'data-case="{proposal.pk}"' not in open_only
    )

    cleared = client.get(reverse("screening:queue"), {"state": "cleared"}).content.decode()
    assert f'data-case="{proposal.pk}"' in cleared and f'data-case="{licence.pk}"' not in cleared

    every = client.get(
        reverse("screening:queue"), {"state": "all", "subject_type": "licence"}
    ).content.decode()
    assert f'data-case="{licence.pk}"' in every and f'data-case="{proposal.pk}"' not in every


def test_queue_answers_htmx_with_the_results_only(client, screener, cases):
    client.force_login(screener)
    response = client.get(reverse("screening:queue"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content and b"screening-table" in response.content


def test_queue_query_count_does_not_grow_with_cases(
    client, screener, django_assert_max_num_queries
):
    for i in range(1, 30):
        open_case(i)
    client.force_login(screener)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("screening:queue")).status_code == 200


def test_case_page_shows_matches_reasons_subject_link_and_history(client, screener, cases):
    proposal, _licence = cases
    client.force_login(screener)

    response = client.get(reverse("screening:case", args=[proposal.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/proposals/1/"' in html
    assert "東洋電子株式会社" in html and "METI end-user list" in html
    assert "Toyo Denshi Co., Ltd." in html
    assert "Research area is controlled" in html
    assert "screening.case_opened" in html  # the audit history
    assert 'id="decision-form"' in html
    assert "false positive" in html


def test_screening_officer_clears_from_the_case_page(client, screener, cases):
    proposal, _licence = cases
    client.force_login(screener)
    url = reverse("screening:case", args=[proposal.pk])

    response = client.post(url, {"decision": "clear", "reason": "Different company (Sendai)."})

    assert response.status_code == 302 and response["Location"] == url
    proposal.refresh_from_db()
    assert proposal.state == ScreeningState.CLEARED and proposal.decided_by == screener
    page = client.get(url).content.decode()
    assert "Different company (Sendai)." in page and 'id="decision-form"' not in page
    assert AuditEvent.objects.filter(action="screening.case_cleared").count() == 1


def test_missing_reason_is_a_field_error(client, screener, cases):
    proposal, _licence = cases
    client.force_login(screener)

    response = client.post(
        reverse("screening:case", args=[proposal.pk]), {"decision": "block", "reason": ""}
    )

    assert response.status_code == 422
    assert b"field-errors" in response.content
    proposal.refresh_from_db()
    assert proposal.state == ScreeningState.OPEN


def test_deciding_a_decided_case_from_a_stale_page_is_refused(client, screener, cases):
    proposal, _licence = cases
    screening_case_decide(case=proposal, actor=screener, decision="block", reason="Listed.")
    client.force_login(screener)

    response = client.post(
        reverse("screening:case", args=[proposal.pk]), {"decision": "clear", "reason": "Oops"}
    )

    assert response.status_code == 409
    proposal.refresh_from_db()
    assert proposal.state == ScreeningState.BLOCKED


def test_unknown_case_is_404(client, screener):
    client.force_login(screener)
    assert client.get(reverse("screening:case", args=[999999])).status_code == 404


def test_subject_label_is_escaped(client, screener):
    from fundapp.screening.services import screening_case_open

    case = screening_case_open(
        subject_type="proposal",
        subject_id=77,
        subject_label="<script>alert(1)</script>",
        reasons=[{"code": "dual_use", "detail": "<b>x</b>"}],
        parties=[],
    )
    assert case is not None
    client.force_login(screener)
    html = client.get(reverse("screening:case", args=[case.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html
