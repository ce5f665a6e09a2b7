"""Identifiers people carry across systems (§22): the ORCID iD and its checksum."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

ORCID_PATTERN = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
ORCID_PREFIXES = ("https://orcid.org/", "http://orcid.org/", "orcid.org/")


def orcid_check_digit(base_digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 15 digits of an ORCID iD."""
    total = 0
    for digit in base_digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def orcid_is_valid(value: str) -> bool:
    """``0000-0000-0000-000X`` with the right check character (ISO 7064 11,2)."""
    if not ORCID_PATTERN.match(value):
        return False
    digits = value.replace("-", "")
    return orcid_check_digit(digits[:15]) == digits[15]


def orcid_normalize(value: str) -> str:
    """The bare iD from what people paste: trimmed, without the orcid.org address, with a
    capital X."""
    value = value.strip()
    for prefix in ORCID_PREFIXES:
        if value.lower().startswith(prefix):
            value = value[len(prefix) :]
            break
    return value.upper()


def validate_orcid(value: str) -> None:
    if value and not orcid_is_valid(value):
        raise ValidationError(
            _(
                "Enter an ORCID iD as 0000-0000-0000-0000 (the last character may be X); "
                "this one's check digit does not match."
            ),
            code="invalid_orcid",
        )
