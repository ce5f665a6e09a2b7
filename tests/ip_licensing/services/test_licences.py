"""Licences (§10.2–§10.3, §11): proposal, acceptance, screening, two-person approval,
exclusivity, suspension, termination and renewal — through the services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fundapp.accounts.models import Role, Scope
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.notifications.models import Notification
from fundapp.screening.importing import parse_restricted_parties
from fundapp.screening.models import ScreeningCase
from fundapp.screening.services import restricted_parties_import, screening_case_decide
from ip_licensing.models import Licence, LicenceApproval, LicenceAsset
from ip_licensing.selectors import licence_conflicts
from ip_licensing.services.assets import asset_register, asset_update
from ip_licensing.services.licences import (
    licence_accept,
    licence_approve,
    licence_create,
    licence_renew,
    licence_resume,
    licence_suspend,
    licence_terminate,
    tokyo_today,
)
from projects.models import Fund
from tests.factories import UserFactory, jp_org, member_of
from tests.factories.engine import award, engine_proposal, fund_pools, make_staff
from tests.factories.licences import (
    World,
    api_key,
    approved,
    background_asset,
    days,
    draft,
    pending,
    terms,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upfront_posts")]


def counts() -> tuple[int, int, int]:
    return Licence.objects.count(), LicenceAsset.objects.count(), AuditEvent.objects.count()


def actions(licence: Licence) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="ip_licensing.licence", object_id=str(licence.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# -- proposing -----------------------------------------------------------------------------


def test_a_proposal_is_a_draft_of_the_assets_owner_with_a_yearly_reference(world):
    first = draft(world, assets=[world.asset.pk, world.asset2.pk])
    second = draft(world)

    year = tokyo_today().year
    assert (first.reference, second.reference) == (f"L-{year}-0001", f"L-{year}-0002")
    assert (first.state, first.licensor, first.licensee) == (
        "draft",
        world.licensor,
        world.licensee,
    )
    assert sorted(first.assets.values_list("pk", flat=True)) == sorted(
        [world.asset.pk, world.asset2.pk]
    )
    assert (first.royalty_rate, first.upfront_fee, first.currency) == (
        Decimal("0.035"),
        1_000_000,
        "JPY",
    )
    assert first.created_by == world.office_licensor
    event = AuditEvent.objects.get(action="licence.created", object_id=str(first.pk))
    assert event.after is not None
    assert event.after["assets"] == sorted([world.asset.pk, world.asset2.pk])


def test_references_count_on_numerically_past_9999(world):
    licence = draft(world)
    year = tokyo_today().year
    Licence.objects.filter(pk=licence.pk).update(reference=f"L-{year}-9999")
    assert draft(world).reference == f"L-{year}-10000"
    assert draft(world).reference == f"L-{year}-10001"


def _lapsed_asset(world: World) -> int:
    asset = background_asset(world.office_licensor, world.licensor, "Old design")
    return asset_update(asset=asset, actor=world.jp, data={"status": "lapsed"}).pk


def _other_owners_asset(world: World) -> int:
    return background_asset(world.office_licensee, world.licensee, "Their code").pk


INVALID: list[tuple[dict[str, Any] | str, str, str]] = [
    ({"assets": []}, "assets", "at least one IP asset"),
    ({"assets": [999_999_999]}, "assets", "Unknown IP asset"),
    ({"assets": ["one"]}, "assets.0", "integer id"),
    ("two_owners", "assets", "one owner of its assets"),
    ("lapsed", "assets", "lapsed asset cannot be licensed"),
    ({"licensor": "LICENSEE"}, "licensor", "The licensor is the owner"),
    ({"licensee": "LICENSOR"}, "licensee", "other than the licensor"),
    ({"licensee": "NO-SUCH"}, "licensee", "Unknown organisation"),
    ({"licensee": None}, "licensee", "required"),
    ({"fields_of_use": []}, "fields_of_use", "required"),
    ({"fields_of_use": ["Semiconductor AI"]}, "fields_of_use", "research-area codes"),
    ({"fields_of_use": ["semiconductor.gpu"]}, "fields_of_use", "Unknown research area"),
    ({"purposes": ["resale"]}, "purposes", "Choose purposes"),
    ({"purposes": []}, "purposes", "required"),
    ({"territories": ["USA"]}, "territories", "alpha-2"),
    ({"territories": []}, "territories", "required"),
    ({"start_on": None}, "start_on", "required"),
    ({"start_on": "1 April"}, "start_on", "YYYY-MM-DD"),
    ({"end_on": "2020-01-01"}, "end_on", "may not be before the start"),
    ("six_years", "end_on", "may not exceed 5 years"),
    ({"royalty_rate": "1.5"}, "royalty_rate", "decimal fraction from 0 to 1"),
    ({"royalty_rate": "-0.1"}, "royalty_rate", "decimal fraction from 0 to 1"),
    ({"royalty_rate": "abc"}, "royalty_rate", "Enter a number"),
    ({"royalty_rate": "0.0000001"}, "royalty_rate", "decimal places"),
    ({"royalty_rate": None}, "royalty_rate", "required"),
    ({"upfront_fee": -1}, "upfront_fee", "cannot be negative"),
    ({"upfront_fee": "100.5"}, "upfront_fee", "no fractions"),
    ({"minimum_annual_royalty": 10**15 + 1}, "minimum_annual_royalty", "10¹⁵"),
    ({"currency": "USD"}, "currency", "JPY or KRW"),
    ({"exclusivity": "sole"}, "exclusivity", "not a valid choice"),
    ({"duration": 5}, "duration", "Unknown field"),
]


@pytest.mark.parametrize(("overrides", "field", "fragment"), INVALID)
def test_every_invalid_term_is_reported_and_nothing_is_saved(world, overrides, field, fragment):
    if overrides == "two_owners":
        overrides = {"assets": [world.asset.pk, _other_owners_asset(world)]}
    elif overrides == "lapsed":
        overrides = {"assets": [_lapsed_asset(world)]}
    elif overrides == "six_years":
        start = tokyo_today()
        overrides = {"end_on": start.replace(year=start.year + 5).isoformat()}
    assert isinstance(overrides, dict)
    overrides = {
        key: {"LICENSEE": world.licensee.code, "LICENSOR": world.licensor.code}.get(value, value)
        if isinstance(value, str)
        else value
        for key, value in overrides.items()
    }
    before = counts()

    with pytest.raises(ValidationFailed) as refused:
        licence_create(actor=world.office_licensor, data=terms(world, **overrides))

    messages = refused.value.errors.get(field, [])
    assert any(fragment in str(m) for m in messages), refused.value.errors
    assert counts() == before


def test_a_licence_is_in_the_currency_of_the_licensors_side(world):
    """Royalties go first to the licensor side's pool, which holds that side's currency."""
    side_currency = {"JP": "JPY", "KR": "KRW"}[world.asset.owner.country]
    other = "KRW" if side_currency == "JPY" else "JPY"
    assert draft(world, currency=side_currency).currency == side_currency
    with pytest.raises(ValidationFailed) as refused:
        draft(world, currency=other)
    assert "currency" in refused.value.errors


def test_the_longest_term_follows_the_funds_policy(world):
    Fund.objects.filter(pk=world.fund.pk).update(max_licence_years=2)
    start = tokyo_today()
    latest = start.replace(year=start.year + 2) - timedelta(days=1)
    ok = draft(world, end_on=latest.isoformat())
    assert ok.end_on == latest
    with pytest.raises(ValidationFailed) as refused:
        draft(world, end_on=(latest + timedelta(days=1)).isoformat())
    assert "may not exceed 2 years" in refused.value.errors["end_on"][0]


def test_lists_are_normalised(world):
    data = terms(
        world,
        fields="semiconductor.ai, quantum",
        purposes=["research", "research"],
        territories=["jp", "ww"],
        currency="jpy",
    )
    del data["fields_of_use"]  # ``fields`` is accepted for it
    licence = licence_create(actor=world.office_licensor, data=data)
    assert (licence.fields_of_use, licence.purposes) == (
        ["semiconductor.ai", "quantum"],
        ["research"],
    )
    assert (licence.territories, licence.currency) == (["JP", "WW"], "JPY")


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("licensor_researcher", True),
        ("licensee_office", True),
        ("fund_officer", True),
        ("licensee_key_check", True),
        ("outsider", False),
        ("licensee_key_read_only", False),
        ("other_org_key", False),
        ("screening_officer", False),
        ("nobody", False),
    ],
)
def test_who_may_propose_a_licence(world, who, allowed):
    actor = {
        "licensor_researcher": world.researcher,
        "licensee_office": world.office_licensee,
        "fund_officer": world.kr,
        "licensee_key_check": api_key(world.licensee, Scope.LICENCES_CHECK),
        "outsider": world.outsider,
        "licensee_key_read_only": api_key(world.licensee, Scope.LICENCES_READ),
        "other_org_key": api_key(jp_org(), Scope.LICENCES_CHECK),
        "screening_officer": world.screener,
        "nobody": None,
    }[who]
    if allowed:
        assert licence_create(actor=actor, data=terms(world)).state == "draft"
    else:
        with pytest.raises(PermissionDenied):
            licence_create(actor=actor, data=terms(world))
        assert not Licence.objects.exists()


# -- accepting -----------------------------------------------------------------------------


def test_each_party_accepts_and_the_second_acceptance_makes_it_pending(world):
    licence = draft(world)

    licence_accept(licence=licence, actor=world.office_licensor)
    licence.refresh_from_db()
    assert licence.state == "draft"
    assert licence.licensor_accepted_at is not None and licence.licensee_accepted_at is None
    with pytest.raises(Conflict) as again:
        licence_accept(licence=licence, actor=world.office_licensor)
    assert again.value.code == "already_accepted"

    licence_accept(licence=licence, actor=world.office_licensee)

    licence.refresh_from_db()
    assert licence.state == "pending"
    assert actions(licence) == ["licence.created", "licence.accepted", "licence.accepted"]
    last = AuditEvent.objects.filter(action="licence.accepted").order_by("-id").first()
    assert last is not None
    assert (last.before, last.after) == (
        {"state": "draft"},
        {"state": "pending", "parties": ["licensee"]},
    )
    told = set(Notification.objects.filter(kind="licence_pending").values_list("user", flat=True))
    assert told == {world.jp.pk, world.kr.pk, world.jp2.pk, world.kr2.pk}
    # Nothing in §11 asks for screening here.
    assert not ScreeningCase.objects.filter(subject_type="licence").exists()
    with pytest.raises(Conflict):
        licence_accept(licence=licence, actor=world.office_licensee)


def test_a_partner_system_accepts_with_the_licences_check_scope_only(world):
    licence = draft(world)
    licence_accept(licence=licence, actor=world.office_licensor)
    with pytest.raises(PermissionDenied, match="licences:check"):
        licence_accept(licence=licence, actor=api_key(world.licensee, Scope.LICENCES_READ))
    with pytest.raises(PermissionDenied):
        licence_accept(licence=licence, actor=api_key(jp_org(), Scope.LICENCES_CHECK))

    accepted = licence_accept(licence=licence, actor=api_key(world.licensee, Scope.LICENCES_CHECK))

    assert accepted.state == "pending"
    last = AuditEvent.objects.filter(action="licence.accepted").last()
    assert last is not None and last.actor_api_key is not None


@pytest.mark.parametrize("who", ["researcher", "outsider", "fund_officer", "screener"])
def test_only_the_research_office_or_a_pi_binds_an_organisation(world, who):
    licence = draft(world)
    actor = {
        "researcher": world.researcher,
        "outsider": world.outsider,
        "fund_officer": world.jp,
        "screener": world.screener,
    }[who]
    with pytest.raises(PermissionDenied):
        licence_accept(licence=licence, actor=actor)
    licence.refresh_from_db()
    assert (licence.licensor_accepted_at, licence.licensee_accepted_at) == (None, None)


def test_a_principal_investigator_accepts_for_the_organisation_of_the_project(world):
    staff = make_staff()
    fund_pools(staff)
    proposal, c = engine_proposal()
    project = award(proposal, staff)
    result = asset_register(
        actor=c.pi_jp,
        data={
            "kind": "software",
            "title_en": "Edge runtime",
            "owner": c.jp.code,
            "project": project.pk,
        },
    )
    licence = licence_create(
        actor=c.pi_jp, data=terms(world, assets=[result.pk], licensee=c.kr.code)
    )
    licence_accept(licence=licence, actor=c.pi_jp)
    assert licence_accept(licence=licence, actor=c.pi_kr).state == "pending"


def test_a_licence_whose_term_has_ended_cannot_become_pending(world):
    licence = draft(world, start_on=days(-30).isoformat(), end_on=days(-1).isoformat())
    licence_accept(licence=licence, actor=world.office_licensor)
    with pytest.raises(Conflict, match="ended"):
        licence_accept(licence=licence, actor=world.office_licensee)
    licence.refresh_from_db()
    assert (licence.state, licence.licensee_accepted_at) == ("draft", None)


# -- screening (§11) -----------------------------------------------------------------------


def test_a_licensee_outside_japan_and_korea_needs_screening_before_approval(world):
    licence = pending(world, licensee=world.abroad.code)

    case = ScreeningCase.objects.get(subject_type="licence", subject_id=licence.pk)
    assert [r["code"] for r in case.reasons] == ["licensee_outside_jp_kr"]
    assert case.state == "open"
    licence_approve(licence=licence, actor=world.jp)  # the first approval is recorded
    with pytest.raises(Conflict) as waiting:
        licence_approve(licence=licence, actor=world.kr)
    assert waiting.value.code == "screening_pending"
    licence.refresh_from_db()
    assert licence.state == "pending"
    assert LicenceApproval.objects.get(licence=licence).state == "pending"

    screening_case_decide(case=case, actor=world.screener, decision="clear", reason="Checked.")
    assert licence_approve(licence=licence, actor=world.kr).state == "active"


def test_a_field_covering_a_controlled_area_needs_screening_and_a_block_is_final(world):
    licence = pending(world, fields_of_use=["quantum"])

    case = ScreeningCase.objects.get(subject_type="licence", subject_id=licence.pk)
    assert case.reasons == [{"code": "controlled_field", "detail": "quantum.crypto"}]
    screening_case_decide(case=case, actor=world.screener, decision="block", reason="Listed use.")
    licence_approve(licence=licence, actor=world.kr)
    with pytest.raises(Conflict) as blocked:
        licence_approve(licence=licence, actor=world.jp)
    assert blocked.value.code == "screening_blocked"
    licence.refresh_from_db()
    assert licence.state == "pending"


def test_a_restricted_party_match_on_the_licensees_names_opens_screening(world):
    world.licensee.name_ko = "(주)한빛디바이스"
    world.licensee.save()
    parsed = parse_restricted_parties(
        "name,aliases,country,source\n한빛디바이스 주식회사,,KR,Strategic goods list\n".encode()
    )
    assert parsed.ok, parsed.errors
    restricted_parties_import(rows=parsed.rows)

    licence = pending(world)

    case = ScreeningCase.objects.get(subject_type="licence", subject_id=licence.pk)
    assert [r["code"] for r in case.reasons] == ["restricted_party_match"]
    assert case.matches[0]["organisation"] == world.licensee.pk


def test_a_list_imported_after_acceptance_is_matched_at_approval(world):
    licence = pending(world)
    assert not ScreeningCase.objects.exists()
    parsed = parse_restricted_parties(
        b'name,aliases,country,source\n"Hanbit Devices Co., Ltd.",,KR,Entity List\n'
    )
    assert parsed.ok, parsed.errors
    restricted_parties_import(rows=parsed.rows)

    licence_approve(licence=licence, actor=world.jp)
    with pytest.raises(Conflict):
        licence_approve(licence=licence, actor=world.kr)
    assert ScreeningCase.objects.get(subject_id=licence.pk).state == "open"


# -- approving (two-person rule) -----------------------------------------------------------


def test_two_officers_of_both_sides_approve_and_it_is_active_from_today(world, upfront_posts):
    licence = pending(world)

    first = licence_approve(licence=licence, actor=world.jp)
    assert first.state == "pending"
    approval = LicenceApproval.objects.get(licence=licence)
    assert (approval.state, approval.first_officer, approval.first_side) == (
        "pending",
        world.jp,
        "JP",
    )
    assert set(
        Notification.objects.filter(
            kind="licence_pending", message="licence.awaits_approval"
        ).values_list("user", flat=True)
    ) == {world.kr.pk, world.kr2.pk}

    done = licence_approve(licence=licence, actor=world.kr)

    done.refresh_from_db()
    approval.refresh_from_db()
    assert (done.state, done.approved_at is not None, done.activated_at is not None) == (
        "active",
        True,
        True,
    )
    assert (approval.state, approval.second_officer, approval.second_side) == (
        "completed",
        world.kr,
        "KR",
    )
    assert actions(licence)[-2:] == ["licence.approved", "licence.activated"]
    assert list(
        AuditEvent.objects.filter(
            object_type="ip_licensing.licenceapproval", object_id=str(approval.pk)
        )
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["licence_approval.approved", "licence_approval.completed"]
    assert upfront_posts == [licence.pk]
    told = set(Notification.objects.filter(kind="licence_approved").values_list("user", flat=True))
    assert {world.office_licensor.pk, world.office_licensee.pk} <= told
    assert world.outsider.pk not in told
    with pytest.raises(Conflict):
        licence_approve(licence=licence, actor=world.jp2)


def test_a_licence_starting_later_is_approved_and_waits_for_its_start(world, upfront_posts):
    licence = approved(world, start_on=days(10).isoformat(), end_on=days(100).isoformat())
    licence.refresh_from_db()
    assert (licence.state, licence.activated_at) == ("approved", None)
    assert upfront_posts == []


def test_the_same_officer_cannot_approve_twice(world):
    licence = pending(world)
    licence_approve(licence=licence, actor=world.jp)
    with pytest.raises(PermissionDenied) as refused:
        licence_approve(licence=licence, actor=world.jp)
    assert refused.value.code == "same_person"
    assert LicenceApproval.objects.get(licence=licence).second_officer is None


def test_the_second_approval_must_come_from_the_other_side(world):
    licence = pending(world)
    licence_approve(licence=licence, actor=world.kr)
    with pytest.raises(PermissionDenied) as refused:
        licence_approve(licence=licence, actor=world.kr2)
    assert refused.value.code == "same_side"
    licence.refresh_from_db()
    assert licence.state == "pending"


@pytest.mark.parametrize("who", ["researcher", "screener", "finance", "sideless_officer", "key"])
def test_only_fund_officers_with_a_side_approve(world, who):
    licence = pending(world)
    actor = {
        "researcher": world.office_licensor,
        "screener": world.screener,
        "finance": UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        "sideless_officer": UserFactory.create(role=Role.FUND_OFFICER, side=""),
        "key": api_key(world.licensee, Scope.LICENCES_CHECK),
    }[who]
    with pytest.raises(PermissionDenied):
        licence_approve(licence=licence, actor=actor)
    assert not LicenceApproval.objects.exists()


def test_a_draft_cannot_be_approved(world):
    with pytest.raises(Conflict):
        licence_approve(licence=draft(world), actor=world.jp)


# -- exclusivity (§10.2) -------------------------------------------------------------------

BASE = {"fields_of_use": ["semiconductor.ai"], "territories": ["JP"], "exclusivity": "exclusive"}


def _overlap_case(name: str) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(first licence, second licence, whether they conflict)."""
    cases: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
        "same terms": (BASE, {}, True),
        "narrower field of the exclusive one": (
            BASE,
            {"fields_of_use": ["semiconductor.ai.edge"], "exclusivity": "non_exclusive"},
            True,
        ),
        "wider field over the exclusive one": (
            {**BASE, "fields_of_use": ["semiconductor.ai.edge"]},
            {"fields_of_use": ["semiconductor"], "exclusivity": "non_exclusive"},
            True,
        ),
        "worldwide over a country": (BASE, {"territories": ["WW"]}, True),
        "a country under worldwide": (
            {**BASE, "territories": ["WW"]},
            {"territories": ["KR", "JP"]},
            True,
        ),
        "sharing one day": (
            {**BASE, "start_on": days(0), "end_on": days(30)},
            {"start_on": days(30), "end_on": days(60)},
            True,
        ),
        "exclusive after non-exclusive": (
            {**BASE, "exclusivity": "non_exclusive"},
            {"exclusivity": "exclusive"},
            True,
        ),
        "the day after": (
            {**BASE, "start_on": days(0), "end_on": days(30)},
            {"start_on": days(31), "end_on": days(60)},
            False,
        ),
        "sibling field": (BASE, {"fields_of_use": ["semiconductor.memory"]}, False),
        "prefix that is no parent": (BASE, {"fields_of_use": ["green"]}, False),
        "other territory": (BASE, {"territories": ["KR"]}, False),
        "both non-exclusive": (
            {**BASE, "exclusivity": "non_exclusive"},
            {"exclusivity": "non_exclusive"},
            False,
        ),
        "other asset": (BASE, {"assets": "asset2"}, False),
    }
    return cases[name]


