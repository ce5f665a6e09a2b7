from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MobilityConfig(AppConfig):
    name = "mobility"
    verbose_name = _("Talent exchange")

    def ready(self) -> None:
        from fundapp.ledger.descriptions import transaction_describer_register
        from mobility import events, notifications
        from mobility.selectors.finance import TRANSACTION_DESCRIBERS

        events.register()
        notifications.register()
        for kind, describer in TRANSACTION_DESCRIBERS.items():
            transaction_describer_register(kind, describer)
