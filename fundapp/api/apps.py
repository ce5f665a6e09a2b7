from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "fundapp.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from . import schema  # noqa: F401 - registers the OpenAPI extensions
        from .fields import require_json_strings

        require_json_strings()
