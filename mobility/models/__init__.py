from .applications import (
    APPLICATION_WORKFLOW,
    PENDING_APPLICATION_STATES,
    ApplicationState,
    VisitApplication,
)
from .calls import MobilityCountry, MobilityTerms
from .reviews import (
    VisitAwardDecision,
    VisitReview,
    VisitReviewerAssignment,
    VisitReviewScore,
)
from .visits import VISIT_WORKFLOW, PayingSide, PaymentKind, Visit, VisitPayment, VisitState

__all__ = [
    "APPLICATION_WORKFLOW",
    "PENDING_APPLICATION_STATES",
    "VISIT_WORKFLOW",
    "ApplicationState",
    "MobilityCountry",
    "MobilityTerms",
    "PayingSide",
    "PaymentKind",
    "Visit",
    "VisitApplication",
    "VisitAwardDecision",
    "VisitReview",
    "VisitReviewScore",
    "VisitReviewerAssignment",
    "VisitPayment",
    "VisitState",
]
