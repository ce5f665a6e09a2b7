"""§5 consortium rule: one JP lead from Japan, one KR lead from Korea, PIs for both leads,
organisations outside JP/KR only in kind, every named person in the consortium."""

import pytest

from fundapp.errors import ValidationFailed
from projects.models import ProposalState
from tests.factories import OrganisationFactory, jp_org, kr_org, member_of
from tests.factories.proposals import complete_proposal

from .refusals import refused, save, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def us_org():
    return OrganisationFactory.create(code="US-MIT", country="US", name_en="US Institute")


def members(*pairs):
    return [{"organisation": org.code, "role": role} for org, role in pairs]


def person(user, org, role="pi", effort=30):
    return {"user": user.pk, "organisation": org.code, "role": role, "effort_percent": effort}


def pis(c):
    return [person(c.pi_jp, c.jp), person(c.pi_kr, c.kr)]


def test_the_complete_consortium_is_accepted_at_save_and_submit():
    proposal, c = complete_proposal()
    submitted = submit(proposal, c.pi_jp)
    assert submitted.state == ProposalState.SUBMITTED
    assert [(m.organisation_id, m.role) for m in submitted.members.all()] == [
        (c.jp.pk, "lead_jp"),
        (c.kr.pk, "lead_kr"),
    ]


def test_a_korean_organisation_as_japanese_lead_is_refused_at_save():
    proposal, c = complete_proposal()
    with refused(
        proposal,
        field="members.0.role",
        message="The Japanese lead must be an organisation in Japan.",
    ) as info:
        save(
            proposal,
            c.pi_jp,
            consortium={"members": members((c.kr, "lead_jp"), (kr_org(), "lead_kr"))},
        )
    assert "members.1.role" not in info.value.errors


def test_a_japanese_organisation_as_korean_lead_is_refused_at_save():
    proposal, c = complete_proposal()
    with refused(
        proposal,
        field="members.1.role",
        message="The Korean lead must be an organisation in Korea.",
    ):
        save(
            proposal,
            c.pi_jp,
            consortium={"members": members((c.jp, "lead_jp"), (jp_org(), "lead_kr"))},
        )


def test_two_japanese_leads_are_refused_at_save():
    proposal, c = complete_proposal()
    second_jp = jp_org()
    with refused(
        proposal,
        field="members",
        message="A consortium has exactly one Japanese lead organisation.",
    ):
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": members((c.jp, "lead_jp"), (second_jp, "lead_jp"), (c.kr, "lead_kr")),
                "people": pis(c),
            },
        )


def test_a_draft_may_lack_the_korean_lead_but_cannot_be_submitted_without_one():
    proposal, c = complete_proposal()
    save(
        proposal,
        c.pi_jp,
        consortium={"members": members((c.jp, "lead_jp")), "people": [person(c.pi_jp, c.jp)]},
    )
    with refused(proposal, field="members", message="Name a Korean lead organisation.") as info:
        submit(proposal, c.pi_jp)
    assert info.value.code == "not_eligible"


def test_an_organisation_outside_japan_and_korea_cannot_be_a_funded_partner():
    proposal, c = complete_proposal()
    us = us_org()
    with refused(
        proposal,
        field="members.2.role",
        message="Organisations outside Japan and Korea may join only as in-kind partners.",
    ):
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr"), (us, "partner")),
                "people": pis(c),
            },
        )


def test_an_organisation_outside_japan_and_korea_cannot_lead():
    proposal, c = complete_proposal()
    with refused(proposal, field="members.0.role"):
        save(
            proposal,
            c.pi_jp,
            consortium={"members": members((us_org(), "lead_jp"), (c.kr, "lead_kr"))},
        )


def test_an_organisation_outside_japan_and_korea_joins_in_kind_and_the_proposal_submits():
    proposal, c = complete_proposal()
    us = us_org()
    us_researcher = member_of(us)
    save(
        proposal,
        c.pi_jp,
        consortium={
            "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr"), (us, "in_kind")),
            "people": [*pis(c), person(us_researcher, us, role="co_investigator", effort=10)],
        },
    )
    submitted = submit(proposal, c.pi_jp)
    assert submitted.state == ProposalState.SUBMITTED
    assert submitted.members.get(organisation=us).role == "in_kind"
    assert submitted.needs_screening


def test_the_same_organisation_twice_is_refused():
    proposal, c = complete_proposal()
    with refused(
        proposal,
        field="members.2.organisation",
        message="This organisation is already in the consortium.",
    ):
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr"), (c.jp, "partner")),
                "people": pis(c),
            },
        )


def test_a_lead_without_a_principal_investigator_is_refused_at_submit():
    proposal, c = complete_proposal()
    save(
        proposal,
        c.pi_jp,
        consortium={
            "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr")),
            "people": [person(c.pi_jp, c.jp)],
        },
    )
    with refused(
        proposal, field="people", message=f"Name a principal investigator for {c.kr.name}."
    ):
        submit(proposal, c.pi_jp)


def test_two_principal_investigators_for_one_organisation_are_refused():
    proposal, c = complete_proposal()
    second = member_of(c.jp)
    with refused(
        proposal,
        field="people",
        message="Each organisation names at most one principal investigator.",
    ):
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr")),
                "people": [*pis(c), person(second, c.jp)],
            },
        )


def test_a_person_named_for_an_organisation_outside_the_consortium_is_refused():
    proposal, c = complete_proposal()
    elsewhere = jp_org()
    outsider = member_of(elsewhere)
    with refused(
        proposal,
        field="people.2.organisation",
        message="This organisation is not in the consortium.",
    ):
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr")),
                "people": [*pis(c), person(outsider, elsewhere, role="co_investigator", effort=5)],
            },
        )


def test_a_person_who_does_not_belong_to_the_organisation_they_are_named_for_is_refused():
    """Decision: a named person must be a member of the organisation they represent
    (e-Rad affiliation), or anyone could be put on any consortium."""
    proposal, c = complete_proposal()
    outsider = member_of(jp_org())
    with refused(
        proposal,
        field="people.2.user",
        message="This person is not a member of this organisation.",
    ):
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr")),
                "people": [*pis(c), person(outsider, c.jp, role="co_investigator", effort=5)],
            },
        )


def test_the_same_person_twice_is_refused():
    proposal, c = complete_proposal()
    with refused(proposal, field="people.2.user", message="This person is already named."):
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": members((c.jp, "lead_jp"), (c.kr, "lead_kr")),
                "people": [*pis(c), person(c.pi_jp, c.jp, role="co_investigator", effort=5)],
            },
        )


def test_unknown_organisations_and_roles_are_field_errors():
    proposal, c = complete_proposal()
    with refused(proposal, ValidationFailed) as info:
        save(
            proposal,
            c.pi_jp,
            consortium={
                "members": [
                    {"organisation": "NO-SUCH-ORG", "role": "lead_jp"},
                    {"organisation": c.kr.code, "role": "sponsor"},
                ]
            },
        )
    assert info.value.errors["members.0.organisation"] == ["Unknown organisation."]
    assert info.value.errors["members.1.role"] == ["“sponsor” is not a valid choice."]
