from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IpLicensingConfig(AppConfig):
    name = "ip_licensing"
    verbose_name = _("IP registry and licences")
