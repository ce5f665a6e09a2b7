"""Calls: the rules of creating and editing them, and their state transitions (§4)."""

from __future__ import annotations

import dataclasses
import decimal
import sys
import types
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from fundapp.accounts.models import ApiKey, User
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from projects.models import Call, CallState, ReviewCriterion
from projects.models.calls import CALL_WORKFLOW
from projects.selectors.calls import call_accepts_submissions
from projects.services.calls import (
    GATE_POLICY_FIELDS,
    CallData,
    CriterionData,
    call_archive,
    call_close,
    call_create,
    call_open,
    call_update,
    calls_open_and_close,
)
from tests.factories import (
    CallFactory,
    FundFactory,
    OrganisationFactory,
    ResearchAreaFactory,
    UserFactory,
    officer,
)

pytestmark = pytest.mark.django_db


def call_data(**overrides: Any) -> CallData:
    """A valid call opening tomorrow; override what the test is about."""
    now = timezone.now()
    values: dict[str, Any] = {
        "title_en": "Quantum communication 2026",
        "title_ja": "量子通信 2026",
        "title_ko": "양자 통신 2026",
        "research_areas": [ResearchAreaFactory.create(code="quantum.comm")],
        "opens_at": now + timedelta(days=1),
        "closes_at": now + timedelta(days=60),
        "max_budget_jpy": 200_000_000,
        "max_budget_krw": 1_800_000_000,
        "criteria": [
            CriterionData(name_en="Scientific merit", weight=Decimal("2")),
            CriterionData(name_en="Joint benefit", weight=Decimal("1.5")),
        ],
    }
    values.update(overrides)
    return CallData(**values)


def draft_call(actor=None, **overrides) -> Call:
    return call_create(
        actor=actor or officer(), fund=FundFactory.create(), data=call_data(**overrides)
    )


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- create -------------------------------------------------------------------------------


def test_officer_creates_a_draft_call_with_areas_criteria_and_an_audit_event():
    who = officer("KR")
    areas = [
        ResearchAreaFactory.create(code="green.hydrogen"),
        ResearchAreaFactory.create(code="green.grid"),
    ]

    call = call_create(actor=who, fund=FundFactory.create(), data=call_data(research_areas=areas))

    call.refresh_from_db()
    assert call.state == CallState.DRAFT
    assert sorted(a.code for a in call.research_areas.all()) == ["green.grid", "green.hydrogen"]
    assert [(c.name_en, c.weight, c.order) for c in call.criteria.all()] == [
        ("Scientific merit", Decimal("2.000"), 0),
        ("Joint benefit", Decimal("1.500"), 1),
    ]
    (event,) = events("call.created")
    assert event.actor_user_id == who.pk
    assert event.object_type == "projects.call" and event.object_id == str(call.pk)
    assert event.after is not None
    assert event.after["state"] == "draft"
    assert event.after["research_areas"] == ["green.grid", "green.hydrogen"]


def test_decimals_are_stored_exactly_whatever_the_threads_decimal_context():
    """The stored places are written in an exact context: a thread's narrow or rounding
    context (here 3 digits, rounded down) neither rounds a weight or a threshold nor makes
    the save fail."""
    data = call_data(
        criteria=[CriterionData(name_en="Scientific merit", weight=Decimal("123.125"))],
        pass_threshold=Decimal("1.0625"),
        conditional_floor=Decimal("0.7975"),
    )
    with decimal.localcontext(decimal.Context(prec=3, rounding=decimal.ROUND_DOWN)):
        call = call_create(actor=officer("JP"), fund=FundFactory.create(), data=data)

    call.refresh_from_db()
    assert [c.weight for c in call.criteria.all()] == [Decimal("123.125")]
    assert (call.pass_threshold, call.conditional_floor) == (Decimal("1.0625"), Decimal("0.7975"))


def test_call_data_defaults_are_the_model_defaults_of_section_4():
    data, blank = call_data(), Call()
    policy = ("min_stages", "max_stages", "max_project_months", *GATE_POLICY_FIELDS)
    assert {name: getattr(data, name) for name in policy} == {
        name: getattr(blank, name) for name in policy
    }


