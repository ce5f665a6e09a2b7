from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MobilityConfig(AppConfig):
    name = "mobility"
    verbose_name = _("Talent exchange")

    def ready(self) -> None:
        from mobility import events

        events.register()
