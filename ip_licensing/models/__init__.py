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
from .sublicences import ConsentState, SublicenceConsent

__all__ = [
    "AllocationChange",
    "AssetKind",
    "AssetStatus",
    "ConsentState",
    "Exclusivity",
    "IPAsset",
    "Licence",
    "LicenceApproval",
    "LicenceAsset",
    "LicenceState",
    "LicenceUserObjectPermission",
    "Purpose",
    "ReturnAllocationEntry",
    "RoyaltyReport",
    "SublicenceConsent",
]