def test_text_is_stored_in_nfc_without_surrounding_blanks():
    decomposed = unicodedata.normalize("NFD", "  Café ガ  ")
    call = draft_call(title_en=decomposed)
    assert call.title_en == "Café ガ"
    assert call.title_en == unicodedata.normalize("NFC", call.title_en)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title_en": "   "}, "title_en"),
        ({"title_ja": "x" * 301}, "title_ja"),
        ({"description_ko": "nul\x00byte"}, "description_ko"),
        ({"closes_at": "same as opens"}, "closes_at"),
        ({"closes_at": "before opens"}, "closes_at"),
        ({"opens_at": datetime(2030, 1, 1, 9, 0)}, "opens_at"),  # noqa: DTZ001 - naive on purpose
        ({"min_stages": 1}, "min_stages"),
        ({"max_stages": 6}, "max_stages"),
        ({"min_stages": 4, "max_stages": 3}, "max_stages"),
        ({"max_project_months": 0}, "max_project_months"),
        ({"max_project_months": 121}, "max_project_months"),
        ({"min_stages": 3, "max_project_months": 2}, "max_project_months"),
        ({"max_budget_jpy": -1}, "max_budget_jpy"),
        ({"max_budget_krw": 10**15 + 1}, "max_budget_krw"),
        ({"max_budget_jpy": Decimal("1000.5")}, "max_budget_jpy"),
        ({"max_budget_jpy": 1000.0}, "max_budget_jpy"),
        ({"max_budget_krw": True}, "max_budget_krw"),
        ({"research_areas": []}, "research_areas"),
        ({"criteria": []}, "criteria"),
        ({"criteria": [CriterionData(name_en="Merit", weight=Decimal("0"))]}, "criteria.0.weight"),
        ({"criteria": [CriterionData(name_en="Merit", weight=Decimal("-1"))]}, "criteria.0.weight"),
        (
            {"criteria": [CriterionData(name_en="Merit", weight=Decimal("0.0001"))]},
            "criteria.0.weight",
        ),
        (
            {
                "criteria": [
                    CriterionData(name_en="Merit", weight=Decimal("1")),
                    CriterionData(name_en=" ", weight=Decimal("1")),
                ]
            },
            "criteria.1.name_en",
        ),
        ({"pass_threshold": Decimal("0")}, "pass_threshold"),
        ({"pass_threshold": Decimal("1.6")}, "pass_threshold"),
        ({"pass_threshold": Decimal("1.00001")}, "pass_threshold"),
        ({"conditional_threshold": Decimal("1.1")}, "conditional_threshold"),
        ({"conditional_floor": Decimal("1.01")}, "conditional_floor"),
        ({"bonus_rate": Decimal("-0.1")}, "bonus_rate"),
        ({"max_multiplier": Decimal("0.99")}, "max_multiplier"),
        ({"conditional_rate": Decimal("0")}, "conditional_rate"),
        ({"max_extensions": -1}, "max_extensions"),
        ({"max_extensions": 1, "max_extension_months": 0}, "max_extension_months"),
    ],
)
def test_a_broken_rule_is_refused_with_a_field_error_and_nothing_is_saved(overrides, field):
    now = timezone.now()
    if overrides.get("closes_at") == "same as opens":
        overrides = {"opens_at": now, "closes_at": now}
    elif overrides.get("closes_at") == "before opens":
        overrides = {"opens_at": now, "closes_at": now - timedelta(seconds=1)}
    data = call_data(**overrides)

    with pytest.raises(ValidationFailed) as refused:
        call_create(actor=officer(), fund=FundFactory.create(), data=data)

    assert field in refused.value.errors, refused.value.errors
    assert all(refused.value.errors[field])
    assert Call.objects.count() == 0
    assert ReviewCriterion.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_every_broken_rule_is_reported_at_once():
    with pytest.raises(ValidationFailed) as refused:
        draft_call(max_budget_jpy=-5, research_areas=[], min_stages=5, max_stages=2)
    assert {"max_budget_jpy", "research_areas", "max_stages"} <= set(refused.value.errors)


def test_the_largest_budget_allowed_is_ten_to_the_fifteenth():
    call = draft_call(max_budget_jpy=10**15, max_budget_krw=0)
    call.refresh_from_db()
    assert call.max_budget_jpy == 10**15


