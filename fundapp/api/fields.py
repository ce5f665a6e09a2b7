"""Text in a request body is a JSON string (§14, §17).

DRF's ``CharField`` turns ``12`` or ``1.5`` into ``"12"``/``"1.5"``; the schema publishes
those fields as ``type: string``, so a number sent for one is a field error (400), as it is
for a client generated from the schema. Installed once, for every serializer, when the API
app is ready.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

_drf_to_internal_value = serializers.CharField.to_internal_value


def _text_only(self: serializers.CharField, data: Any) -> Any:
    if not isinstance(data, str):
        raise serializers.ValidationError(_("Send text (a JSON string)."), code="invalid")
    return _drf_to_internal_value(self, data)


def require_json_strings() -> None:
    serializers.CharField.to_internal_value = _text_only  # type: ignore[method-assign,assignment]
