"""Notification messages (§13.1): stored as a message and its parameters, rendered when
read, in the reader's language, with names in that language."""

from __future__ import annotations

import string
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from fundapp.accounts.models import Side
from fundapp.notifications.messages import (
    Amount,
    Day,
    Label,
    Message,
    Name,
    Plain,
    Reason,
    notification_message,
    notification_message_register,
    notification_messages,
    notifications_render,
)
from fundapp.notifications.models import EmailState, Notification
from fundapp.notifications.services import notification_email, notify
from projects.models import Deliverable, Project, Proposal
from tests.factories import (
    CallFactory,
    ProjectFactory,
    ProposalFactory,
    StageFactory,
    UserFactory,
    jp_org,
)
from tests.factories.licences import draft, make_world
from tests.factories.mobility import VisitApplicationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.notifications.urls")]

LANGUAGES = ("en", "ja", "ko")
LIST = "/notifications/"


def domain_messages() -> list[Message]:
    return [m for m in notification_messages() if not m.key.startswith("test.")]


def _titled(factory: Any, en: str, ja: str, ko: str) -> Any:
    return factory.create(title_en=en, title_ja=ja, title_ko=ko)


@pytest.fixture
def named():
    """One object of each kind a message names, with its name in each language."""
    world = make_world()
    licence = draft(world)
    organisation = jp_org(
        name_en="Kyoto Photonics", name_ja="京都フォトニクス", name_ko="교토 포토닉스"
    )
    project = _titled(ProjectFactory, "Edge inference chips", "エッジ推論チップ", "엣지 추론 칩")
    proposal = _titled(ProposalFactory, "Quantum sensors", "量子センサー", "양자 센서")
    call = _titled(CallFactory, "Call for AI chips", "AIチップ公募", "AI 칩 공모")
    application = _titled(
        VisitApplicationFactory, "Spin qubit probing", "スピン量子ビット計測", "스핀 큐비트 측정"
    )
    person = UserFactory.create(display_name="鈴木 一郎")
    deliverable = Deliverable.objects.create(
        project=project,
        stage=StageFactory.create(project=project),
        title_en="Test-chip report",
        title_ja="テストチップ報告書",
        title_ko="테스트 칩 보고서",
        kind="report",
        due_month=6,
        due_on="2026-10-01",
    )
    return {
        "ids": {
            "organisation": organisation.pk,
            "project": project.pk,
            "proposal": proposal.pk,
            "call": call.pk,
            "licence": licence.pk,
            "person": person.pk,
            "deliverable": deliverable.pk,
            "visit_application": application.pk,
        },
        "names": {
            language: {
                "organisation": getattr(organisation, f"name_{language}"),
                "project": getattr(project, f"title_{language}"),
                "proposal": getattr(proposal, f"title_{language}"),
                "call": getattr(call, f"title_{language}"),
                "licence": licence.reference,
                "person": "鈴木 一郎",
                "deliverable": getattr(deliverable, f"title_{language}"),
                "visit_application": getattr(application, f"title_{language}"),
            }
            for language in LANGUAGES
        },
    }


def params_for(message: Message, ids: dict[str, int]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, param in message.params.items():
        if isinstance(param, Name):
            assert param.names is not None
            values[key] = ids[param.names]
        elif isinstance(param, Amount):
            values[key] = 12_000_000
        elif isinstance(param, Day):
            values[key] = "2027-02-06"
        elif isinstance(param, Label):
            choices = param.choices
            codes: Any = list(choices) if isinstance(choices, dict) else choices.values
            values[key] = codes[0]
        elif isinstance(param, Reason):
            values[key] = "ip_licensing.results_registered"
        else:
            assert isinstance(param, Plain)
            values[key] = "JPY" if key == "currency" else "Q3"
    return values


def _has_words(template: str) -> bool:
    """Whether the template says anything beyond its placeholders."""
    text = "".join(literal for literal, *_rest in string.Formatter().parse(template))
    return any(ch.isalpha() for ch in text)


def test_every_domain_message_is_registered_with_its_placeholders_declared():
    keys = {m.key for m in domain_messages()}
    assert {
        "proposal.submitted",
        "proposal.returned",
        "proposal.eligibility_decided",
        "review.assigned",
        "award.awaits_approval",
        "award.decided",
        "payment.confirmed",
        "tranche.released",
        "gate.evaluated",
        "gate.decision_needed",
        "gate.flagged",
        "gate_decision.awaits_approval",
        "licence.pending",
        "licence.awaits_approval",
        "licence.approved",
        "licence.expiring",
        "licence.expired",
        "royalty.posted",
        "royalty.upfront_posted",
        "allocation.awaits_approval",
        "webhook.disabled",
        "decision.declined",
    } <= keys
    for message in domain_messages():
        assert message.placeholders() <= set(message.params), message.key


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (Message(key="test.odd", kind="nonsense", title="x"), "unknown kind"),
        (Message(key="test.odd", kind="decision_needed", title="{who}"), "lacks"),
    ],
)
def test_a_message_with_an_unknown_kind_or_an_undeclared_placeholder_is_refused(message, problem):
    with pytest.raises(ValueError, match=problem):
        notification_message_register(message)
    assert "test.odd" not in {m.key for m in notification_messages()}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_reads_in_each_language_with_names_in_that_language(named, language):
    reader = UserFactory.create(preferred_language="en")
    messages = domain_messages()
    with translation.override("en"):
        for message in messages:
            notify(users=[reader], message=message.key, params=params_for(message, named["ids"]))
    rows = {n.message: n for n in Notification.objects.filter(user=reader)}
    assert {row.title for row in rows.values()} == {""}  # no rendered text is stored

    notifications_render(rows.values(), language=language)

    names = named["names"][language]
    for message in messages:
        row = rows[message.key]
        shown = f"{row.shown_title}\n{row.shown_body}"
        for key, param in message.params.items():
            if isinstance(param, Name):
                assert param.names is not None
                assert names[param.names] in shown, (message.key, key)
        assert "—" not in shown and "#" not in shown, message.key
        if language != "en":
            with translation.override(language):
                for template in (message.title, message.body):
                    if _has_words(str(template)):
                        # Translated, not the English words.
                        with translation.override("en"):
                            english = str(template)
                        assert str(template) != english, (message.key, english)


