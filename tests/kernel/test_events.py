"""One registry of event types (§12, §13.2): every type reads as a sentence in Japanese and
Korean, every outbox type's data has a schema its example meets, and nothing unregistered
can be written to the audit trail or the outbox."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from django.apps import apps
from django.conf import settings
from django.utils import translation

from fundapp.audit.models import AuditEvent
from fundapp.audit.services import (
    AuditEntry,
    audit_record,
    audit_record_many,
    audit_record_many_parts,
)
from fundapp.kernel.approvals import TwoPersonDecision
from fundapp.kernel.events import (
    ENVELOPE_SCHEMA,
    EventType,
    UnregisteredEventType,
    Visibility,
    event_sentence,
    event_type,
    event_type_get,
    event_type_register,
    event_types,
    event_types_declare,
    event_types_registered,
)
from fundapp.notifications.models import OutboxEvent
from fundapp.notifications.outbox import Event, event_record, event_record_many
from tests.events import is_test_type

# §13.2: the event types partner systems may subscribe to.
SPEC_OUTBOX_TYPES = {
    "proposal.submitted",
    "proposal.eligibility_decided",
    "proposal.withdrawn",
    "review.assigned",
    "award.decided",
    "project.created",
    "project.state_changed",
    "measurement.created",
    "measurement.rejected",
    "gate.evaluated",
    "gate.decision_needed",
    "gate.decided",
    # §22 adds (anomaly flags on a gate):
    "gate.flagged",
    "tranche.released",
    "disbursement.confirmed",
    "licence.pending",
    "licence.approved",
    "licence.activated",
    "licence.expiring",
    "licence.expired",
    "licence.suspended",
    "licence.terminated",
    "royalty.posted",
}

# The values the f-string actions can take (proposal.{target}, stage.{target},
# screening.case_{state}).
FORMATTED_ACTIONS = {
    "proposal.eligible",
    "proposal.ineligible",
    "proposal.awarded",
    "proposal.rejected",
    "stage.passed",
    "stage.conditional",
    "screening.case_cleared",
    "screening.case_blocked",
}


def domain_types() -> list[EventType]:
    return [t for t in event_types() if not is_test_type(t.name)]


def placeholders(text: str) -> set[str]:
    return {name for _t, name, _s, _c in string.Formatter().parse(text) if name}


def test_every_action_written_in_the_code_is_registered():
    written: set[str] = set(FORMATTED_ACTIONS)
    # The two-person component writes ``<audit_kind>.<verb>`` for every decision model.
    written |= {
        f"{model.audit_kind}.{verb}"
        for model in apps.get_models()
        if issubclass(model, TwoPersonDecision)
        for verb in ("approved", "completed", "withdrawn", "declined")
    }
    pattern = re.compile(r'action(?:=|, change = )"([a-z_]+\.[a-z_]+)"')
    for app in ("fundapp", "projects", "ip_licensing", "mobility"):
        for path in (Path(settings.BASE_DIR) / app).rglob("*.py"):
            written |= set(pattern.findall(path.read_text(encoding="utf-8")))
    assert len(written) > 80
    registered = {t.name for t in domain_types()}
    assert written - registered == set()


def test_every_spec_event_is_a_registered_outbox_type():
    outbox = {t.name for t in domain_types() if t.outbox}
    assert SPEC_OUTBOX_TYPES - outbox == set()


@pytest.mark.parametrize("event_type_name", [t.name for t in domain_types()])
def test_each_type_reads_as_a_translated_sentence_in_japanese_and_korean(event_type_name):
    registered = event_type(event_type_name)
    with translation.override("en"):
        english = str(registered.sentence)
    sentences = {}
    for language in ("ja", "ko"):
        with translation.override(language):
            sentences[language] = str(registered.sentence)
        assert sentences[language] != english, (language, english)
        # The same placeholders: a translation never loses a name, amount or date.
        assert placeholders(sentences[language]) == placeholders(english), language
    assert sentences["ja"] != sentences["ko"]
    if registered.short is not None:
        with translation.override("en"):
            short = str(registered.short)
        for language in ("ja", "ko"):
            with translation.override(language):
                assert str(registered.short) != short, (language, short)


@pytest.mark.parametrize("event_type_name", [t.name for t in domain_types() if t.outbox])
def test_each_outbox_type_has_a_schema_its_payload_meets(event_type_name):
    registered = event_type(event_type_name)
    assert registered.schema is not None and registered.example is not None
    jsonschema.Draft202012Validator.check_schema(registered.schema)
    jsonschema.validate(registered.example, registered.schema)
    envelope = {
        "id": "evt_" + "0" * 32,
        "type": registered.name,
        "created_at": datetime(2026, 5, 1, tzinfo=UTC).isoformat(),
        "api_version": "v1",
        "data": dict(registered.example),
    }
    jsonschema.validate(envelope, ENVELOPE_SCHEMA)
    # Without its resource_version the data is refused (§13.2: delivery order varies).
    without = {k: v for k, v in registered.example.items() if k != "resource_version"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(without, registered.schema)


def test_registering_one_name_twice_differently_is_refused():
    with (
        event_types_registered(EventType("test.twice", "{actor} once")),
        pytest.raises(ValueError, match="registered twice"),
    ):
        event_type_register(EventType("test.twice", "{actor} twice"))
    assert event_type_get("test.twice") is None


def test_a_batch_declares_plain_types_of_one_visibility_with_their_short_sentences():
    # Given a table of names and sentences, one with its short form
    declared = event_types_declare(
        Visibility.ORGANISATIONS,
        {
            "test.batch_one": "{actor} did one",
            "test.batch_two": ("{actor} did two: {reason}", "{actor} did two"),
        },
    )
    # Then each is the type written out in full, in the table's order
    assert declared == [
        EventType("test.batch_one", "{actor} did one", Visibility.ORGANISATIONS),
        EventType(
            "test.batch_two",
            "{actor} did two: {reason}",
            Visibility.ORGANISATIONS,
            short="{actor} did two",
        ),
    ]
    # And once registered, the short sentence stands in for a value the event lacks
    with event_types_registered(*declared):
        assert event_sentence("test.batch_two", {"actor": "Aiko"}) == "Aiko did two"
        assert event_sentence("test.batch_two", {"actor": "Aiko", "reason": "late"}) == (
            "Aiko did two: late"
        )
        assert not event_type("test.batch_one").outbox


def test_an_outbox_type_needs_a_schema():
    with pytest.raises(ValueError, match="schema"):
        EventType("test.bare", "{actor}", outbox=True)


@pytest.mark.django_db
def test_an_unregistered_action_raises_and_writes_nothing():
    before = AuditEvent.objects.count()
    with pytest.raises(UnregisteredEventType, match="nobody.did_this"):
        audit_record(actor=None, action="nobody.did_this", object_type="thing", object_id=1)
    with pytest.raises(UnregisteredEventType):
        audit_record_many(
            [
                AuditEntry(actor=None, action="test.one", object_type="thing", object_id=1),
                AuditEntry(actor=None, action="nobody.did_this", object_type="thing"),
            ]
        )
    with pytest.raises(UnregisteredEventType):
        audit_record_many_parts([AuditEntry(actor=None, action="nobody.did_this")])
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_an_unregistered_or_audit_only_outbox_type_raises_and_writes_nothing(django_user_model):
    user = django_user_model.objects.create(username="someone", email="someone@example.org")
    for kind in ("nobody.did_this", "proposal.updated"):  # the second: audit only
        with pytest.raises(UnregisteredEventType):
            event_record(kind=kind, obj=user, organisation_ids=[], payload={})
        with pytest.raises(UnregisteredEventType):
            event_record_many([Event(kind=kind, obj=user, organisation_ids=[], payload={})])
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_an_outbox_event_carries_the_envelope_and_a_growing_resource_version(django_user_model):
    user = django_user_model.objects.create(username="someone", email="someone@example.org")
    first = event_record(kind="royalty.posted", obj=user, organisation_ids=[3, 1], payload={"a": 1})
    (second,) = event_record_many(
        [Event(kind="royalty.posted", obj=user, organisation_ids=[1], payload={"a": 2})]
    )
    stored = list(OutboxEvent.objects.order_by("pk"))
    assert [e.pk for e in stored] == [first.pk, second.pk]
    envelopes = [e.envelope() for e in stored]
    for envelope in envelopes:
        jsonschema.validate(envelope, ENVELOPE_SCHEMA)
        assert envelope["type"] == "royalty.posted" and envelope["api_version"] == "v1"
    assert envelopes[0]["id"] != envelopes[1]["id"]
    assert envelopes[0]["data"]["resource_version"] < envelopes[1]["data"]["resource_version"]
    assert stored[0].organisation_ids == [1, 3]


@pytest.mark.django_db
def test_an_event_for_fund_staff_only_cannot_name_organisations(django_user_model):
    user = django_user_model.objects.create(username="someone", email="someone@example.org")
    with pytest.raises(ValueError, match="fund staff only"):
        event_record(kind="review.assigned", obj=user, organisation_ids=[1], payload={})
    with pytest.raises(ValueError, match="fund staff only"):
        event_record_many(
            [Event(kind="review.assigned", obj=user, organisation_ids=[1], payload={})]
        )
    assert not OutboxEvent.objects.exists()
