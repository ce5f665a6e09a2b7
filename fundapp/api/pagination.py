"""Pagination of every API list (§14): page numbers by default, cursors for the long
append-mostly lists (measurements, ledger, audit).

Query parameters are validated like bodies (§17): ``page=0``, ``page=abc``, a page size
that is not a positive whole number and a cursor that does not decode answer 400
problem+json naming the parameter, never a silent first page; a page past the end stays a
404 (the page does not exist).
"""

from __future__ import annotations

from base64 import b64decode
from binascii import Error as Base64Error
from typing import Any
from urllib import parse

from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


def _positive_integer(request, name: str) -> None:
    raw = request.query_params.get(name)
    if raw is None:
        return
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError({name: [_("Give a whole number of 1 or more.")]})


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        if request.query_params.get(self.page_query_param) not in self.last_page_strings:
            _positive_integer(request, self.page_query_param)
        _positive_integer(request, self.page_size_query_param)
        return super().paginate_queryset(queryset, request, view)


class CursorPagination(pagination.CursorPagination):
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def paginate_queryset(self, queryset, request, view=None):
        _positive_integer(request, self.page_size_query_param)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        refused = ValidationError({self.cursor_query_param: [_("This cursor is not valid.")]})
        try:
            fields = parse.parse_qs(
                b64decode(encoded.encode("ascii"), validate=True).decode("ascii"),
                keep_blank_values=True,
                strict_parsing=True,
            )
        except (Base64Error, UnicodeError, ValueError):
            raise refused from None
        # DRF's cursor always carries an offset or a position; anything else would be read
        # as the first page.
        if not fields.keys() & {"o", "p"} or not fields.keys() <= {"o", "p", "r"}:
            raise refused
        try:
            offset = int(fields.get("o", ["0"])[0])
            if offset < 0:
                raise ValueError(offset)
            reverse = bool(int(fields.get("r", ["0"])[0]))
        except ValueError:
            raise refused from None
        position: Any = fields.get("p", [None])[0]  # the ordering field's value, as text
        return pagination.Cursor(offset=offset, reverse=reverse, position=position)
