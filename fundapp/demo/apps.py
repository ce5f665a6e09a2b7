from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data (§20). Part of the composition root: it seeds both domains, so it may
    import both; nothing imports it but ``manage.py seed_demo`` and ``make run``."""

    name = "fundapp.demo"
    label = "demo"
    verbose_name = "Demo data"
