"""A person records their own researcher numbers and ORCID iD (§5, §22)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fundapp.accounts.services import user_identifiers_set
from fundapp.audit.models import AuditEvent
from fundapp.errors import PermissionDenied, ValidationFailed
from tests.factories import UserFactory, jp_org, member_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_off")]


def test_a_person_records_their_numbers_and_the_change_is_audited():
    person = member_of(jp_org())

    saved = user_identifiers_set(
        user=person,
        actor=person,
        erad_number=" 60012345 ",
        kr_researcher_number="",
        orcid="https://orcid.org/0000-0002-1694-233x",
    )

    assert (saved.erad_number, saved.orcid) == ("60012345", "0000-0002-1694-233X")
    [event] = AuditEvent.objects.filter(action="user.identifiers_changed")
    assert event.before == {"erad_number": "", "orcid": ""}
    assert event.after == {"erad_number": "60012345", "orcid": "0000-0002-1694-233X"}
    user_identifiers_set(
        user=person,
        actor=person,
        erad_number="60012345",
        kr_researcher_number="",
        orcid="0000-0002-1694-233X",
    )
    assert AuditEvent.objects.filter(action="user.identifiers_changed").count() == 1


def test_a_wrong_check_digit_or_letters_are_refused_and_nothing_changes():
    person = member_of(jp_org())
    with pytest.raises(ValidationFailed) as refused:
        user_identifiers_set(
            user=person,
            actor=person,
            erad_number="6001A",
            kr_researcher_number="",
            orcid="0000-0002-1825-0098",
        )
    assert set(refused.value.errors) == {"erad_number", "orcid"}
    person.refresh_from_db()
    assert person.erad_number == "" and person.orcid == ""


def test_nobody_changes_someone_else_s_numbers():
    person = member_of(jp_org())
    with pytest.raises(PermissionDenied):
        user_identifiers_set(
            user=person,
            actor=UserFactory.create(role="fund_officer"),
            erad_number="60012345",
            kr_researcher_number="",
            orcid="",
        )


def test_the_page_saves_the_signed_in_person_s_numbers_and_goes_back(client):
    person = member_of(jp_org())
    client.force_login(person)
    url = reverse("accounts:researcher_numbers")

    assert client.get(url).status_code == 200
    refused = client.post(url, {"orcid": "0000-0002-1825-0098"})
    assert refused.status_code == 422
    assert "check digit" in refused.content.decode()
    done = client.post(
        url, {"orcid": "0000-0002-1825-0097", "next": "/proposals/1/edit/consortium/"}
    )
    assert done.status_code == 302 and done["Location"] == "/proposals/1/edit/consortium/"
    person.refresh_from_db()
    assert person.orcid == "0000-0002-1825-0097"
    elsewhere = client.post(url, {"orcid": "", "next": "https://evil.example/"})
    assert elsewhere["Location"] == url


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("accounts:researcher_numbers"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
