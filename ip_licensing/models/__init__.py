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
from .royalty_integrity import (
    RoyaltyAudit,
    RoyaltyAuditState,
    RoyaltyPeriod,
    RoyaltyPeriodState,
)

__all__ = [
    "AllocationChange",
    "AssetKind",
    "AssetStatus",
    "Exclusivity",
    "IPAsset",
    "Licence",
    "LicenceApproval",
    "LicenceAsset",
    "LicenceState",
    "LicenceUserObjectPermission",
    "Purpose",
    "ReturnAllocationEntry",
    "RoyaltyAudit",
    "RoyaltyAuditState",
    "RoyaltyPeriod",
    "RoyaltyPeriodState",
    "RoyaltyReport",
]
