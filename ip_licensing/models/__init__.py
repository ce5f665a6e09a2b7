from .assets import AssetKind, AssetStatus, IPAsset
from .licences import (
    AllocationChange,
    Exclusivity,
    Licence,
    LicenceApproval,
    LicenceAsset,
    LicenceState,
    LicenceUserObjectPermission,
    Purpose,
    ReturnAllocationEntry,
    RoyaltyReport,
)
from .obligations import (
    BreachDecision,
    BreachRemedy,
    Obligation,
    ObligationKind,
    ObligationState,
    ObligationWaiver,
)

__all__ = [
    "AllocationChange",
    "AssetKind",
    "AssetStatus",
    "BreachDecision",
    "BreachRemedy",
    "Exclusivity",
    "IPAsset",
    "Licence",
    "LicenceApproval",
    "LicenceAsset",
    "LicenceState",
    "LicenceUserObjectPermission",
    "Obligation",
    "ObligationKind",
    "ObligationState",
    "ObligationWaiver",
    "Purpose",
    "ReturnAllocationEntry",
    "RoyaltyReport",
]
