from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MobilityConfig(AppConfig):
    name = "mobility"
    verbose_name = _("Talent exchange")

    def ready(self) -> None:
        from mobility import events, notifications

        events.register()
        notifications.register()

        # ------------------------------------------------------------- calls → award
        from fundapp.kernel import registry
        from mobility.services import screening
        from mobility.services.applications import visit_effort_claims
        from mobility.services.endorsements import applications_close_for_call

        registry.effort_claim_register("mobility.visits", visit_effort_claims)
        registry.call_close_register("mobility.applications", applications_close_for_call)
        from mobility.selectors.calls import mobility_terms_many

        registry.call_terms_register("mobility", mobility_terms_many)
        screening.register()
        from fundapp.ledger.descriptions import transaction_describer_register
        from mobility.descriptions import TRANSACTION_DESCRIBERS

        for kind, describer in TRANSACTION_DESCRIBERS.items():
            transaction_describer_register(kind, describer)

        # ------------------------------------------------------------- visits
