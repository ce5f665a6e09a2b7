"""Pagination of every API list (§14): page numbers by default, cursors for the long
append-mostly lists (measurements, ledger, audit).

Query parameters are validated like bodies (§17): ``page=0``, ``page=abc``, a page size
that is not a positive whole number and a cursor that does not decode answer 400
problem+json naming the parameter, never a silent first page; a page past the end stays a
404 (the page does not exist).
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.utils.urls import replace_query_param


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

    def get_schema_operation_parameters(self, view):
        return _at_least_one(
            super().get_schema_operation_parameters(view),
            self.page_query_param,
            self.page_size_query_param,
        )


def _at_least_one(parameters: list[dict], *names: str) -> list[dict]:
    for parameter in parameters:
        if parameter["name"] in names:
            parameter["schema"] = {**parameter["schema"], "minimum": 1}
    return parameters


class CursorPagination(pagination.CursorPagination):
    """Cursors are short text the published ``pattern`` describes exactly:
    ``f`` (forward) or ``r`` (reverse), then ``o<offset>`` and ``p<position>`` when there is
    one. Every string the pattern matches is a cursor this pagination accepts; anything
    else answers 400."""

    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"
    # The ordering field's value: an id, or (CodeCursorPagination) a ledger account code.
    position_pattern = "[0-9]{1,18}"

    @property
    def cursor_pattern(self) -> str:
        return rf"^[fr](o[0-9]{{1,6}})?(p{self.position_pattern})?$"

    def paginate_queryset(self, queryset, request, view=None):
        _positive_integer(request, self.page_size_query_param)
        return super().paginate_queryset(queryset, request, view)

    def encode_cursor(self, cursor):
        text = "r" if cursor.reverse else "f"
        if cursor.offset:
            text += f"o{cursor.offset}"
        if cursor.position is not None:
            text += f"p{cursor.position}"
        return replace_query_param(self.base_url or "", self.cursor_query_param, text)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        match = re.fullmatch(self.cursor_pattern.strip("^$"), encoded)
        if match is None:
            raise ValidationError({self.cursor_query_param: [_("This cursor is not valid.")]})
        offset, position = match.group(1), match.group(2)
        # DRF's Cursor types the position as an int; it is the ordering field's value as text.
        return pagination.Cursor(
            offset=int(offset[1:]) if offset else 0,
            reverse=encoded.startswith("r"),
            position=position[1:] if position else None,  # type: ignore[arg-type]
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = str(
                    _("The cursor of a page, as the `next` and `previous` links carry it.")
                )
                parameter["schema"] = {"type": "string", "pattern": self.cursor_pattern}
        return _at_least_one(parameters, self.page_size_query_param)
