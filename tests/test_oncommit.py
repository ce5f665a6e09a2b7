"""``fundapp.oncommit.Debounced``: after commit, once per transaction and window."""

import pytest
from django.db import transaction

from fundapp.notifications import services as notification_services
from fundapp.oncommit import Debounced

pytestmark = pytest.mark.django_db(transaction=True)


class Undo(Exception):
    pass


def test_enqueued_on_commit_once_per_transaction_and_window():
    calls: list[float] = []
    debounced = Debounced(calls.append, 60.0)

    with transaction.atomic():
        debounced.after_commit()
        debounced.after_commit()
        assert calls == []  # nothing before the commit
    assert calls == [60.0]

    with transaction.atomic():
        debounced.after_commit()
    assert calls == [60.0]  # the run already due covers this commit too

    debounced.enqueued_until = 0.0  # the window has passed
    with transaction.atomic():
        debounced.after_commit()
    assert calls == [60.0, 60.0]


def test_a_rolled_back_transaction_enqueues_nothing():
    calls: list[float] = []
    debounced = Debounced(calls.append, 1.0)

    with pytest.raises(Undo), transaction.atomic():
        debounced.after_commit()
        raise Undo

    assert calls == []


def test_the_e_mail_sender_of_the_statement_path_is_debounced_per_window():
    assert notification_services.email_sweep.delay == (
        notification_services.EMAIL_SWEEP_DELAY_SECONDS
    )
    assert (
        notification_services._sweep_after_commit == notification_services.email_sweep.after_commit
    )
