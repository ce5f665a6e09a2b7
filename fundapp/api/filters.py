"""Filters every API list shares (§14)."""

from __future__ import annotations

import django_filters
from django import forms


class IdFilter(django_filters.NumberFilter):
    """An id: an integer, never a decimal (``?project=1.5`` is a field error)."""

    # The stubs type NumberFilter's field as DecimalField; an IntegerField is what an id is.
    field_class = forms.IntegerField  # type: ignore[assignment]