@pytest.mark.parametrize("who", ["researcher", "api_key", "system"])
def test_only_fund_officers_create_calls(who):
    makers: dict[str, Callable[[], User | ApiKey | None]] = {
        "researcher": lambda: UserFactory.create(),
        "api_key": lambda: ApiKey.objects.create(
            organisation=OrganisationFactory.create(), name="k", key_id="abc", secret_hash="x" * 64
        ),
        "system": lambda: None,
    }
    actor = makers[who]()
    with pytest.raises(PermissionDenied):
        call_create(actor=actor, fund=FundFactory.create(), data=call_data())
    assert Call.objects.count() == 0
    assert AuditEvent.objects.count() == 0


# --- update -------------------------------------------------------------------------------


def test_a_draft_changes_in_every_respect_and_only_the_changes_are_audited():
    call = draft_call()
    merit, joint = call.criteria.all()
    new_area = ResearchAreaFactory.create(code="quantum.sensing")
    current = CallData.from_call(call)

    updated = call_update(
        actor=officer(),
        call=call,
        data=dataclasses.replace(
            current,
            max_budget_jpy=250_000_000,
            research_areas=[new_area],
            criteria=[
                CriterionData(id=joint.id, name_en="Joint benefit", weight=Decimal("3")),
                CriterionData(name_en="Feasibility", weight=Decimal("1")),
            ],
        ),
    )

    assert updated.max_budget_jpy == 250_000_000
    assert [a.code for a in updated.research_areas.all()] == ["quantum.sensing"]
    rows = list(updated.criteria.all())
    assert [(r.name_en, r.weight, r.order) for r in rows] == [
        ("Joint benefit", Decimal("3.000"), 0),
        ("Feasibility", Decimal("1.000"), 1),
    ]
    assert rows[0].id == joint.id
    assert not ReviewCriterion.objects.filter(pk=merit.pk).exists()
    (event,) = events("call.updated")
    assert event.before is not None and event.after is not None
    assert set(event.before) == {"max_budget_jpy", "research_areas", "criteria"}
    assert event.before["max_budget_jpy"] == 200_000_000
    assert event.after["max_budget_jpy"] == 250_000_000
    assert event.after["criteria"][1]["id"] == rows[1].id


def test_saving_without_a_change_writes_nothing():
    call = draft_call()
    call_update(actor=officer(), call=call, data=CallData.from_call(call))
    assert events("call.updated") == []


def test_a_criterion_of_another_call_cannot_be_named():
    other = draft_call()
    call = draft_call()
    foreign = other.criteria.first()
    assert foreign is not None
    data = dataclasses.replace(
        CallData.from_call(call),
        criteria=[CriterionData(id=foreign.id, name_en="Stolen", weight=Decimal("1"))],
    )
    with pytest.raises(ValidationFailed) as refused:
        call_update(actor=officer(), call=call, data=data)
    assert "criteria.0.id" in refused.value.errors
    foreign.refresh_from_db()
    assert foreign.name_en == "Scientific merit"


def open_call(**overrides) -> Call:
    now = timezone.now()
    call = draft_call(
        opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=30), **overrides
    )
    return call_open(actor=officer(), call=call)


def test_an_open_call_keeps_its_published_rules():
    call = open_call()
    current = CallData.from_call(call)
    first = current.criteria[0]
    changes: list[tuple[dict[str, Any], str]] = [
        ({"max_budget_jpy": 1}, "max_budget_jpy"),
        ({"min_stages": 3}, "min_stages"),
        ({"opens_at": current.opens_at - timedelta(days=1)}, "opens_at"),
        ({"pass_threshold": Decimal("1.1")}, "pass_threshold"),
        ({"research_areas": [ResearchAreaFactory.create(code="other.area")]}, "research_areas"),
        ({"criteria": [dataclasses.replace(first, weight=Decimal("9"))]}, "criteria"),
        ({"closes_at": timezone.now() - timedelta(minutes=1)}, "closes_at"),
    ]
    for change, field in changes:
        with pytest.raises(ValidationFailed) as refused:
            call_update(actor=officer(), call=call, data=dataclasses.replace(current, **change))
        assert field in refused.value.errors, change
    assert events("call.updated") == []
    call.refresh_from_db()
    assert call.max_budget_jpy == 200_000_000


