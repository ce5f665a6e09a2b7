from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "fundapp.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from fundapp.notifications import messages

        messages.register()
