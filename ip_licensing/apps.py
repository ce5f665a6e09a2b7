from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IpLicensingConfig(AppConfig):
    name = "ip_licensing"
    verbose_name = _("IP registry and licences")

    def ready(self) -> None:
        from fundapp.kernel import registry
        from fundapp.ledger.descriptions import transaction_describer_register
        from ip_licensing import events, notifications
        from ip_licensing.descriptions import TRANSACTION_DESCRIBERS
        from ip_licensing.selectors import (
            RESULTS_NOT_REGISTERED,
            final_gate_requirements_met_many,
        )
        from ip_licensing.services.allocation import allocation_table_start

        # The rules this domain imposes on projects, asked for through the kernel.
        registry.final_gate_requirement_register(
            "ip_licensing.results_registered",
            final_gate_requirements_met_many,
            reason=RESULTS_NOT_REGISTERED,
        )
        registry.return_allocation_start.provide(allocation_table_start)
        events.register()
        for kind, describer in TRANSACTION_DESCRIBERS.items():
            transaction_describer_register(kind, describer)
        notifications.register()
