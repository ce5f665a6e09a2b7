"""evaluate_gates (§21) posts the releases its automatic decisions made, for real: the
next stage's tranches are released into the ledger by the command itself."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from fundapp.ledger.selectors import ledger_verify
from projects.models import Tranche, TrancheState
from tests.factories.pages import build_world

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "eager_celery"),
]


def test_the_command_releases_the_next_stages_tranches_of_an_automatic_pass():
    world = build_world(auto_release=True, evaluate=False)
    stage2 = world.gate(2).stage
    out = StringIO()

    call_command("evaluate_gates", stdout=out, stderr=StringIO())

    released = Tranche.objects.filter(stage=stage2, state=TrancheState.RELEASED)
    assert sorted(released.values_list("side", flat=True)) == ["JP", "KR"]
    assert all(t.ledger_transaction_id is not None for t in released)
    line = out.getvalue().strip().splitlines()[-1]
    assert line.startswith(f"gate {world.gate(1).pk}: score ")
    assert line.endswith(
        "released tranches " + ",".join(str(t.pk) for t in released.order_by("pk"))
    )
    assert ledger_verify().breaches == []
