"""The notification pages, marking read, and the unread count in the header (§13, §15)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from fundapp.errors import NotFound
from fundapp.notifications.context_processors import unread_count
from fundapp.notifications.models import Notification
from fundapp.notifications.services import (
    notification_mark_all_read,
    notification_mark_read,
    notify,
)
from tests.factories import UserFactory
from tests.notifications.said import said

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.notifications.urls")]

LIST = "/notifications/"
READ_ALL = "/notifications/read-all/"


def read_url(notification):
    return f"/notifications/{notification.pk}/read/"


def tell(user, title, **kwargs):
    [row] = notify(users=[user], **said("decision_needed", title), email=False, **kwargs)
    return row


@pytest.fixture
def bob(db):
    return UserFactory.create(username="bob", display_name="Bob")


# --------------------------------------------------------------------------- services


def test_marking_read_is_for_the_owner_and_keeps_the_first_time(alice, bob):
    row = tell(alice, "Gate 1")
    with pytest.raises(NotFound):
        notification_mark_read(notification=row, actor=bob)
    assert Notification.objects.get(pk=row.pk).read_at is None

    first = notification_mark_read(notification=row, actor=alice).read_at
    stale = Notification.objects.get(pk=row.pk)
    stale.read_at = None  # a copy loaded before the first read
    again = notification_mark_read(notification=stale, actor=alice).read_at

    assert first is not None and again == first


def test_mark_all_read_touches_only_the_actors_unread_ones(alice, bob):
    mine = [tell(alice, f"N{i}") for i in range(3)]
    notification_mark_read(notification=mine[0], actor=alice)
    theirs = tell(bob, "Bob's")

    assert notification_mark_all_read(actor=alice) == 2
    assert not Notification.objects.filter(user=alice, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None


# --------------------------------------------------------------------------- pages


def test_the_route_names_resolve():
    assert reverse("notifications:list") == LIST
    assert reverse("notifications:mark_all_read") == READ_ALL


@pytest.mark.urls("fundapp.urls")
def test_the_pages_are_mounted_in_the_site():
    assert reverse("notifications:list") == LIST
    assert reverse("notifications:mark_read", args=[7]) == "/notifications/7/read/"


def test_anonymous_is_sent_to_sign_in(client):
    for response in (client.get(LIST), client.post(READ_ALL)):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_the_list_shows_my_own_notifications_unread_first(client, alice, bob):
    now = timezone.now()
    old_unread = tell(alice, "Old unread")
    newest_read = tell(alice, "Newest but read")
    tell(bob, "Bob's secret")
    Notification.objects.filter(pk=old_unread.pk).update(created_at=now - timedelta(days=2))
    notification_mark_read(notification=newest_read, actor=alice)
    client.force_login(alice)

    response = client.get(LIST)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Bob&#x27;s secret" not in body and "Bob's secret" not in body
    assert body.index("Old unread") < body.index("Newest but read")
    assert [n.pk for n in response.context["page"].object_list] == [
        old_unread.pk,
        newest_read.pk,
    ]


def test_the_unread_filter(client, alice):
    unread = tell(alice, "Still unread")
    read = tell(alice, "Already read")
    notification_mark_read(notification=read, actor=alice)
    client.force_login(alice)

    response = client.get(LIST, {"unread": "1"})

    assert [n.pk for n in response.context["page"].object_list] == [unread.pk]
    assert "Already read" not in response.content.decode()


def test_the_list_is_paginated_with_a_fixed_number_of_queries(
    client, alice, django_assert_max_num_queries
):
    for i in range(30):
        tell(alice, f"Notice {i}")
    client.force_login(alice)

    # session, user, page count, page rows, unread count in the header
    with django_assert_max_num_queries(5):
        first = client.get(LIST)
    second = client.get(LIST, {"page": "2"})

    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5
    assert "Page 2 of 2" in second.content.decode()


def test_the_header_shows_the_unread_count(client, alice):
    tell(alice, "One")
    tell(alice, "Two")
    client.force_login(alice)

    body = client.get(LIST).content.decode()

    assert '<a href="/notifications/" class="site-nav__notifications">Notifications (' in body
    assert "<span data-unread-count>2</span>)" in body


def test_marking_one_read_then_going_back(client, alice):
    row = tell(alice, "Gate 4", url="/projects/4/")
    client.force_login(alice)

    response = client.post(read_url(row), {"next": "/projects/4/"})

    assert response.status_code == 302 and response["Location"] == "/projects/4/"
    assert Notification.objects.get(pk=row.pk).read_at is not None


def test_next_must_stay_on_this_site(client, alice):
    row = tell(alice, "Gate 5")
    client.force_login(alice)

    response = client.post(read_url(row), {"next": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == LIST


def test_someone_elses_notification_is_not_found(client, alice, bob):
    row = tell(bob, "Bob's")
    client.force_login(alice)

    assert client.post(read_url(row)).status_code == 404
    assert client.post("/notifications/999999/read/").status_code == 404
    assert Notification.objects.get(pk=row.pk).read_at is None


def test_marking_read_needs_a_post(client, alice):
    row = tell(alice, "Gate 6")
    client.force_login(alice)

    assert client.get(read_url(row)).status_code == 405
    assert client.get(READ_ALL).status_code == 405
    assert Notification.objects.get(pk=row.pk).read_at is None


def test_mark_all_read_page(client, alice, bob):
    tell(alice, "A")
    tell(alice, "B")
    theirs = tell(bob, "C")
    client.force_login(alice)

    response = client.post(READ_ALL, follow=True)

    assert response.redirect_chain == [(LIST, 302)]
    assert "All notifications are marked as read." in response.content.decode()
    assert "<span data-unread-count>0</span>" in response.content.decode()
    assert Notification.objects.get(pk=theirs.pk).read_at is None


# --------------------------------------------------------------------------- unread count


def context_for(user):
    request = RequestFactory().get("/")
    request.user = user
    return unread_count(request)


def test_the_unread_count_is_one_query_and_only_when_shown(alice, bob, django_assert_num_queries):
    tell(alice, "A")
    read = tell(alice, "B")
    notification_mark_read(notification=read, actor=alice)
    tell(bob, "C")

    with django_assert_num_queries(0):
        context = context_for(alice)
    with django_assert_num_queries(1):
        count = context["notifications_unread_count"]
        assert count() == 1
        assert count() == 1  # used twice on a page: still one query


def test_anonymous_visitors_have_no_count_and_cost_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert context_for(AnonymousUser())["notifications_unread_count"]() == 0


def test_the_count_is_never_stale_between_requests(alice):
    row = tell(alice, "A")
    assert context_for(alice)["notifications_unread_count"]() == 1
    notification_mark_read(notification=row, actor=alice)
    assert context_for(alice)["notifications_unread_count"]() == 0
