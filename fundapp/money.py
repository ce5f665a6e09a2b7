"""Money conventions shared by every app: whole yen and won, never a fraction (§1, §17).

Plain values only (the model field is ``fundapp.fields.AmountField``).
"""

from __future__ import annotations

MAX_AMOUNT = 10**15

CURRENCY_SYMBOL = {"JPY": "¥", "KRW": "₩"}


def format_amount(amount: int | None, currency: str) -> str:
    """¥12,000,000 / ₩120,000,000: zero minor units in both currencies."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}{CURRENCY_SYMBOL.get(currency, currency + ' ')}{abs(int(amount)):,}"