def test_values_are_written_as_the_readers_language_writes_them(named):
    reader = UserFactory.create()
    ids = named["ids"]
    notify(
        users=[reader],
        message="licence.approved",
        params={
            "reference": ids["licence"],
            "licensor": ids["organisation"],
            "licensee": ids["organisation"],
            "start": "2026-04-01",
            "end": "2027-02-06",
        },
    )
    notify(
        users=[reader],
        message="gate.decision_needed",
        params={"project": ids["project"], "stage": 3, "outcome": "pass", "reason": ""},
    )
    notify(
        users=[reader],
        message="tranche.released",
        params={"amount": 120_000_000, "currency": "KRW", "project": ids["project"], "stage": 2},
    )
    rows = list(Notification.objects.filter(user=reader).order_by("id"))

    def shown(language: str) -> list[tuple[str, str]]:
        fresh = [Notification.objects.get(pk=row.pk) for row in rows]
        return [
            (n.shown_title, n.shown_body) for n in notifications_render(fresh, language=language)
        ]

    english, japanese, korean = shown("en"), shown("ja"), shown("ko")
    assert english[0][1] == "In force from 1 Apr 2026 to 6 Feb 2027."
    assert "2026年4月1日" in japanese[0][1] and "2027年2月6日" in japanese[0][1]
    assert "2026년 4월 1일" in korean[0][1]
    # No final-gate requirement holds this gate: the body stays empty.
    assert english[1] == ("Gate of “Edge inference chips”, stage 3: Pass", "")
    assert "エッジ推論チップ" in japanese[1][0] and "엣지 추론 칩" in korean[1][0]
    assert english[2][0] == "₩120,000,000 for “Edge inference chips”, stage 2"


def test_a_gates_final_requirement_is_stored_by_name_and_read_in_the_readers_language(named):
    reader = UserFactory.create()
    [row] = notify(
        users=[reader],
        message="gate.decision_needed",
        params={
            "project": named["ids"]["project"],
            "stage": 4,
            "outcome": "pass",
            "reason": "ip_licensing.results_registered",
        },
    )
    stored = Notification.objects.get(pk=row.pk)
    assert stored.params["reason"] == "ip_licensing.results_registered" and stored.body == ""

    bodies = {
        language: notifications_render([Notification.objects.get(pk=row.pk)], language=language)[
            0
        ].shown_body
        for language in LANGUAGES
    }
    assert bodies["en"] == (
        "Register the project's results (IP assets with their owner) before the final gate."
    )
    assert len(set(bodies.values())) == 3


def test_a_notification_written_in_english_reads_in_korean_after_the_reader_switches(
    client, named, django_capture_on_commit_callbacks
):
    reader = UserFactory.create(display_name="Minji", preferred_language="en")
    project = Project.objects.get(pk=named["ids"]["project"])
    with translation.override("en"), django_capture_on_commit_callbacks(execute=False):
        notify(
            users=[reader],
            message="tranche.released",
            params={"amount": 1_200_000, "currency": "JPY", "project": project.pk, "stage": 1},
            url="/projects/1/",
        )
    client.force_login(reader)

    english = client.get(LIST).content.decode()
    client.post("/accounts/language/", {"language": "ko", "next": LIST})
    korean = client.get(LIST).content.decode()
    client.post("/accounts/language/", {"language": "ja", "next": LIST})
    japanese = client.get(LIST).content.decode()

    assert "¥1,200,000 for “Edge inference chips”, stage 1" in english
    assert "엣지 추론 칩" in korean and "Edge inference chips" not in korean
    assert "エッジ推論チップ" in japanese and "Edge inference chips" not in japanese
    assert "¥1,200,000 for" not in korean and "¥1,200,000 for" not in japanese
    # The e-mail is written when it is sent, in the language the person prefers then.
    reader.refresh_from_db()
    assert reader.preferred_language == "ja"
    row = Notification.objects.select_related("user").get(user=reader)
    assert row.email_state == EmailState.PENDING
    email = notification_email(row)
    assert "エッジ推論チップ" in email.subject and "エッジ推論チップ" in email.body


