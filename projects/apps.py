from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Calls, proposals and projects")

    def ready(self) -> None:
        from fundapp.kernel import registry
        from fundapp.ledger.descriptions import transaction_describer_register
        from projects import events, notifications
        from projects.directory import ProjectDirectory
        from projects.schedules import ensure_schedules_after_migrate
        from projects.selectors.finance import TRANSACTION_DESCRIBERS

        registry.project_directory.provide(ProjectDirectory())
        events.register()
        for kind, describer in TRANSACTION_DESCRIBERS.items():
            transaction_describer_register(kind, describer)
        notifications.register()

        # Beat schedules live in the database (§16); every migrate brings them up to date.
        post_migrate.connect(
            ensure_schedules_after_migrate, sender=self, dispatch_uid="projects.ensure_schedules"
        )
