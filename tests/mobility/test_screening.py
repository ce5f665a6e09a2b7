"""Screening of visits (§11, §25): a case exactly for a US organisation (home or host) or
a sensitive or controlled research area; restricted parties as for proposals."""

from __future__ import annotations

import pytest

from fundapp.screening.models import ScreeningCase
from mobility.services.screening import application_screening_clearance
from tests.factories.mobility import application_under_review, exchange
from tests.screening.conftest import load_list

pytestmark = pytest.mark.django_db


def _reasons(application) -> set[str]:
    case = ScreeningCase.objects.filter(
        subject_type="visit_application", subject_id=application.pk
    ).first()
    return {r["code"] for r in case.reasons} if case else set()


@pytest.mark.parametrize(
    ("home", "host", "sensitivity", "expected"),
    [
        ("JP", "KR", "normal", set()),
        ("KR", "JP", "normal", set()),
        ("JP", "US", "normal", {"visit_us_organisation"}),
        ("US", "KR", "normal", {"visit_us_organisation"}),
        ("JP", "KR", "sensitive", {"visit_deemed_export"}),
        ("KR", "JP", "controlled", {"visit_deemed_export"}),
        ("US", "JP", "controlled", {"visit_us_organisation", "visit_deemed_export"}),
    ],
)
def test_a_case_is_opened_exactly_where_section_11_asks(home, host, sensitivity, expected):
    x = exchange(home_country=home, host_country=host, sensitivity=sensitivity)

    application = application_under_review(x)

    assert _reasons(application) == expected
    assert application_screening_clearance(application) == ("open" if expected else "not_required")


def test_a_restricted_party_opens_a_case_for_an_ordinary_visit():
    load_list()
    x = exchange()
    x.host.name_en = "Northwind Dynamics LLC"
    x.host.save()

    application = application_under_review(x)

    assert "restricted_party_match" in _reasons(application)


def test_a_second_award_of_the_same_researcher_and_title_is_put_before_the_screeners():
    from mobility.models import ApplicationState
    from tests.workflow_states import force_state

    x = exchange()
    earlier = application_under_review(x, researcher_number="12345678", effort_percent=10)
    force_state(earlier, ApplicationState.AWARDED)

    again = application_under_review(x, researcher_number="12345678", effort_percent=10)

    assert _reasons(again) == {"visit_duplicate_suspected"}
