"""Pure rules of the talent exchange (§25): plain values in, plain values out, no ORM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MOBILITY_COUNTRIES: Final = ("JP", "KR", "US")

_SIDE_CURRENCY: Final = {"JP": "JPY", "KR": "KRW"}


@dataclass(frozen=True)
class PayingSide:
    """Who pays a visit: the fund's ``side`` (``JP`` or ``KR``) in its ``currency``, to
    the host organisation (``payee_is_host``) or else to the visitor's home organisation."""

    side: str
    currency: str
    payee_is_host: bool


def paying_side(home_country: str, host_country: str) -> PayingSide:
    """§25: the host's side pays a visit hosted in Japan or Korea, to the host; a visit
    hosted in the US is paid by the visitor's home side, to the home organisation.

    Raises ``ValueError`` for a country outside JP/KR/US, for a visit within one country
    and for a US-to-US visit (no side of the fund is involved)."""
    for country in (home_country, host_country):
        if country not in MOBILITY_COUNTRIES:
            raise ValueError(f"not a mobility country: {country!r}")
    if home_country == host_country:
        raise ValueError("a visit goes to another country")
    if host_country in _SIDE_CURRENCY:
        return PayingSide(host_country, _SIDE_CURRENCY[host_country], payee_is_host=True)
    # Hosted in the US: the home side (JP or KR, since the home is not the US) pays.
    return PayingSide(home_country, _SIDE_CURRENCY[home_country], payee_is_host=False)
