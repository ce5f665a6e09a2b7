from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "fundapp.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from fundapp.accounts.context_processors import remember_research_office

        user_logged_in.connect(remember_research_office, dispatch_uid="nav_research_office")