def test_an_open_call_can_be_reworded_and_its_deadline_moved_ahead():
    call = open_call()
    current = CallData.from_call(call)
    later = current.closes_at + timedelta(days=14)
    renamed = [
        dataclasses.replace(current.criteria[0], name_ja="学術的価値"),
        *current.criteria[1:],
    ]

    updated = call_update(
        actor=officer(),
        call=call,
        data=dataclasses.replace(
            current,
            title_en="Quantum communication 2026 (extended)",
            closes_at=later,
            criteria=renamed,
        ),
    )

    assert updated.closes_at == later
    assert updated.title_en.endswith("(extended)")
    first_criterion = updated.criteria.first()
    assert first_criterion is not None and first_criterion.name_ja == "学術的価値"
    (event,) = events("call.updated")
    assert event.after is not None
    assert set(event.after) == {"title_en", "closes_at", "criteria"}


def test_an_archived_call_is_frozen():
    call = open_call()
    call = call_close(actor=officer(), call=call)
    call = call_archive(actor=officer(), call=call)
    with pytest.raises(ValidationFailed) as refused:
        call_update(
            actor=officer(),
            call=call,
            data=dataclasses.replace(CallData.from_call(call), title_en="New title"),
        )
    assert "title_en" in refused.value.errors


def test_only_fund_officers_edit_calls():
    call = draft_call()
    with pytest.raises(PermissionDenied):
        call_update(
            actor=UserFactory.create(),
            call=call,
            data=dataclasses.replace(CallData.from_call(call), title_en="Mine now"),
        )
    call.refresh_from_db()
    assert call.title_en == "Quantum communication 2026"


# --- transitions --------------------------------------------------------------------------


def test_opening_sets_the_state_and_audits_who_and_what():
    now = timezone.now()
    call = draft_call(opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=1))
    who = officer("KR")

    opened = call_open(actor=who, call=call)

    assert opened.state == CallState.OPEN
    call.refresh_from_db()
    assert call.state == CallState.OPEN
    (event,) = events("call.opened")
    assert event.actor_user_id == who.pk
    assert event.before == {"state": "draft"} and event.after == {"state": "open"}


def test_a_call_opens_only_inside_its_window():
    now = timezone.now()
    early = draft_call(opens_at=now + timedelta(hours=1), closes_at=now + timedelta(days=1))
    late = draft_call(opens_at=now - timedelta(days=2), closes_at=now - timedelta(days=1))
    for call in (early, late):
        with pytest.raises(Conflict):
            call_open(actor=officer(), call=call)
        call.refresh_from_db()
        assert call.state == CallState.DRAFT
    assert events("call.opened") == []


@pytest.mark.parametrize("source", list(CallState))
@pytest.mark.parametrize(
    ("service", "target"),
    [
        (call_open, CallState.OPEN),
        (call_close, CallState.CLOSED),
        (call_archive, CallState.ARCHIVED),
    ],
)
def test_transitions_follow_the_table(source, service, target):
    now = timezone.now()
    call = CallFactory.create(
        state=source, opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=1)
    )
    allowed = CALL_WORKFLOW.allows(source, target)

    if allowed:
        assert service(actor=officer(), call=call).state == target
        assert AuditEvent.objects.filter(object_id=str(call.pk)).count() == 1
    else:
        with pytest.raises(Conflict):
            service(actor=officer(), call=call)
        call.refresh_from_db()
        assert call.state == source
        assert AuditEvent.objects.count() == 0


def test_only_fund_officers_move_calls():
    call = CallFactory.create(state=CallState.OPEN)
    with pytest.raises(PermissionDenied):
        call_close(actor=UserFactory.create(), call=call)
    call.refresh_from_db()
    assert call.state == CallState.OPEN