CASES = [
    "same terms",
    "narrower field of the exclusive one",
    "wider field over the exclusive one",
    "worldwide over a country",
    "a country under worldwide",
    "sharing one day",
    "exclusive after non-exclusive",
    "the day after",
    "sibling field",
    "prefix that is no parent",
    "other territory",
    "both non-exclusive",
    "other asset",
]


def _data(world: World, overrides: dict[str, Any]) -> dict[str, Any]:
    data = {**BASE, **overrides}
    for key in ("start_on", "end_on"):
        if key in data:
            data[key] = data[key].isoformat()
    if data.get("assets") == "asset2":
        data["assets"] = [world.asset2.pk]
    return data


@pytest.mark.parametrize("case", CASES)
def test_an_exclusive_overlap_is_refused_naming_the_other_licence(world, case):
    first_terms, second_terms, conflicting = _overlap_case(case)
    first = approved(world, **_data(world, first_terms))
    second = draft(world, **_data(world, {**first_terms, **second_terms}))
    licence_accept(licence=second, actor=world.office_licensor)

    if not conflicting:
        assert licence_accept(licence=second, actor=world.office_licensee).state == "pending"
        assert licence_conflicts(second) == []
        return
    with pytest.raises(Conflict) as refused:
        licence_accept(licence=second, actor=world.office_licensee)
    assert refused.value.code == "exclusive_conflict"
    assert first.reference in str(refused.value)
    assert first.reference in refused.value.errors["exclusivity"][0]
    second.refresh_from_db()
    assert (second.state, second.licensee_accepted_at) == ("draft", None)


