from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "fundapp.ledger"
    label = "ledger"
    verbose_name = _("Ledger")

    def ready(self) -> None:
        from fundapp.triggers import harden_trigger_ignore

        # Once per migrate (sender: this app), after pgtrigger's migrations have run.
        post_migrate.connect(
            harden_trigger_ignore, sender=self, dispatch_uid="fundapp.harden_trigger_ignore"
        )
