"""Coercing untrusted input (form or JSON) into typed values with field-level problems.

The services of both domains accept plain dicts from the browser forms and the API alike and
run every value through these helpers, so both get the same translated message for the same
mistake, keyed by the same field path (``stages.0.kpis.1.target``).
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation, User
from fundapp.kernel.problems import Problems, check_amount, check_decimal
from fundapp.money import MAX_AMOUNT


def text(
    problems: Problems, path: str, value: Any, *, max_length: int, required: bool = False
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.add(path, _("Enter text."))
        return ""
    value = unicodedata.normalize("NFC", value).strip()
    if "\x00" in value:
        problems.add(path, _("Text may not contain NUL characters."))
        return ""
    if required and not value:
        problems.add(path, _("This field is required."))
    if len(value) > max_length:
        problems.add(path, _("Use at most %(n)d characters.") % {"n": max_length})
        return value[:max_length]
    return value


def integer(
    problems: Problems,
    path: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    required: bool = True,
) -> int | None:
    if value is None or value == "":
        if required:
            problems.add(path, _("This field is required."))
        return None
    if isinstance(value, bool):
        problems.add(path, _("Enter a whole number."))
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip().replace(",", ""))
        except ValueError:
            problems.add(path, _("Enter a whole number."))
            return None
    if isinstance(value, float):
        value = Decimal(value)  # exact; inf and nan become Decimal's and are refused below
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        problems.add(path, _("Enter a whole number."))
        return None
    if not isinstance(value, int | Decimal):
        problems.add(path, _("Enter a whole number."))
        return None
    # Bounds are compared before int(): int(Decimal("1E+99999999")) takes minutes.
    if minimum is not None and value < minimum:
        problems.add(path, _("Enter a number of at least %(n)d.") % {"n": minimum})
        return None
    if maximum is not None and value > maximum:
        problems.add(path, _("Enter a number of at most %(n)d.") % {"n": maximum})
        return None
    return int(value)


def amount(problems: Problems, path: str, value: Any) -> int:
    """A whole amount of yen or won: fractions, negatives and values above 10¹⁵ are refused."""
    if value is None or value == "":
        problems.add(path, _("This field is required."))
        return 0
    if isinstance(value, str):
        try:
            value = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            problems.add(path, _("Enter a whole amount."))
            return 0
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, Decimal) and not value.is_finite():
        problems.add(path, _("Enter a whole amount."))
        return 0
    error = check_amount(value)
    if error:
        problems.add(path, error)
        return 0
    result = int(value)  # type: ignore[arg-type]
    return min(result, MAX_AMOUNT)


def decimal(
    problems: Problems, path: str, value: Any, *, max_digits: int = 20, places: int = 6
) -> Decimal | None:
    if value is None or value == "":
        problems.add(path, _("This field is required."))
        return None
    if isinstance(value, bool):
        problems.add(path, _("Enter a number."))
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        problems.add(path, _("Enter a number."))
        return None
    problem = check_decimal(number, places=places, max_digits=max_digits)
    if problem:
        problems.add(path, problem)
        return None
    return number


def choice(
    problems: Problems, path: str, value: Any, choices: Any, *, required: bool = True
) -> str:
    allowed = {c.value if hasattr(c, "value") else c for c in choices}
    if value in (None, ""):
        if required:
            problems.add(path, _("This field is required."))
        return ""
    if not isinstance(value, str) or value not in allowed:
        problems.add(path, _("“%(value)s” is not a valid choice.") % {"value": str(value)[:40]})
        return ""
    return str(value)


def boolean(problems: Problems, path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, "", "false", "False", "0", 0, "off"):
        return False
    if value in ("true", "True", "1", 1, "on"):
        return True
    problems.add(path, _("Enter true or false."))
    return False


def string_list(
    problems: Problems, path: str, value: Any, *, max_items: int, max_length: int
) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in (part.strip() for part in value.replace("、", ",").split(",")) if v]
    if not isinstance(value, list | tuple):
        problems.add(path, _("Enter a list."))
        return []
    out: list[str] = []
    for i, item in enumerate(value):
        out.append(text(problems, f"{path}.{i}", item, max_length=max_length, required=True))
    if len(out) > max_items:
        problems.add(path, _("Use at most %(n)d entries.") % {"n": max_items})
    return [v for v in out if v]


def item_list(problems: Problems, path: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, dict) for v in value):
        problems.add(path, _("Enter a list of objects."))
        return []
    return list(value)


def _by_id_or_name(ref: str, name_field: str) -> Q:
    """A string of digits is an id or a name (code, username); anything else a name."""
    if ref.isascii() and ref.isdigit():
        return Q(**{name_field: ref}) | Q(pk=int(ref))
    return Q(**{name_field: ref})


def organisation(problems: Problems, path: str, ref: Any) -> Organisation | None:
    """An organisation named by instance, integer id or code (a string of digits may be
    either); ``None`` with "Unknown organisation." at ``path`` otherwise. One query."""
    if isinstance(ref, Organisation):
        return ref
    org = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        org = Organisation.objects.filter(pk=ref).first()
    elif isinstance(ref, str) and ref.strip():
        org = Organisation.objects.filter(_by_id_or_name(ref.strip(), "code")).first()
    if org is None:
        problems.add(path, _("Unknown organisation."))
    return org


def person(problems: Problems, path: str, ref: Any) -> User | None:
    """An active person named by instance, integer id or username (a string of digits may
    be either); ``None`` with "Unknown person." at ``path`` otherwise. One query."""
    if isinstance(ref, User):
        return ref
    user = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        user = User.objects.filter(pk=ref, is_active=True).first()
    elif isinstance(ref, str) and ref.strip():
        user = User.objects.filter(_by_id_or_name(ref.strip(), "username"), is_active=True).first()
    if user is None:
        problems.add(path, _("Unknown person."))
    return user
