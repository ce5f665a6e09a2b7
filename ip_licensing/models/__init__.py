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
from .royalty_integrity import (
    RoyaltyAudit,
    RoyaltyAuditState,
    RoyaltyPeriod,
    RoyaltyPeriodState,
)
from .sublicences import ConsentState, SublicenceConsent

__all__ = [
    "AllocationChange",
    "AssetKind",
    "AssetStatus",
    "BreachDecision",
    "BreachRemedy",
    "ConsentState",
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
    "RoyaltyAudit",
    "RoyaltyAuditState",
    "RoyaltyPeriod",
    "RoyaltyPeriodState",
    "RoyaltyReport",
    "SublicenceConsent",
]
