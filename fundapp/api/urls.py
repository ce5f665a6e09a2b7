"""/api/v1/: every app registers its viewsets on the one router."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from fundapp.accounts.api import register as register_accounts
from fundapp.ledger.api import register as register_ledger
from fundapp.notifications.webhooks.api import register as register_webhooks
from fundapp.screening.api import register as register_screening
from ip_licensing.api import register as register_ip
from ip_licensing.api import urls_before_router as ip_urls_before_router
from mobility.api import register as register_mobility
from projects.api import register as register_projects

router = DefaultRouter()
register_accounts(router)
register_projects(router)
register_ledger(router)
register_screening(router)
register_ip(router)
register_mobility(router)
register_webhooks(router)

# The router tries its routes in order, a dozen per resource: the routes of the API's hot
# paths come first (§19).
urlpatterns = [*ip_urls_before_router(), path("", include(router.urls))]
