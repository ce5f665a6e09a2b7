"""Sublicences (§23): granted by the licensee inside the parent's scope, consented to by the
licensor, screened where §11 asks, ending with the parent — through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import translation
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.notifications.models import Notification, OutboxEvent
from fundapp.screening.models import ScreeningCase
from fundapp.screening.services import screening_case_decide
from ip_licensing import rules
from ip_licensing.models import ConsentState, Licence, LicenceState, SublicenceConsent
from ip_licensing.selectors import licences_visible_to
from ip_licensing.services.licences import (
    licence_approve,
    licence_renew,
    licence_suspend,
    licence_terminate,
    licences_activate_and_expire,
)
from ip_licensing.services.royalties import royalty_report_submit
from ip_licensing.services.sublicences import (
    sublicence_consent,
    sublicence_grant,
    sublicence_refuse,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.factories.licensing import (
    World,
    days,
    make_licence,
    make_sublicence,
    make_world,
    sublicence_terms,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def world(db) -> World:
    return make_world()


@pytest.fixture
def parent(world) -> Licence:
    return make_licence(world, sublicensable=True, sublicence_share_bp=2500)


def actions(licence: Licence) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="ip_licensing.licence", object_id=str(licence.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_a_granted_sublicence_waits_for_the_licensors_consent(world, parent):
    sub = sublicence_grant(
        parent=parent, actor=world.office_licensee, data=sublicence_terms(world.other)
    )

    sub.refresh_from_db()
    assert sub.state == LicenceState.PENDING
    assert sub.parent_id == parent.pk
    assert (sub.licensor_id, sub.licensee_id) == (world.licensee.pk, world.other.pk)
    assert sub.currency == parent.currency and sub.royalty_rate == 0
    assert sub.consent.state == ConsentState.REQUESTED
    assert actions(sub) == ["licence.created", "sublicence.requested"]
    told = Notification.objects.filter(user=world.office_licensor)
    assert told.filter(params__parent=parent.pk).count() == 1
    assert not OutboxEvent.objects.filter(kind="sublicence.granted").exists()


def test_consent_grants_it_and_tells_everyone(world, parent):
    sub = make_sublicence(world, parent, state="pending")

    sub = sublicence_consent(sublicence=sub, actor=world.office_licensor)

    sub.refresh_from_db()
    assert sub.state == LicenceState.ACTIVE  # its start has come
    assert sub.approved_at is not None and sub.activated_at is not None
    consent = SublicenceConsent.objects.get(sublicence=sub)
    assert consent.state == ConsentState.CONSENTED
    assert consent.decided_by == world.office_licensor
    assert actions(sub)[-1] == "sublicence.granted"
    event = OutboxEvent.objects.get(kind="sublicence.granted")
    assert event.payload["parent"] == parent.pk and event.payload["id"] == sub.pk
    assert set(event.organisation_ids) == {world.licensor.pk, world.licensee.pk, world.other.pk}
    told = set(
        Notification.objects.filter(params__reference=sub.pk, kind="licence_approved").values_list(
            "user", flat=True
        )
    )
    assert {world.office_licensor.pk, world.office_licensee.pk, world.office_other.pk} <= told


def test_a_sublicence_starting_later_is_approved_until_its_start(world, parent):
    sub = make_sublicence(world, parent, state="pending", start_on=days(20).isoformat())
    sub = sublicence_consent(sublicence=sub, actor=world.jp)  # a fund officer may consent
    assert sub.state == LicenceState.APPROVED
    licences_activate_and_expire(today=days(20))
    sub.refresh_from_db()
    assert sub.state == LicenceState.ACTIVE


def test_refusal_terminates_it_with_the_reason(world, parent):
    sub = make_sublicence(world, parent, state="pending")
    with pytest.raises(ValidationFailed):
        sublicence_refuse(sublicence=sub, actor=world.office_licensor, reason=" ")

    sub = sublicence_refuse(sublicence=sub, actor=world.office_licensor, reason="Not this one.")

    assert sub.state == LicenceState.TERMINATED and sub.end_reason == "Not this one."
    assert SublicenceConsent.objects.get(sublicence=sub).state == ConsentState.REFUSED
    assert actions(sub)[-1] == "sublicence.refused"
    with pytest.raises(Conflict) as decided:
        sublicence_consent(sublicence=sub, actor=world.office_licensor)
    assert decided.value.code == "consent_decided"


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ({"territories": ["JP", "US"]}, "territories", "Territory US is not in the parent"),
        ({"territories": ["WW"]}, "territories", "Territory WW is not in the parent"),
        ({"fields_of_use": ["semiconductor.memory"]}, "fields_of_use", "semiconductor.memory"),
        ({"fields_of_use": ["semiconductor"]}, "fields_of_use", "semiconductor is not"),
        ({"purposes": ["research", "sale"]}, "purposes", "Purpose sale is not"),
        ({"end_on": days(301).isoformat()}, "end_on", days(300).isoformat()),
        ({"start_on": days(-31).isoformat()}, "start_on", days(-30).isoformat()),
        ({"exclusivity": "exclusive"}, "exclusivity", "non-exclusive licence cannot"),
    ],
)
def test_anything_outside_the_parent_is_refused_naming_it(world, parent, override, field, words):
    before = Licence.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        sublicence_grant(
            parent=parent,
            actor=world.office_licensee,
            data=sublicence_terms(world.other, **override),
        )
    assert set(refused.value.errors) == {field}
    assert words in refused.value.errors[field][0]
    assert Licence.objects.count() == before


def test_an_asset_the_parent_does_not_license_is_refused(world, parent):
    with pytest.raises(ValidationFailed) as refused:
        sublicence_grant(
            parent=parent,
            actor=world.office_licensee,
            data=sublicence_terms(world.other, assets=[world.asset2.pk]),
        )
    assert refused.value.errors["assets"] == [
        f"Asset {world.asset2.pk} is not licensed by the parent licence."
    ]


def test_the_refusal_is_translated(world, parent):
    with translation.override("ja"), pytest.raises(ValidationFailed) as refused:
        sublicence_grant(
            parent=parent,
            actor=world.office_licensee,
            data=sublicence_terms(world.other, territories=["KR", "CN"]),
        )
    message = refused.value.errors["territories"][0]
    assert "CN" in message and "Territory" not in message


def test_only_a_sublicensable_licence_in_force_takes_sublicences(world):
    plain = make_licence(world)
    with pytest.raises(PermissionDenied):
        sublicence_grant(
            parent=plain, actor=world.office_licensee, data=sublicence_terms(world.other)
        )
    suspended = make_licence(world, state="suspended", sublicensable=True, assets=[world.asset2])
    with pytest.raises(Conflict) as refused:
        sublicence_grant(
            parent=suspended, actor=world.office_licensee, data=sublicence_terms(world.other)
        )
    assert refused.value.code == "parent_not_in_force"


@pytest.mark.parametrize("who", ["office_licensor", "office_other", "outsider", "jp"])
def test_only_the_licensee_grants(world, parent, who):
    with pytest.raises(PermissionDenied):
        sublicence_grant(
            parent=parent, actor=getattr(world, who), data=sublicence_terms(world.other)
        )


@pytest.mark.parametrize("who", ["office_licensee", "office_other", "outsider"])
def test_only_the_licensor_or_an_officer_decides_consent(world, parent, who):
    sub = make_sublicence(world, parent, state="pending")
    with pytest.raises(PermissionDenied):
        sublicence_consent(sublicence=sub, actor=getattr(world, who))
    with pytest.raises(PermissionDenied):
        sublicence_refuse(sublicence=sub, actor=getattr(world, who), reason="No.")
    assert SublicenceConsent.objects.get(sublicence=sub).state == ConsentState.REQUESTED


def test_the_sublicensee_is_not_a_party_of_the_parent(world, parent):
    for party in (world.licensor, world.licensee):
        with pytest.raises(ValidationFailed) as refused:
            sublicence_grant(
                parent=parent, actor=world.office_licensee, data=sublicence_terms(party)
            )
        assert "licensee" in refused.value.errors


def test_a_sublicensee_abroad_is_screened_before_consent(world, parent):
    abroad = OrganisationFactory.create(code="US-ACME-01", country="US", kind="company")
    sub = make_sublicence(world, parent, state="pending", sublicensee=abroad)
    case = ScreeningCase.objects.get(subject_type="licence", subject_id=sub.pk)
    assert case.state == "open"
    with pytest.raises(Conflict) as waiting:
        sublicence_consent(sublicence=sub, actor=world.office_licensor)
    assert waiting.value.code == "screening_pending"

    officer = UserFactory.create(role="screening_officer")
    screening_case_decide(case=case, actor=officer, decision="clear", reason="Not listed.")
    assert sublicence_consent(sublicence=sub, actor=world.office_licensor).state == "active"


def test_officers_do_not_approve_a_sublicence_and_it_is_not_renewed(world, parent):
    sub = make_sublicence(world, parent, state="pending")
    with pytest.raises(Conflict):
        licence_approve(licence=sub, actor=world.jp)
    active = sublicence_consent(sublicence=sub, actor=world.office_licensor)
    with pytest.raises(Conflict):
        licence_renew(licence=active, actor=world.office_licensee, data={})


def test_a_sublicence_takes_no_royalty_report(world, parent):
    sub = make_sublicence(world, parent)
    with pytest.raises(Conflict) as refused:
        royalty_report_submit(
            licence=sub, actor=world.office_other, quarter="2026-Q1", net_sales=1000
        )
    assert refused.value.code == "sublicence"


def test_terminating_the_parent_terminates_its_sublicences_in_the_same_transaction(world, parent):
    active = make_sublicence(world, parent)
    pending = make_sublicence(world, parent, state="pending", sublicensee=world.unrelated)

    licence_terminate(licence=parent, actor=world.jp, reason="Breach of the territory clause.")

    active.refresh_from_db()
    pending.refresh_from_db()
    assert active.state == pending.state == LicenceState.TERMINATED
    assert "Breach of the territory clause." in active.end_reason
    assert SublicenceConsent.objects.get(sublicence=pending).state == ConsentState.CANCELLED
    assert actions(active)[-1] == "licence.terminated"
    assert OutboxEvent.objects.filter(kind="licence.terminated", object_id=str(active.pk)).exists()
    assert "sublicence.ended_with_parent" in actions(parent)


def test_a_suspended_parent_keeps_its_sublicences_but_consent_waits(world, parent):
    sub = make_sublicence(world, parent, state="pending")
    licence_suspend(licence=parent, actor=world.jp, reason="Reports overdue.")
    with pytest.raises(Conflict) as refused:
        sublicence_consent(sublicence=sub, actor=world.office_licensor)
    assert refused.value.code == "parent_not_in_force"


def test_sublicences_expire_with_the_parent(world, parent):
    sub = make_sublicence(world, parent, end_on=parent.end_on.isoformat())
    licences_activate_and_expire(today=parent.end_on + timedelta(days=1))
    sub.refresh_from_db()
    parent.refresh_from_db()
    assert parent.state == sub.state == LicenceState.EXPIRED


def test_exclusive_siblings_do_not_overlap(world):
    parent = make_licence(world, sublicensable=True, exclusivity="exclusive")
    first = make_sublicence(world, parent, exclusivity="exclusive")
    with pytest.raises(Conflict) as refused:
        make_sublicence(world, parent, sublicensee=world.unrelated)
    assert first.reference in refused.value.message
    # elsewhere in the parent's territory there is room
    make_sublicence(world, parent, sublicensee=world.unrelated, territories=["KR"])


def test_who_sees_a_sublicence(world, parent):
    sub = make_sublicence(world, parent)
    for person in (world.office_licensor, world.office_licensee, world.office_other, world.jp):
        assert licences_visible_to(person).filter(pk=sub.pk).exists(), person
    assert not licences_visible_to(world.outsider).filter(pk=sub.pk).exists()


# --------------------------------------------------------------------------- property

_FIELDS = ["semiconductor", "semiconductor.ai", "semiconductor.ai.edge", "semiconductor.memory"]
_scope = st.fixed_dictionaries(
    {
        "fields_of_use": st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=2, unique=True),
        "purposes": st.lists(
            st.sampled_from(["research", "development", "sale"]), min_size=1, unique=True
        ),
        "territories": st.lists(
            st.sampled_from(["JP", "KR", "US", "WW"]), min_size=1, max_size=2, unique=True
        ),
        "start": st.integers(-40, 10),
        "end": st.integers(250, 320),
    }
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scope=_scope)
def test_whatever_the_service_accepts_lies_inside_the_parent(world, parent, scope):
    """Parent: semiconductor.ai, research and development, JP and KR, days −30 to 300."""
    data = sublicence_terms(
        world.other,
        fields_of_use=scope["fields_of_use"],
        purposes=scope["purposes"],
        territories=scope["territories"],
        start_on=days(scope["start"]).isoformat(),
        end_on=days(scope["end"]).isoformat(),
    )
    with transaction.atomic():
        try:
            sub = sublicence_grant(parent=parent, actor=world.office_licensee, data=data)
        except ValidationFailed as refused:
            assert set(refused.errors) <= {
                "fields_of_use",
                "purposes",
                "territories",
                "start_on",
                "end_on",
            }
            event("refused")
        else:
            event("granted")
            assert all(
                any(rules.field_covers(p, f) for p in parent.fields_of_use)
                for f in sub.fields_of_use
            )
            assert set(sub.purposes) <= set(parent.purposes)
            assert set(sub.territories) <= set(parent.territories)
            assert parent.start_on <= sub.start_on <= sub.end_on <= parent.end_on
        transaction.set_rollback(True)
