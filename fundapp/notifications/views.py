"""Notification pages (§13, §15): my notifications, mark one read, mark all read.

A person sees only their own notifications; anyone else's answers 404, the same as a
missing one. Changes go through ``fundapp.notifications.services``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from fundapp.errors import NotFound

from .messages import notifications_render
from .selectors import get_notification_for_actor, notifications_for
from .services import notification_mark_all_read, notification_mark_read

PAGE_SIZE = 25


def _back(request: HttpRequest) -> HttpResponseRedirect:
    """To ``next`` when it points into this site, else to the list."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("notifications:list")
    return HttpResponseRedirect(target)


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    """My notifications, unread first, newest first; ``?unread=1`` shows only unread."""
    unread_only = request.GET.get("unread") == "1"
    rows = notifications_for(request.user, unread_only=unread_only)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    # In the reader's language now, whatever language was active when they were written.
    notifications_render(page.object_list)
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread_only": unread_only, "query": "unread=1" if unread_only else ""},
    )


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        notification = get_notification_for_actor(request.user, pk)
    except NotFound:
        raise Http404 from None
    notification_mark_read(notification=notification, actor=request.user)
    return _back(request)


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    changed = notification_mark_all_read(actor=request.user)
    if changed:
        messages.success(request, _("All notifications are marked as read."))
    return _back(request)