def test_a_pending_licence_already_holds_its_terms(world):
    first = pending(world, **BASE)
    second = draft(world, **BASE)
    licence_accept(licence=second, actor=world.office_licensor)
    with pytest.raises(Conflict, match=first.reference):
        licence_accept(licence=second, actor=world.office_licensee)


@pytest.mark.parametrize("end", ["terminated", "expired"])
def test_an_ended_licence_no_longer_blocks(world, end):
    first = approved(world, **BASE)
    if end == "terminated":
        licence_terminate(licence=first, actor=world.jp, reason="Breach of terms.")
    else:
        Licence.objects.filter(pk=first.pk).update(state="expired")
    assert pending(world, **BASE).state == "pending"


def test_approval_refuses_an_overlap_that_reached_pending_another_way(world):
    """Licences made pending before the acceptance check (imported data): approval still
    refuses both, naming the other, so neither can stand beside the other."""
    first = draft(world, **BASE)
    second = draft(world, **BASE)
    Licence.objects.filter(pk__in=[first.pk, second.pk]).update(state="pending")

    for licence, other in ((first, second), (second, first)):
        with pytest.raises(Conflict, match=other.reference):
            licence_approve(licence=licence, actor=world.jp)
    assert not LicenceApproval.objects.exists()

    licence_terminate(licence=second, actor=world.kr, reason="Duplicate.")
    licence_approve(licence=first, actor=world.jp)
    assert licence_approve(licence=first, actor=world.kr).state == "active"


