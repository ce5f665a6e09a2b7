"""Permission decisions in one shape (§2): every ``can_*`` function answers a ``Decision``,
``(allowed, reason)``, and a service or view that must refuse calls ``require``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from fundapp.errors import PermissionDenied

Decision = tuple[bool, str]


def require(decision: Decision, *, code: str | None = None) -> None:
    """Refuse (``PermissionDenied``, 403) unless ``decision`` allows; its reason is the
    message, or a general one when it gives none."""
    allowed, reason = decision
    if not allowed:
        raise PermissionDenied(reason or _("You may not do this."), code=code)
