"""Rate limits per API key and per signed-in person (§14): 429 with Retry-After."""

from rest_framework.throttling import SimpleRateThrottle

from fundapp.accounts.models import ApiKey


class ClientRateThrottle(SimpleRateThrottle):
    scope = "client"

    def get_cache_key(self, request, view):
        user = request.user
        if isinstance(user, ApiKey):
            ident = f"key:{user.pk}"
        elif user and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