def test_a_proposal_without_a_title_in_the_readers_language_reads_in_another():
    reader = UserFactory.create()
    proposal = ProposalFactory.create(title_en="", title_ja="量子センサー", title_ko="")
    notify(
        users=[reader],
        message="proposal.eligibility_decided",
        params={"title": proposal.pk, "state": "eligible"},
    )
    [row] = notifications_render(Notification.objects.filter(user=reader), language="ko")
    assert "量子センサー" in row.shown_title


def test_an_object_that_is_gone_is_named_by_its_id():
    reader = UserFactory.create()
    missing = (Proposal.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    notify(users=[reader], message="proposal.submitted", params={"title": missing})
    [row] = notifications_render(Notification.objects.filter(user=reader), language="en")
    assert f"#{missing}" in row.shown_title


# --------------------------------------------------------------------------- old rows


def test_rows_written_before_messages_existed_show_their_stored_text(
    client, django_capture_on_commit_callbacks
):
    reader = UserFactory.create(preferred_language="ko")
    old = Notification.objects.create(
        user=reader,
        kind="licence_approved",
        title="Licence L-2025-0001 approved: Osaka → Hanbit",
        body="In force from 2026-01-01 to 2026-12-31.",
        email_state=EmailState.NOT_REQUESTED,
    )
    assert old.message == "" and old.params == {}

    [row] = notifications_render([Notification.objects.get(pk=old.pk)], language="ko")
    assert (row.shown_title, row.shown_body) == (old.title, old.body)
    client.force_login(reader)
    page = client.get(LIST).content.decode()
    assert "Licence L-2025-0001 approved: Osaka → Hanbit" in page
    assert "In force from 2026-01-01 to 2026-12-31." in page
    email = notification_email(Notification.objects.select_related("user").get(pk=old.pk))
    assert "Licence L-2025-0001 approved" in email.subject
    assert mail.outbox == []


# --------------------------------------------------------------------------- queries


def _mixed_page(reader: Any, count: int) -> None:
    """``count`` notifications naming different projects, organisations and people."""
    for n in range(count):
        project = ProjectFactory.create(title_en=f"P{n}", title_ko=f"과제 {n}")
        organisation = jp_org()
        officer = UserFactory.create(display_name=f"Officer {n}")
        notify(
            users=[reader],
            message="tranche.released",
            params={"amount": n, "currency": "JPY", "project": project.pk, "stage": 1},
            email=False,
        )
        notify(
            users=[reader],
            message="payment.confirmed",
            params={"amount": n, "currency": "KRW", "org": organisation.pk},
            email=False,
        )
        notify(
            users=[reader],
            message="decision.declined",
            params={"officer": officer.pk, "side": Side.KR, "reason": "No."},
            email=False,
        )


@pytest.mark.parametrize("count", [1, 8])
def test_the_list_page_names_its_rows_in_one_query_per_kind_whatever_its_size(
    client, count, django_assert_num_queries
):
    reader = UserFactory.create(preferred_language="ko")
    _mixed_page(reader, count)
    client.force_login(reader)
    client.post("/accounts/language/", {"language": "ko", "next": LIST})

    # session, user, page count, page rows, projects, organisations, people, unread count
    with django_assert_num_queries(8):
        response = client.get(LIST)

    page = response.content.decode()
    assert len(response.context["page"].object_list) == 3 * count
    assert all(f"과제 {n}" in page for n in range(count))


def test_rendering_a_page_costs_the_same_at_two_sizes():
    reader = UserFactory.create()
    _mixed_page(reader, 2)
    small = list(Notification.objects.filter(user=reader))
    _mixed_page(reader, 10)
    large = list(Notification.objects.filter(user=reader))

    counts = []
    for rows in (small, large):
        with CaptureQueriesContext(connection) as queries:
            notifications_render(rows, language="ja")
        counts.append(len(queries))
    assert counts == [3, 3]  # projects, organisations, people


def test_a_body_that_is_only_what_someone_typed_is_marked_as_such():
    # The page marks it as people's text (data-user-text): it reads as they wrote it.
    assert notification_message("award.decided").body_is_typed
    assert notification_message("measurement.disputed").body_is_typed
    assert not notification_message("award.awaits_approval").body_is_typed
    assert not notification_message("proposal.submitted").body_is_typed
