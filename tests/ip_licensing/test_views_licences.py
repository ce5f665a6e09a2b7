"""The licence page, its actions, "My licences" and the approval queue (§10.2–§10.5, §15)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ip_licensing.models import Licence, LicenceApproval, LicenceState, RoyaltyReport
from tests.factories import member_of
from tests.factories.licensing import days, make_licence

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]


def act(client, licence, action, data=None):
    return client.post(reverse("ip:licence_act", args=[licence.pk, action]), data or {})


# --------------------------------------------------------------------------- who sees it


def test_licence_page_for_parties_and_officers_404_for_others(world, client_for):
    licence = make_licence(world, state="active")
    url = reverse("ip:licence", args=[licence.pk])
    for user in (world.office_licensor, world.office_licensee, world.jp, member_of(world.licensee)):
        response = client_for(user).get(url)
        assert response.status_code == 200, user
        assert 'data-state="active"' in response.content.decode()
    assert client_for(world.outsider).get(url).status_code == 404
    assert client_for(world.jp).get(reverse("ip:licence", args=[999999])).status_code == 404
    # Acting on a licence one cannot see is the same 404.
    assert act(client_for(world.outsider), licence, "accept").status_code == 404


def test_licence_page_shows_terms_and_history(world, client_for):
    licence = make_licence(world, state="active", exclusivity="exclusive")
    html = (
        client_for(world.office_licensee)
        .get(reverse("ip:licence", args=[licence.pk]))
        .content.decode()
    )
    assert f'data-licensor="{world.licensor.code}"' in html
    assert 'data-exclusivity="exclusive"' in html
    assert "semiconductor.ai" in html
    assert "¥200,000" in html  # minimum annual royalty
    assert "licence.created" in html  # the audit history


# --------------------------------------------------------------------------- transitions


def test_parties_accept_and_officers_approve_two_person(world, client_for):
    licence = make_licence(world, state="draft")
    url = reverse("ip:licence", args=[licence.pk])
    licensor, licensee = client_for(world.office_licensor), client_for(world.office_licensee)
    assert 'id="accept-form"' in licensor.get(url).content.decode()
    assert act(licensor, licence, "accept").status_code == 302
    assert act(licensee, licence, "accept").status_code == 302
    licence.refresh_from_db()
    assert licence.state == LicenceState.PENDING

    queue = client_for(world.jp).get(reverse("ip:approvals"))
    assert f'data-licence="{licence.pk}" data-screening="not_required"' in queue.content.decode()

    jp = client_for(world.jp)
    assert 'id="approve-form"' in jp.get(url).content.decode()
    assert act(jp, licence, "approve").status_code == 302
    html = jp.get(url).content.decode()
    assert 'data-first-side="JP" data-needed-side="KR"' in html
    assert 'id="approve-form"' not in html  # one person never approves twice
    assert "data-approve-refused" in html
    # A second JP officer is refused by the service too; the message is shown.
    response = act(client_for(world.jp2), licence, "approve")
    assert response.status_code == 403
    assert "data-error" in response.content.decode()

    assert act(client_for(world.kr), licence, "approve").status_code == 302
    licence.refresh_from_db()
    assert licence.state == LicenceState.ACTIVE
    assert LicenceApproval.objects.get(licence=licence).state == "completed"


def test_researcher_cannot_approve(world, client_for):
    licence = make_licence(world, state="pending")
    client = client_for(world.office_licensee)
    assert (
        'id="approve-form"'
        not in client.get(reverse("ip:licence", args=[licence.pk])).content.decode()
    )
    response = act(client, licence, "approve")
    assert response.status_code == 403
    licence.refresh_from_db()
    assert licence.state == LicenceState.PENDING


def test_officer_suspends_resumes_terminates_with_reason(world, client_for):
    licence = make_licence(world, state="active")
    client = client_for(world.kr)
    response = act(client, licence, "suspend", {"suspend-reason": ""})
    assert response.status_code == 422
    assert act(client, licence, "suspend", {"suspend-reason": "Audit."}).status_code == 302
    licence.refresh_from_db()
    assert licence.state == LicenceState.SUSPENDED
    assert act(client, licence, "resume", {"resume-reason": "Fixed."}).status_code == 302
    licence.refresh_from_db()
    assert licence.state == LicenceState.ACTIVE
    assert act(client, licence, "terminate", {"terminate-reason": "Breach."}).status_code == 302
    licence.refresh_from_db()
    assert licence.state == LicenceState.TERMINATED and licence.end_reason


def test_party_cannot_suspend(world, client_for):
    licence = make_licence(world, state="active")
    client = client_for(world.office_licensor)
    assert (
        'id="suspend-form"'
        not in client.get(reverse("ip:licence", args=[licence.pk])).content.decode()
    )
    assert act(client, licence, "suspend", {"suspend-reason": "x"}).status_code == 403


def test_wrong_state_shows_the_service_message(world, client_for):
    licence = make_licence(world, state="active")
    response = act(client_for(world.jp), licence, "resume", {"resume-reason": "x"})
    assert response.status_code == 409
    assert 'data-failed-action="resume"' in response.content.decode()


def test_renew_creates_a_linked_draft(world, client_for):
    licence = make_licence(world, state="active")
    response = act(client_for(world.office_licensee), licence, "renew", {})
    renewal = Licence.objects.get(renewal_of=licence)
    assert response.status_code == 302
    assert response["Location"] == reverse("ip:licence", args=[renewal.pk])
    assert renewal.state == LicenceState.DRAFT
    assert renewal.start_on == days(301)
    html = client_for(world.jp).get(reverse("ip:licence", args=[licence.pk])).content.decode()
    assert renewal.reference in html and 'id="renew-form"' not in html


# --------------------------------------------------------------------------- royalties


def test_licensee_reports_royalties_and_chart_shows_correction(world, client_for):
    licence = make_licence(world, state="active")
    quarter = f"{licence.start_on.year}-Q{(licence.start_on.month - 1) // 3 + 1}"
    client = client_for(world.office_licensee)
    html = client.get(reverse("ip:licence", args=[licence.pk])).content.decode()
    assert 'id="royalty-form"' in html
    data = {"royalty-quarter": quarter, "royalty-net_sales": "10000000"}
    assert act(client, licence, "royalty", data).status_code == 302
    data["royalty-net_sales"] = "20000000"
    assert act(client, licence, "royalty", data).status_code == 302
    assert RoyaltyReport.objects.filter(licence=licence).count() == 2
    html = client.get(reverse("ip:licence", args=[licence.pk])).content.decode()
    assert 'data-chart="royalties"' in html
    assert f'data-quarter="{quarter}" data-amount="700000" data-corrected="true"' in html
    assert 'data-role="first-report"' in html
    assert "¥700,000" in html


def test_royalty_report_errors(world, client_for):
    licence = make_licence(world, state="active")
    client = client_for(world.office_licensee)
    response = act(
        client, licence, "royalty", {"royalty-quarter": "2026-Q9", "royalty-net_sales": "1"}
    )
    assert response.status_code == 422
    response = act(
        client, licence, "royalty", {"royalty-quarter": "1990-Q1", "royalty-net_sales": "1"}
    )
    assert response.status_code == 422
    assert "data-error" in response.content.decode()
    # The licensor does not report royalties.
    licensor = client_for(world.office_licensor)
    assert (
        'id="royalty-form"'
        not in licensor.get(reverse("ip:licence", args=[licence.pk])).content.decode()
    )
    assert (
        act(
            licensor, licence, "royalty", {"royalty-quarter": "2026-Q1", "royalty-net_sales": "1"}
        ).status_code
        == 403
    )
    assert not RoyaltyReport.objects.exists()


# --------------------------------------------------------------------------- lists


def test_my_licences_lists_own_organisations(world, client_for):
    mine = make_licence(world, state="active")
    theirs = make_licence(world, state="draft", licensee=world.other, assets=[world.asset2])
    html = client_for(world.office_licensee).get(reverse("ip:my_licences")).content.decode()
    assert f'data-licence="{mine.pk}"' in html and f'data-licence="{theirs.pk}"' not in html
    html = client_for(world.office_licensor).get(reverse("ip:my_licences")).content.decode()
    assert f'data-licence="{mine.pk}"' in html and f'data-licence="{theirs.pk}"' in html
    html = client_for(world.outsider).get(reverse("ip:my_licences")).content.decode()
    assert 'data-licence="' not in html


def test_approval_queue_is_for_officers_only(world, client_for):
    licence = make_licence(world, state="pending")
    assert client_for(world.office_licensor).get(reverse("ip:approvals")).status_code == 404
    html = client_for(world.kr).get(reverse("ip:approvals")).content.decode()
    assert f'data-licence="{licence.pk}"' in html
