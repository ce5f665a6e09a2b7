"""Model fields shared by every app. Kept apart from ``fundapp.money`` so that the pure
rules, which use the money conventions, never import the ORM."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from fundapp.money import MAX_AMOUNT

amount_validators = [MinValueValidator(0), MaxValueValidator(MAX_AMOUNT)]


def AmountField(verbose_name=None, **kwargs) -> models.BigIntegerField:  # noqa: N802 - reads like a field class
    """A non-negative whole amount of yen or won, at most 10¹⁵."""
    kwargs.setdefault("default", 0)
    return models.BigIntegerField(verbose_name, validators=amount_validators, **kwargs)


def index_where_set(field: str, name: str) -> models.Index:
    """An index of a nullable column's rows that have a value (a foreign key most rows leave
    empty, as the scheduler's writes leave their actor): a row without one adds no entry,
    and a lookup by value (``field = x``, ``field IN (…)``, the check that protects a
    referenced row from deletion) still reads it."""
    return models.Index(
        fields=[field], name=name, condition=models.Q(**{f"{field}__isnull": False})
    )
