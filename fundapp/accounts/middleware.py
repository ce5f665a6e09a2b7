from django.conf import settings


class UserLanguageMiddleware:
    """Carry a signed-in person's saved language into the language cookie LocaleMiddleware reads.

    Sign-in and the language switcher store the choice in the session as well as on the
    account, so the session wins over a cookie left from before sign-in (another person on
    the same browser, or anonymous browsing in another language).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Runs before authentication; the session tells us the preferred language cheaply.
        lang = request.session.get("preferred_language") if hasattr(request, "session") else None
        if lang:
            request.COOKIES[settings.LANGUAGE_COOKIE_NAME] = lang
        return self.get_response(request)
