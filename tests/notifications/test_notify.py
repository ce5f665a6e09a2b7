"""notify(): rows in the caller's transaction, e-mails after commit, in each person's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from fundapp.notifications.messages import (
    Message,
    Plain,
    notification_messages_registered,
    notifications_render,
)
from fundapp.notifications.models import EmailState, Notification, NotificationKind
from fundapp.notifications.services import notify, recipient_language
from tests.factories import UserFactory
from tests.notifications.said import said

pytestmark = pytest.mark.django_db

TEST_TEMPLATES = Path(__file__).parent / "templates"


def test_one_row_per_distinct_person_in_the_callers_transaction(alice, kenji):
    rows = notify(
        users=[alice, kenji, alice, None],
        **said(
            NotificationKind.PROPOSAL_SUBMITTED,
            "P-2026-0001 submitted",
            "The research office endorsed it.",
        ),
        url="/proposals/1/",
    )

    assert [row.user_id for row in rows] == [alice.pk, kenji.pk]
    assert all(row.pk for row in rows)
    stored = notifications_render(Notification.objects.order_by("id"))
    # The message and its parameters are stored, never rendered text.
    assert {(n.message, n.title, n.body) for n in stored} == {("test.proposal_submitted", "", "")}
    assert [(n.user_id, n.kind, n.shown_title, n.shown_body, n.url, n.read_at) for n in stored] == [
        (
            p.pk,
            "proposal_submitted",
            "P-2026-0001 submitted",
            "The research office endorsed it.",
            "/proposals/1/",
            None,
        )
        for p in (alice, kenji)
    ]


def test_the_email_goes_out_only_after_the_commit(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notify(users=[alice], **said(NotificationKind.GATE_EVALUATED, "Gate 1 of P-7"), url="/p/7/")
        # Still inside the transaction: nothing has left the building.
        assert mail.outbox == []
        assert Notification.objects.get().email_state == EmailState.PENDING

    assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [alice.email]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == "[JK Fund] Gate evaluated: Gate 1 of P-7"
    assert "Dear Alice," in message.body
    assert "A stage gate has been evaluated." in message.body
    assert "http://localhost:8000/p/7/" in message.body
    row = Notification.objects.get()
    assert row.email_state == EmailState.SENT and row.emailed_at is not None


def test_each_person_gets_title_and_email_in_their_own_language(
    alice, kenji, django_capture_on_commit_callbacks
):
    korean = UserFactory.create(username="minji", preferred_language="ko")
    unset = UserFactory.create(username="nolang", preferred_language="")

    translated = Message(
        key="test.translated",
        kind=NotificationKind.PROPOSAL_SUBMITTED,
        title=format_lazy("{} {{reference}}", gettext_lazy("proposal")),
        body=gettext_lazy("proposal"),
        params={"reference": Plain()},
    )

    with (
        notification_messages_registered(translated),
        translation.override("ko"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        rows = notify(
            users=[alice, kenji, korean, unset],
            message="test.translated",
            params={"reference": "P-9"},
        )
        for row in rows:
            notifications_render([row], language=recipient_language(row.user))

    assert [row.shown_title for row in rows] == [
        "proposal P-9",
        "提案 P-9",
        "제안서 P-9",
        "proposal P-9",
    ]
    assert [row.shown_body for row in rows] == ["proposal", "提案", "제안서", "proposal"]
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects[alice.email] == "[JK Fund] Proposal submitted: proposal P-9"
    assert subjects[unset.email] == "[JK Fund] Proposal submitted: proposal P-9"
    assert "提案 P-9" in subjects[kenji.email]
    assert "제안서 P-9" in subjects[korean.email]


def test_the_templates_are_rendered_under_the_recipients_language(
    settings, alice, kenji, django_capture_on_commit_callbacks
):
    # A subject template that says which language was active while it rendered.
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [TEST_TEMPLATES, *settings.TEMPLATES[0]["DIRS"]]}
    ]

    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[alice, kenji], **said(NotificationKind.PROPOSAL_SUBMITTED, "P-1"))

    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects == {alice.email: "rendered-in:en P-1", kenji.email: "rendered-in:ja P-1"}


@pytest.mark.parametrize("kind", NotificationKind.values)
def test_every_kind_has_a_subject_and_a_body(alice, kind, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[alice], **said(kind, "T-1"))

    [message] = mail.outbox
    label = str(NotificationKind(kind).label)
    assert message.subject == f"[JK Fund] {label}: T-1"
    assert "\n" not in message.subject
    assert message.body.startswith("Dear Alice,\n\n") and "T-1" in message.body
    # Plain text: nothing is HTML-escaped.
    assert "&" not in message.body.replace("Japan–Korea Joint R&D Fund", "")


def test_plain_text_emails_are_not_html_escaped(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(
            users=[alice],
            **said(NotificationKind.ROYALTY_POSTED, 'R&D <Co> "Q3"', "5 < 6 & 7 > 2"),
        )

    [message] = mail.outbox
    assert message.subject == '[JK Fund] Royalty posted: R&D <Co> "Q3"'
    assert "5 < 6 & 7 > 2" in message.body and "&amp;" not in message.body


def test_no_email_for_inactive_people_or_people_without_an_address(
    alice, django_capture_on_commit_callbacks
):
    inactive = UserFactory.create(username="gone", is_active=False)
    no_address = UserFactory.create(username="noaddress", email="")

    with django_capture_on_commit_callbacks(execute=True):
        rows = notify(users=[alice, inactive, no_address], **said("award_decided", "Award"))

    assert len(rows) == 3  # everyone still has the in-app row
    assert [m.to for m in mail.outbox] == [[alice.email]]
    states = dict(Notification.objects.values_list("user_id", "email_state"))
    assert states == {
        alice.pk: EmailState.SENT,
        inactive.pk: EmailState.NOT_REQUESTED,
        no_address.pk: EmailState.NOT_REQUESTED,
    }


def test_email_false_writes_only_the_row(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notify(users=[alice], **said("decision_needed", "Gate 2"), email=False)

    assert callbacks == [] and mail.outbox == []
    assert Notification.objects.get().email_state == EmailState.NOT_REQUESTED


def test_nobody_to_tell_writes_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert notify(users=[], **said("decision_needed", "x")) == []
    assert callbacks == [] and not Notification.objects.exists()


def test_a_long_title_is_shortened_to_fit(alice):
    [row] = notify(users=[alice], **said("decision_needed", "x" * 400), email=False)
    [row] = notifications_render([Notification.objects.get(pk=row.pk)])
    assert len(row.shown_title) == 300 and row.shown_title.endswith("…")


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "//evil.example/x", "ftp://host/file", "proposals/1/"]
)
def test_a_link_must_be_a_path_or_a_web_address(alice, url):
    with pytest.raises(ValueError):
        notify(users=[alice], **said("decision_needed", "x"), url=url)
    assert not Notification.objects.exists()


def test_an_unknown_message_is_a_programming_error(alice):
    with pytest.raises(ValueError):
        notify(users=[alice], **said("something_else", "x"))
    with pytest.raises(ValueError, match="unknown notification message"):
        notify(users=[alice], message="proposal.nonsense", params={})
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "params",
    [{"title": "x"}, {"title": "x", "body": "", "extra": 1}, {}],
)
def test_parameters_other_than_the_messages_own_are_a_programming_error(alice, params):
    with pytest.raises(ValueError, match="takes"):
        notify(users=[alice], message="test.decision_needed", params=params)
    assert not Notification.objects.exists()


def test_a_savepoint_rolled_back_takes_its_rows_and_emails_with_it(
    alice, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify(users=[alice], **said("tranche_released", "Tranche 1"))
        raise RuntimeError("the change failed")

    assert callbacks == [] and mail.outbox == []
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_real_commit_sends_and_real_rollback_sends_nothing():
    alice = UserFactory.create(username="alice-tx")
    bob = UserFactory.create(username="bob-tx")

    with pytest.raises(RuntimeError), transaction.atomic():
        notify(users=[bob], **said("payment_confirmed", "Rolled back"))
        raise RuntimeError("the change failed")

    assert mail.outbox == [] and not Notification.objects.exists()

    with transaction.atomic():
        notify(users=[alice], **said("payment_confirmed", "Paid"))
        assert mail.outbox == []

    assert [(m.to, m.subject) for m in mail.outbox] == [
        ([alice.email], "[JK Fund] Payment confirmed: Paid")
    ]
    assert Notification.objects.get().email_state == EmailState.SENT


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_after_commit_keeps_the_change_and_the_email_stays_pending(monkeypatch):
    from fundapp.notifications import tasks

    alice = UserFactory.create(username="alice-outage")

    def broker_down(**kwargs):
        raise ConnectionError("broker unavailable")

    monkeypatch.setattr(tasks.send_notification_emails, "delay", broker_down)
    with transaction.atomic():
        notify(users=[alice], **said("licence_approved", "Licence L-1"))

    # The caller saw no error; the row is there and waits for the reconciler.
    assert Notification.objects.get().email_state == EmailState.PENDING
    assert mail.outbox == []
