"""Filters every API list shares (§14).

Query parameters are validated like bodies (§17): a value a filter cannot read answers 400
problem+json naming the parameter, never a silently ignored filter.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

# The largest value of a PostgreSQL bigint, the type of every primary key.
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An id: a whole number of 1 or more, never a decimal (``?project=1.5`` is a field
    error) and never beyond the database's range (a field error, not a database error)."""

    # The stubs type NumberFilter's field as DecimalField; an IntegerField is what an id is.
    field_class = forms.IntegerField  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.Field):
    """``true``/``false`` (or ``1``/``0``); anything else is a field error, where
    django-filter's own boolean field would read it as "not given"."""

    default_error_messages = {"invalid": _("Give true or false.")}
    _VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self._VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


@extend_schema_field({"type": "boolean"})
class BooleanFilter(django_filters.BooleanFilter):
    """A boolean query parameter: ``true`` or ``false``, nothing else."""

    field_class = StrictBooleanField  # type: ignore[assignment]
