from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "fundapp.api"
    label = "api"
    verbose_name = "API"
