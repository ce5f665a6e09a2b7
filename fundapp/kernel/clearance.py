"""The screening gate (§11) before a decision takes effect, for every domain: an award, a
licence approval, a sublicence consent completes only once the subject's screening case is
cleared or not required. Each domain keeps its own two sentences, because they name the
subject and what the officer should do instead; the codes are the same everywhere."""

from __future__ import annotations

from typing import Any

from fundapp.errors import Conflict

# Screening clearances in which a decision may take effect.
CLEARANCES_ALLOWING = ("cleared", "not_required")


def refuse_unless_cleared(clearance: str, *, blocked: Any, pending: Any) -> None:
    """409 ``screening_blocked`` (with ``blocked``) for a blocked case, 409
    ``screening_pending`` (with ``pending``) for any other clearance than
    :data:`CLEARANCES_ALLOWING`; nothing for those. The messages are translated strings
    (or lazy ones), read here in the request's language."""
    if clearance in CLEARANCES_ALLOWING:
        return
    if clearance == "blocked":
        raise Conflict(str(blocked), code="screening_blocked")
    raise Conflict(str(pending), code="screening_pending")