# -- suspend, resume, terminate ------------------------------------------------------------


def test_officers_suspend_and_resume_with_a_reason(world):
    licence = approved(world)
    with pytest.raises(ValidationFailed):
        licence_suspend(licence=licence, actor=world.jp, reason="  ")
    with pytest.raises(PermissionDenied):
        licence_suspend(licence=licence, actor=world.office_licensor, reason="No.")

    assert (
        licence_suspend(licence=licence, actor=world.jp, reason="Royalties unpaid.").state
        == "suspended"
    )
    with pytest.raises(Conflict):
        licence_suspend(licence=licence, actor=world.jp, reason="Again.")
    assert licence_resume(licence=licence, actor=world.kr, reason="Paid.").state == "active"
    assert actions(licence)[-2:] == ["licence.suspended", "licence.resumed"]
    event = AuditEvent.objects.filter(action="licence.suspended").get()
    assert event.after == {"state": "suspended", "reason": "Royalties unpaid."}


def test_a_draft_cannot_be_suspended_nor_an_active_licence_resumed(world):
    with pytest.raises(Conflict):
        licence_suspend(licence=draft(world), actor=world.jp, reason="x")
    with pytest.raises(Conflict):
        licence_resume(licence=approved(world), actor=world.jp, reason="x")


def test_a_suspended_licence_past_its_end_is_not_resumed(world):
    licence = approved(world, end_on=days(3).isoformat())
    licence_suspend(licence=licence, actor=world.jp, reason="Audit.")
    Licence.objects.filter(pk=licence.pk).update(end_on=days(-1), start_on=days(-20))
    with pytest.raises(Conflict) as refused:
        licence_resume(licence=licence, actor=world.jp, reason="Done.")
    assert refused.value.code == "term_ended"


