"""The assets of a licence and their shares of its royalties (§23): reading the shares a
proposal gives, and showing those of a licence.

``asset_shares`` in a proposal is a list of basis points, one per asset in the order of
``assets``, summing to exactly 10,000; left out, the assets share equally (the remainder
of 10,000 by largest remainder, one basis point each to the lowest asset ids).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from fundapp.kernel.problems import Problems
from ip_licensing import royalty_rules
from ip_licensing.models import IPAsset, Licence

MAX_SHARE = 10_000


def asset_shares(problems: Problems, value: Any, assets: list[IPAsset]) -> dict[int, int] | None:
    """``{asset id: basis points}`` from a proposal's ``asset_shares``; ``None`` when it
    gives none (equal shares). Problems are added per field (``asset_shares`` and
    ``asset_shares.{index}``)."""
    if value in (None, "", [], ()):
        return None
    if not isinstance(value, list | tuple):
        problems.add("asset_shares", _("Give one share in basis points per asset."))
        return None
    if len(value) != len(assets) or problems.as_dict().get("assets"):
        if not problems.as_dict().get("assets"):
            problems.add(
                "asset_shares",
                _("Give one share per asset: %(assets)d assets, %(shares)d shares.")
                % {"assets": len(assets), "shares": len(value)},
            )
        return None
    shares: list[int] = []
    for index, item in enumerate(value):
        share = item
        if isinstance(item, str) and item.strip().isascii() and item.strip().isdigit():
            share = int(item.strip())
        if isinstance(share, bool) or not isinstance(share, int) or not 1 <= share <= MAX_SHARE:
            problems.add(
                f"asset_shares.{index}",
                _("A share is a whole number of basis points from 1 to 10,000."),
            )
            continue
        shares.append(share)
    if len(shares) != len(value):
        return None
    if royalty_rules.shares_problem(shares) == "share_sum":
        problems.add(
            "asset_shares",
            _("The shares must sum to 10,000 basis points; these sum to %(total)s.")
            % {"total": f"{sum(shares):,}"},
        )
        return None
    return {asset.pk: share for asset, share in zip(assets, shares, strict=True)}


def licence_asset_shares(licence: Licence) -> list[list[int]]:
    """``[[asset id, basis points], ...]`` in asset-id order."""
    return [
        [asset_id, share]
        for asset_id, share in licence.licence_assets.order_by("asset_id").values_list(
            "asset_id", "share_bp"
        )
    ]
