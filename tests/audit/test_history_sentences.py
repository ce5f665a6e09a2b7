"""An object's history reads as sentences in the reader's language (§12): the registered
sentence of each event, with amounts, dates and coded values as the language writes them;
the raw action and before/after stay behind a toggle; no query per event."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from fundapp.accounts.services import api_key_issue
from fundapp.accounts.templatetags.fund_format import audit_actor, audit_sentence
from fundapp.audit.models import AuditEvent
from tests.factories import jp_org, officer

pytestmark = pytest.mark.django_db

SENTENCES = {
    "en": ("{name} issued the API key", "{name} revoked the API key"),
    "ja": ("{name}がAPIキーを発行しました", "{name}がAPIキーを失効させました"),
    "ko": ("{name}이(가) API 키를 발급했습니다", "{name}이(가) API 키를 폐기했습니다"),
}


def page(client, key, language: str) -> str:
    with translation.override(language):
        response = client.get(f"/accounts/api-keys/{key.pk}/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_the_history_page_reads_as_sentences_in_english_japanese_and_korean(client):
    org = jp_org(code="JP-HIS-01", name_en="History Institute")
    fund_officer = officer(side="JP")
    key, _full = api_key_issue(
        organisation=org, name="Research office", scopes=["proposals:read"], actor=fund_officer
    )
    client.force_login(fund_officer)
    page(client, key, "en")
    with CaptureQueriesContext(connection) as one_event:
        page(client, key, "en")
    client.post(f"/accounts/api-keys/{key.pk}/revoke/")
    with CaptureQueriesContext(connection) as two_events:
        page(client, key, "en")
    assert len(two_events) == len(one_event)  # the history grows by rows, not by queries

    name = AuditEvent.objects.get(action="api_key.issued").actor_label
    for language, (issued, revoked) in SENTENCES.items():
        html = page(client, key, language)
        assert issued.format(name=name) in html, language
        assert revoked.format(name=name) in html, language
        # The raw action and changes stay available to officers behind a toggle.
        assert '<details class="audit-raw">' in html
        assert 'data-action="api_key.revoked"' in html and "<code>api_key.revoked</code>" in html


def event(action: str, *, before=None, after=None) -> AuditEvent:
    return AuditEvent(action=action, actor_label="Suzuki Ichiro (JP)", before=before, after=after)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "The tranche was released: ¥12,000,000"),
        ("ja", "トランシェが交付されました：¥12,000,000"),
        ("ko", "트랜치가 집행되었습니다: ¥12,000,000"),
    ],
)
def test_amounts_are_formatted_in_their_currency(language, expected):
    with translation.override(language):
        sentence = audit_sentence(
            event("tranche.released", after={"released": 12_000_000, "currency": "JPY"})
        )
    assert sentence == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "The stage started on 1 May 2026"),
        ("ja", "ステージが2026年5月1日に始まりました"),
        ("ko", "단계가 2026년 5월 1일에 시작되었습니다"),
    ],
)
def test_dates_are_written_as_the_language_writes_them(language, expected):
    with translation.override(language):
        sentence = audit_sentence(event("stage.started", after={"started_on": "2026-05-01"}))
    assert sentence == expected


def test_coded_values_read_as_their_labels_and_missing_values_as_a_dash():
    with translation.override("ja"):
        evaluated = audit_sentence(
            event("gate.evaluated", after={"outcome": "pass", "score": "1.0500"})
        )
        missing = audit_sentence(event("gate.evaluated", after={}))
    assert evaluated == "ステージゲートが評価されました：合格（スコア 1.0500）"
    assert missing == "ステージゲートが評価されました"


def test_an_event_recorded_without_the_details_reads_as_the_short_sentence():
    with translation.override("ko"):
        sentence = audit_sentence(event("gate.evaluated", after={"state": "evaluated"}))
    assert sentence == "단계 평가(게이트)가 완료되었습니다"


def test_an_event_of_a_type_no_longer_registered_shows_its_action():
    assert audit_sentence(event("retired.action")) == "retired.action"


@pytest.mark.parametrize(("language", "expected"), [("ja", "システム"), ("ko", "시스템")])
def test_an_event_no_person_caused_names_the_system_in_the_readers_language(language, expected):
    # Given an event recorded without an actor (its label stored as the word "system")
    recorded = AuditEvent(action="api_key.issued", actor_label="system")

    # When it is read in Japanese or Korean
    with translation.override(language):
        sentence = audit_sentence(recorded)
        actor = audit_actor(recorded)

    # Then the system is named in that language
    assert actor == expected and sentence.startswith(expected)
