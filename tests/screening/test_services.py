"""Opening, merging, deciding and the clearance of screening cases (§11, §12)."""

from __future__ import annotations

import pytest

from fundapp.audit.models import AuditEvent
from fundapp.audit.services import verify_chain
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.screening.models import RestrictedParty, ScreeningCase, ScreeningState
from fundapp.screening.services import (
    screening_case_decide,
    screening_case_decided,
    screening_case_open,
    screening_clearance,
)

from .conftest import load_list, open_case, party

pytestmark = pytest.mark.django_db


def actions(case: ScreeningCase) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="screening.screeningcase", object_id=str(case.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# -- opening ---------------------------------------------------------------------------------


def test_open_creates_a_case_with_reasons_and_an_audit_event():
    case = open_case(
        reasons=[{"code": "controlled_area", "detail": "semiconductor.ai"}, {"code": "dual_use"}],
        parties=[party(1, "Kyoto University"), party(2, "MIT", country="us")],
    )

    assert case.state == ScreeningState.OPEN
    assert case.subject_type == "proposal" and case.subject_id == 1
    assert case.subject_label == "Proposal 1" and case.subject_url == "/proposals/1/"
    assert case.reasons == [
        {"code": "controlled_area", "detail": "semiconductor.ai"},
        {"code": "dual_use", "detail": ""},
    ]
    assert case.matches == []
    assert [p["country"] for p in case.parties] == ["JP", "US"]
    assert actions(case) == ["screening.case_opened"]
    event = AuditEvent.objects.get(action="screening.case_opened")
    assert event.after is not None
    assert event.actor_label == "system" and event.after["state"] == "open"


def test_no_reason_and_no_match_means_no_case():
    assert open_case(reasons=[], parties=[party(1, "Kyoto University")]) is None
    assert ScreeningCase.objects.count() == 0
    assert screening_clearance(subject_type="proposal", subject_id=1) == "not_required"


def test_a_match_alone_opens_a_case(restricted_list):
    case = open_case(reasons=[], parties=[party(1, "㈱東洋電子")])

    assert case is not None and case.state == ScreeningState.OPEN
    assert [r["code"] for r in case.reasons] == ["restricted_party_match"]


def test_open_is_idempotent_per_subject(restricted_list):
    first = open_case(parties=[party(1, "東洋電子")])
    events = AuditEvent.objects.count()

    again = open_case(parties=[party(1, "東洋電子")])

    assert again.pk == first.pk
    assert ScreeningCase.objects.count() == 1
    assert AuditEvent.objects.count() == events  # nothing new, nothing written
    assert again.reasons == first.reasons and again.matches == first.matches


def test_reopening_an_open_case_merges_new_reasons_and_matches(restricted_list):
    case = open_case(reasons=[{"code": "dual_use"}], parties=[party(1, "Kyoto University")])

    merged = open_case(
        reasons=[{"code": "partner_outside_jp_kr", "detail": "US"}, {"code": "dual_use"}],
        parties=[party(2, "Northwind Dynamics LLC", country="US")],
    )

    assert merged.pk == case.pk
    assert [r["code"] for r in merged.reasons] == [
        "dual_use",
        "partner_outside_jp_kr",
        "restricted_party_match",
    ]
    assert [m["organisation"] for m in merged.matches] == [2]
    assert [p["organisation_id"] for p in merged.parties] == [1, 2]
    assert actions(case) == ["screening.case_opened", "screening.case_updated"]


def test_same_subject_id_of_another_type_is_another_case():
    a = open_case(subject_id=5, subject_type="proposal")
    b = open_case(subject_id=5, subject_type="licence")

    assert a.pk != b.pk


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"subject_type": "Proposal!"}, "subject_type"),
        ({"subject_id": 0}, "subject_id"),
        ({"subject_id": True}, "subject_id"),
        ({"subject_url": "javascript:alert(1)"}, "subject_url"),
        ({"subject_url": "//evil.example/"}, "subject_url"),
        ({"reasons": [{"code": "Bad Code"}]}, "reasons.0.code"),
        ({"parties": [{"name": "X"}]}, "parties.0.organisation_id"),
        ({"parties": [{"organisation_id": 1, "name": " "}]}, "parties.0.name"),
        ({"parties": [{"organisation_id": 1, "name": "X", "aliases": "Y"}]}, "parties.0.aliases"),
    ],
)
def test_open_refuses_bad_input(kwargs, field):
    base = {
        "subject_type": "proposal",
        "subject_id": 1,
        "reasons": [{"code": "dual_use"}],
        "parties": [],
    }
    with pytest.raises(ValidationFailed) as excinfo:
        screening_case_open(**{**base, **kwargs})
    assert field in excinfo.value.errors
    assert ScreeningCase.objects.count() == 0


# -- clearance -------------------------------------------------------------------------------


