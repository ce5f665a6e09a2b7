"""refuse_unless_cleared: the screening gate every domain's decision passes (§11)."""

import pytest

from fundapp.errors import Conflict
from fundapp.kernel.clearance import CLEARANCES_ALLOWING, refuse_unless_cleared


@pytest.mark.parametrize("clearance", CLEARANCES_ALLOWING)
def test_a_cleared_or_unscreened_subject_passes(clearance):
    refuse_unless_cleared(clearance, blocked="Blocked here.", pending="Waits.")  # no refusal


def test_a_blocked_subject_is_refused_with_the_blocked_sentence():
    with pytest.raises(Conflict) as refused:
        refuse_unless_cleared("blocked", blocked="Blocked here.", pending="Waits.")
    assert (refused.value.code, str(refused.value)) == ("screening_blocked", "Blocked here.")


@pytest.mark.parametrize("clearance", ["open", "", "unknown"])
def test_any_other_clearance_waits_with_the_pending_sentence(clearance):
    with pytest.raises(Conflict) as refused:
        refuse_unless_cleared(clearance, blocked="Blocked here.", pending="Waits.")
    assert (refused.value.code, str(refused.value)) == ("screening_pending", "Waits.")
