"""Money conventions shared by every app: whole yen and won, never a fraction (§1, §17)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

MAX_AMOUNT = 10**15

amount_validators = [MinValueValidator(0), MaxValueValidator(MAX_AMOUNT)]


def AmountField(verbose_name=None, **kwargs) -> models.BigIntegerField:  # noqa: N802 - reads like a field class
    """A non-negative whole amount of yen or won, at most 10¹⁵."""
    kwargs.setdefault("default", 0)
    return models.BigIntegerField(verbose_name, validators=amount_validators, **kwargs)


CURRENCY_SYMBOL = {"JPY": "¥", "KRW": "₩"}


def format_amount(amount: int | None, currency: str) -> str:
    """¥12,000,000 / ₩120,000,000: zero minor units in both currencies."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}{CURRENCY_SYMBOL.get(currency, currency + ' ')}{abs(int(amount)):,}"
