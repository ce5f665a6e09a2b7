"""Field-level problems collected while checking input, and the amount check every
domain shares (§17). Plain values only: no ORM here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact

from django.utils.translation import gettext_lazy as _

from fundapp.money import MAX_AMOUNT


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass
class Problems:
    items: list[Problem] = field(default_factory=list)

    def add(self, field_path: str, message) -> None:
        self.items.append(Problem(field_path, str(message)))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def as_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.items:
            out.setdefault(p.field, []).append(p.message)
        return out

    def __bool__(self) -> bool:
        return bool(self.items)


def check_amount(value: object) -> str | None:
    """A whole, non-negative amount of yen or won no larger than 10¹⁵ (§17)."""
    if isinstance(value, bool):
        return str(_("Enter a whole amount."))
    if isinstance(value, float):
        value = Decimal(value)  # exact, so 0.1 stays a fraction
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(_("Enter a whole amount."))
        if value != value.to_integral_value():
            return str(_("Amounts in yen and won have no fractions."))
    elif not isinstance(value, int):
        return str(_("Enter a whole amount."))
    # Compared as they come, never via int(): int(Decimal("1E+99999999")) takes minutes.
    if value < 0:
        return str(_("An amount cannot be negative."))
    if value > MAX_AMOUNT:
        return str(_("An amount may not exceed 10¹⁵."))
    return None


# Decimals checked and written here are scaled and quantized in a context that holds every
# digit and refuses to round (never in the thread's, whose 28 digits and rounding anyone
# may have changed).
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])


def check_decimal(value: object, *, places: int, max_digits: int) -> str | None:
    """A finite decimal with at most ``places`` decimal places and ``max_digits`` digits in
    all, as a ``DecimalField(max_digits, places)`` stores it (§17); trailing zeros past
    ``places`` count as places."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return str(_("Enter a number."))
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return str(_("Use at most %(n)d decimal places.") % {"n": places})
    if value.copy_abs() >= Decimal(10) ** (max_digits - places):
        return str(_("This number is too large."))
    return None


def with_places(value: Decimal, places: int) -> Decimal:
    """``value`` written with exactly ``places`` decimal places; it must have no more
    (``check_decimal``): nothing is rounded."""
    return value.quantize(Decimal(1).scaleb(-places, EXACT), context=EXACT)
