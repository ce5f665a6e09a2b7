"""Browser pages of the IP registry and licences (§10, §15), namespaced ``ip``."""

from ip_licensing.views import urlpatterns

__all__ = ["urlpatterns"]