def test_terminating_a_pending_licence_cancels_its_first_approval(world):
    licence = pending(world)
    licence_approve(licence=licence, actor=world.jp)

    done = licence_terminate(licence=licence, actor=world.kr, reason="Licensee withdrew.")

    assert (done.state, done.end_reason, done.ended_at is not None) == (
        "terminated",
        "Licensee withdrew.",
        True,
    )
    assert LicenceApproval.objects.get(licence=licence).state == "cancelled"
    with pytest.raises(Conflict):
        licence_terminate(licence=licence, actor=world.kr, reason="Again.")
    with pytest.raises(Conflict):
        licence_approve(licence=licence, actor=world.kr)


def test_a_party_withdraws_its_draft_but_not_a_running_licence(world):
    withdrawn = licence_terminate(
        licence=draft(world), actor=world.office_licensee, reason="No deal."
    )
    assert withdrawn.state == "terminated"
    running = approved(world)
    with pytest.raises(PermissionDenied):
        licence_terminate(licence=running, actor=world.office_licensor, reason="Changed our mind.")
    with pytest.raises(PermissionDenied):
        licence_terminate(licence=draft(world), actor=world.outsider, reason="Mine.")


# -- renewal -------------------------------------------------------------------------------


def test_a_renewal_is_a_new_linked_draft_and_the_old_licence_keeps_its_end(world):
    old = approved(world, **BASE, start_on=days(0).isoformat(), end_on=days(99).isoformat())

    renewal = licence_renew(licence=old, actor=world.office_licensee, data={"royalty_rate": "0.04"})

    old.refresh_from_db()
    assert (old.state, old.end_on) == ("active", days(99))
    assert renewal.renewal_of == old and old.renewed_by == renewal
    assert (renewal.state, renewal.start_on, renewal.end_on) == ("draft", days(100), days(199))
    assert renewal.royalty_rate == Decimal("0.04")
    assert (renewal.fields_of_use, renewal.exclusivity) == (old.fields_of_use, old.exclusivity)
    assert list(renewal.assets.all()) == list(old.assets.all())
    assert renewal.reference != old.reference
    assert actions(old)[-1] == "licence.renewed"
    # The renewal starts after the old one ends, so it does not conflict with it.
    licence_accept(licence=renewal, actor=world.office_licensor)
    assert licence_accept(licence=renewal, actor=world.office_licensee).state == "pending"
    with pytest.raises(Conflict) as twice:
        licence_renew(licence=old, actor=world.jp, data={})
    assert twice.value.code == "already_renewed"