def test_clearance_follows_the_case(screener):
    assert screening_clearance(subject_type="proposal", subject_id=1) == "not_required"
    case = open_case()
    assert screening_clearance(subject_type="proposal", subject_id=1) == "open"
    screening_case_decide(case=case, actor=screener, decision="clear", reason="Civil use only.")
    assert screening_clearance(subject_type="proposal", subject_id=1) == "cleared"

    other = open_case(subject_id=2)
    screening_case_decide(
        case=other, actor=screener, decision="block", reason="End user of concern."
    )
    assert screening_clearance(subject_type="proposal", subject_id=2) == "blocked"
    assert screening_clearance(subject_type="licence", subject_id=2) == "not_required"


# -- deciding --------------------------------------------------------------------------------


def test_screening_officer_clears_with_reason_and_it_is_audited(screener):
    case = open_case()
    sent = []
    screening_case_decided.connect(lambda **kw: sent.append(kw), weak=False, dispatch_uid="t1")
    try:
        decided = screening_case_decide(
            case=case, actor=screener, decision="clear", reason="  Civil application only.  "
        )
    finally:
        screening_case_decided.disconnect(dispatch_uid="t1")

    assert decided.state == ScreeningState.CLEARED
    assert decided.decided_by == screener and decided.decided_at is not None
    assert decided.decision_reason == "Civil application only."
    case.refresh_from_db()
    assert case.state == ScreeningState.CLEARED
    event = AuditEvent.objects.get(action="screening.case_cleared")
    assert event.actor_user == screener
    assert event.before == {"state": "open"}
    assert event.after == {"state": "cleared", "decision_reason": "Civil application only."}
    assert verify_chain().ok
    # pytest-django runs the test in a transaction that never commits: no signal yet.
    assert sent == []


def test_decided_signal_is_sent_after_commit(screener, django_capture_on_commit_callbacks):
    case = open_case()
    sent = []
    screening_case_decided.connect(lambda **kw: sent.append(kw), weak=False, dispatch_uid="t2")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            screening_case_decide(case=case, actor=screener, decision="block", reason="Listed.")
    finally:
        screening_case_decided.disconnect(dispatch_uid="t2")

    assert len(sent) == 1
    assert sent[0]["case_id"] == case.pk and sent[0]["state"] == "blocked"
    assert (sent[0]["subject_type"], sent[0]["subject_id"]) == ("proposal", 1)


def test_clearing_a_match_records_the_false_positive(restricted_list, screener):
    case = open_case(parties=[party(3, "Toyo Denshi Ltd")])

    with pytest.raises(ValidationFailed) as excinfo:
        screening_case_decide(case=case, actor=screener, decision="clear", reason="")
    assert "false positive" in str(excinfo.value.errors["reason"][0])

    screening_case_decide(
        case=case,
        actor=screener,
        decision="clear",
        reason="False positive: our partner is Toyo Denshi of Sendai, not the listed Osaka firm.",
    )
    event = AuditEvent.objects.get(action="screening.case_cleared")
    assert event.after is not None
    assert event.after["false_positive_matches"] == [case.matches[0]["party_id"]]


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reason_is_required(screener, reason):
    case = open_case()
    with pytest.raises(ValidationFailed) as excinfo:
        screening_case_decide(case=case, actor=screener, decision="block", reason=reason)
    assert "reason" in excinfo.value.errors
    case.refresh_from_db()
    assert case.state == ScreeningState.OPEN
    assert actions(case) == ["screening.case_opened"]


def test_unknown_decision_is_refused(screener):
    case = open_case()
    with pytest.raises(ValidationFailed) as excinfo:
        screening_case_decide(case=case, actor=screener, decision="approve", reason="x")
    assert "decision" in excinfo.value.errors


@pytest.mark.parametrize("who", ["researcher", "fund_officer", "finance_officer"])
def test_only_screening_officers_decide(request, who):
    actor = request.getfixturevalue(who)
    case = open_case()

    with pytest.raises(PermissionDenied):
        screening_case_decide(case=case, actor=actor, decision="clear", reason="Looks fine.")

    case.refresh_from_db()
    assert case.state == ScreeningState.OPEN and case.decided_by is None


def test_api_keys_do_not_decide(screener):
    from fundapp.accounts.models import ApiKey
    from tests.factories import jp_org

    key = ApiKey.objects.create(
        organisation=jp_org(), name="k", key_id="abc", secret_hash="x", scopes=[]
    )
    with pytest.raises(PermissionDenied):
        screening_case_decide(case=open_case(), actor=key, decision="clear", reason="x")


def test_admins_may_decide(admin_user):
    decided = screening_case_decide(
        case=open_case(), actor=admin_user, decision="clear", reason="Operator override."
    )
    assert decided.state == ScreeningState.CLEARED


