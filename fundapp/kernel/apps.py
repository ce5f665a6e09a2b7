from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KernelConfig(AppConfig):
    name = "fundapp.kernel"
    label = "kernel"
    verbose_name = _("Fund and research areas")

    def ready(self) -> None:
        from fundapp import events

        events.register()
