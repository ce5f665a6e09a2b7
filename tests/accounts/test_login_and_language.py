import re

import pytest
from django.conf import settings
from django.test import override_settings

from fundapp.accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
SET_LANGUAGE = "/accounts/language/"
PASSWORD = "pw-Secret-123"


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match, "no <html lang> in the page"
    return match.group(1)


def sign_in(client, user, password=PASSWORD, next_url="/accounts/login/"):
    return client.post(LOGIN, {"username": user.username, "password": password, "next": next_url})


def test_login_page_renders_with_the_layout(client):
    response = client.get(LOGIN)

    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert "/static/css/app.css" in body
    assert "django_htmx/htmx-2.min.js" in body  # served by the app, never a CDN
    assert "cdn" not in body.lower()


def test_login_signs_in_and_redirects_to_next(client):
    user = UserFactory.create()

    response = sign_in(client, user, next_url="/api/docs/")

    assert response.status_code == 302 and response["Location"] == "/api/docs/"
    assert client.session["_auth_user_id"] == str(user.pk)


def test_wrong_password_shows_a_form_error(client):
    user = UserFactory.create()

    response = sign_in(client, user, password="wrong")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert 'class="alert alert--error"' in response.content.decode()


def test_logout_signs_out(client):
    user = UserFactory.create()
    client.force_login(user)

    response = client.post(LOGOUT, {"next": LOGIN})

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@override_settings(AXES_FAILURE_LIMIT=3)
def test_lockout_after_the_failure_limit_shows_a_clear_message(client):
    user = UserFactory.create()
    for _attempt in range(2):
        assert sign_in(client, user, password="wrong").status_code == 200

    locked = sign_in(client, user, password="wrong")
    # Even the right password is refused while the lock lasts.
    still_locked = sign_in(client, user)

    for response in (locked, still_locked):
        assert response.status_code == 429
        body = response.content.decode()
        assert 'id="lockout-message"' in body
        assert "Too many failed sign-in attempts" in body
        assert "15 minutes" in body  # AXES_COOLOFF_TIME = 0.25 h
    assert "_auth_user_id" not in client.session


@override_settings(AXES_FAILURE_LIMIT=2)
def test_lockout_message_is_translated(client):
    user = UserFactory.create()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
    sign_in(client, user, password="wrong")

    response = sign_in(client, user, password="wrong")

    assert response.status_code == 429
    assert html_lang(response) == "ja"


def test_switching_to_japanese_renders_the_page_in_japanese(client):
    response = client.post(SET_LANGUAGE, {"language": "ja", "next": LOGIN}, follow=True)

    assert response.redirect_chain[-1][0] == LOGIN
    assert html_lang(response) == "ja"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ja"


def test_an_unknown_language_changes_nothing(client):
    user = UserFactory.create(preferred_language="en")
    client.force_login(user)

    response = client.post(SET_LANGUAGE, {"language": "xx", "next": LOGIN}, follow=True)

    assert html_lang(response) == "en"
    user.refresh_from_db()
    assert user.preferred_language == "en"


def test_set_language_refuses_get(client):
    assert client.get(SET_LANGUAGE, {"language": "ja"}).status_code == 405


def test_an_unsafe_next_is_not_followed(client):
    response = client.post(SET_LANGUAGE, {"language": "ko", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_the_choice_is_remembered_across_logout_and_login(client):
    user = UserFactory.create()
    sign_in(client, user)

    client.post(SET_LANGUAGE, {"language": "ko", "next": LOGIN})
    user.refresh_from_db()
    assert user.preferred_language == "ko"
    assert html_lang(client.get(LOGIN)) == "ko"

    client.post(LOGOUT, {"next": LOGIN})
    # A fresh browser, and one left in English by someone else: the account's choice wins.
    for cookies in ({}, {settings.LANGUAGE_COOKIE_NAME: "en"}):
        client.cookies.clear()
        for name, value in cookies.items():
            client.cookies[name] = value
        assert html_lang(client.get(LOGIN)) == "en"
        response = sign_in(client, user)
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
        assert client.session["preferred_language"] == "ko"
        assert html_lang(client.get(LOGIN)) == "ko"
        client.post(LOGOUT, {"next": LOGIN})


def test_an_anonymous_choice_does_not_touch_any_account(client):
    client.post(SET_LANGUAGE, {"language": "ko", "next": LOGIN})
    assert not User.objects.exclude(preferred_language="").exists()