@pytest.fixture
def proposals_hook(monkeypatch):
    """Stand in for projects.services.proposals.proposals_close_for_call."""
    calls: list[tuple[int, str]] = []
    module = types.ModuleType("projects.services.proposals")

    def proposals_close_for_call(*, call):
        calls.append((call.pk, Call.objects.get(pk=call.pk).state))

    module.proposals_close_for_call = proposals_close_for_call  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "projects.services.proposals", module)
    return module, calls


def test_closing_settles_the_proposals_in_the_same_transaction(proposals_hook):
    _module, seen = proposals_hook
    call = CallFactory.create(state=CallState.OPEN)

    call_close(actor=officer(), call=call)

    assert seen == [(call.pk, CallState.CLOSED)]


def test_when_settling_the_proposals_fails_the_call_stays_open(proposals_hook):
    module, _seen = proposals_hook

    def broken(*, call):
        raise RuntimeError("proposals unavailable")

    module.proposals_close_for_call = broken
    call = CallFactory.create(state=CallState.OPEN)

    with pytest.raises(RuntimeError):
        call_close(actor=officer(), call=call)

    call.refresh_from_db()
    assert call.state == CallState.OPEN
    assert events("call.closed") == []


# --- by the clock -------------------------------------------------------------------------


def test_the_clock_opens_and_closes_calls_at_the_boundary_and_only_once():
    now = timezone.now()
    tick = timedelta(microseconds=1)
    due_to_open = CallFactory.create(
        state=CallState.DRAFT, opens_at=now, closes_at=now + timedelta(days=1)
    )
    not_yet_open = CallFactory.create(
        state=CallState.DRAFT, opens_at=now + tick, closes_at=now + timedelta(days=1)
    )
    missed = CallFactory.create(
        state=CallState.DRAFT, opens_at=now - timedelta(days=2), closes_at=now
    )
    due_to_close = CallFactory.create(
        state=CallState.OPEN, opens_at=now - timedelta(days=2), closes_at=now
    )
    still_open = CallFactory.create(
        state=CallState.OPEN, opens_at=now - timedelta(days=2), closes_at=now + tick
    )

    summary = calls_open_and_close(now=now)

    assert summary.opened == (due_to_open.pk,)
    assert summary.closed == (due_to_close.pk,)
    assert summary.failed == ()
    states = dict(Call.objects.values_list("pk", "state"))
    assert states == {
        due_to_open.pk: CallState.OPEN,
        not_yet_open.pk: CallState.DRAFT,
        missed.pk: CallState.DRAFT,
        due_to_close.pk: CallState.CLOSED,
        still_open.pk: CallState.OPEN,
    }
    closed_event = events("call.closed")[0]
    assert closed_event.actor_user_id is None and closed_event.actor_api_key_id is None
    assert closed_event.actor_label == "system"

    again = calls_open_and_close(now=now)

    assert again.opened == () and again.closed == ()
    assert AuditEvent.objects.count() == 2


def test_one_failing_call_does_not_hold_up_the_others(proposals_hook):
    module, _seen = proposals_hook
    now = timezone.now()
    first = CallFactory.create(
        state=CallState.OPEN, opens_at=now - timedelta(days=2), closes_at=now
    )
    second = CallFactory.create(
        state=CallState.OPEN, opens_at=now - timedelta(days=2), closes_at=now
    )

    def fails_for_first(*, call):
        if call.pk == first.pk:
            raise RuntimeError("boom")

    module.proposals_close_for_call = fails_for_first

    summary = calls_open_and_close(now=now)

    assert summary.failed == (first.pk,)
    assert summary.closed == (second.pk,)
    first.refresh_from_db()
    assert first.state == CallState.OPEN  # retried on the next run


# --- accepting submissions ----------------------------------------------------------------


def test_a_call_accepts_submissions_by_the_server_clock_only():
    now = timezone.now()
    call = CallFactory.create(state=CallState.OPEN, opens_at=now - timedelta(days=1), closes_at=now)
    assert call_accepts_submissions(call, now - timedelta(microseconds=1))
    assert not call_accepts_submissions(call, now)  # the deadline itself is too late
    assert not call_accepts_submissions(call, call.opens_at - timedelta(microseconds=1))
    assert call_accepts_submissions(call, call.opens_at)
    call.state = CallState.CLOSED
    assert not call_accepts_submissions(call, now - timedelta(hours=1))