def test_a_renewal_is_validated_like_a_new_licence(world):
    old = approved(world, end_on=days(99).isoformat())
    before = counts()
    for data, field in (
        ({"start_on": days(50).isoformat()}, "start_on"),
        ({"licensee": world.abroad.code}, "licensee"),
        ({"end_on": days(100 + 6 * 366).isoformat()}, "end_on"),
        ({"currency": "EUR"}, "currency"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            licence_renew(licence=old, actor=world.jp, data=data)
        assert field in refused.value.errors
    assert counts() == before


def test_only_a_licence_that_was_approved_is_renewed_by_its_parties(world):
    with pytest.raises(Conflict):
        licence_renew(licence=draft(world), actor=world.jp, data={})
    with pytest.raises(PermissionDenied):
        licence_renew(licence=approved(world), actor=world.outsider, data={})


def test_member_of_both_parties_accepts_for_both(world):
    both = member_of(world.licensor, research_office=True)
    from fundapp.accounts.models import Membership

    Membership.objects.create(user=both, organisation=world.licensee, research_office=True)
    licence = draft(world)
    assert licence_accept(licence=licence, actor=both).state == "pending"
    last = AuditEvent.objects.filter(action="licence.accepted").last()
    assert last is not None and last.after is not None
    assert last.after["parties"] == ["licensor", "licensee"]