def test_inactive_screening_officer_may_not_decide(screener):
    screener.is_active = False
    screener.save()
    with pytest.raises(PermissionDenied):
        screening_case_decide(case=open_case(), actor=screener, decision="clear", reason="x")


def test_a_blocked_case_is_final(restricted_list, screener, second_screener):
    case = open_case(parties=[party(1, "Kyoto University")])
    screening_case_decide(
        case=case, actor=screener, decision="block", reason="End user of concern."
    )

    for decision in ("clear", "block"):
        with pytest.raises(Conflict, match="final"):
            screening_case_decide(
                case=case, actor=second_screener, decision=decision, reason="Second thoughts."
            )
    # Nothing reopens it: not new reasons, not new matches.
    again = open_case(
        reasons=[{"code": "controlled_area"}], parties=[party(9, "Northwind Dynamics")]
    )
    assert again.pk == case.pk and again.state == ScreeningState.BLOCKED
    assert again.matches == [] and [r["code"] for r in again.reasons] == ["dual_use"]
    assert screening_clearance(subject_type="proposal", subject_id=1) == "blocked"
    assert actions(case) == ["screening.case_opened", "screening.case_blocked"]


def test_a_cleared_case_cannot_be_decided_again(screener):
    case = open_case()
    screening_case_decide(case=case, actor=screener, decision="clear", reason="Fine.")
    with pytest.raises(Conflict):
        screening_case_decide(case=case, actor=screener, decision="block", reason="Changed mind.")


# -- decided cases and new input ---------------------------------------------------------------


def test_cleared_case_stays_cleared_without_new_matches(restricted_list, screener):
    case = open_case(parties=[party(1, "Toyo Denshi Ltd")])
    screening_case_decide(case=case, actor=screener, decision="clear", reason="False positive.")

    again = open_case(
        reasons=[{"code": "partner_outside_jp_kr"}], parties=[party(1, "Toyo Denshi Ltd")]
    )

    assert again.pk == case.pk and again.state == ScreeningState.CLEARED
    assert screening_clearance(subject_type="proposal", subject_id=1) == "cleared"
    assert actions(case) == ["screening.case_opened", "screening.case_cleared"]


def test_new_match_supersedes_a_cleared_case_with_a_new_open_one(restricted_list, screener):
    case = open_case(parties=[party(1, "Toyo Denshi Ltd")])
    screening_case_decide(case=case, actor=screener, decision="clear", reason="False positive.")

    reopened = open_case(
        parties=[party(1, "Toyo Denshi Ltd"), party(2, "Northwind Dynamics", country="US")]
    )

    assert reopened.pk != case.pk
    assert reopened.state == ScreeningState.OPEN and reopened.previous_id == case.pk
    assert sorted(m["organisation"] for m in reopened.matches) == [1, 2]
    case.refresh_from_db()
    assert case.state == ScreeningState.SUPERSEDED
    assert case.decision_reason == "False positive." and case.decided_by == screener
    assert screening_clearance(subject_type="proposal", subject_id=1) == "open"
    assert actions(case) == [
        "screening.case_opened",
        "screening.case_cleared",
        "screening.case_superseded",
    ]
    assert actions(reopened) == ["screening.case_opened"]
    event = AuditEvent.objects.get(action="screening.case_opened", object_id=str(reopened.pk))
    assert event.after is not None and event.after["previous"] == case.pk


def test_a_party_listed_after_clearance_reopens_screening(screener):
    case = open_case(parties=[party(1, "Sendai Photonics K.K.")])
    screening_case_decide(case=case, actor=screener, decision="clear", reason="Civil use.")
    load_list(
        "name,aliases,country,source\n仙台フォトニクス株式会社,Sendai Photonics,JP,New list\n"
    )

    reopened = open_case(parties=[party(1, "Sendai Photonics K.K.")])

    assert reopened.state == ScreeningState.OPEN and reopened.previous_id == case.pk
    assert reopened.matches[0]["party_name"] == "仙台フォトニクス株式会社"


def test_database_allows_one_live_case_per_subject():
    from django.db import IntegrityError, transaction

    open_case()
    with pytest.raises(IntegrityError), transaction.atomic():
        ScreeningCase.objects.create(
            subject_type="proposal", subject_id=1, subject_label="dup", reasons=[]
        )
    assert RestrictedParty.objects.count() == 0


def test_another_name_of_a_cleared_pair_is_not_a_new_match(restricted_list, screener):
    case = open_case(parties=[party(1, "Toyo Denshi Ltd")])
    screening_case_decide(case=case, actor=screener, decision="clear", reason="False positive.")

    again = open_case(parties=[party(1, "Toyo Denshi Ltd", "東洋電子株式会社")])

    assert again.pk == case.pk and again.state == ScreeningState.CLEARED
