"""The API's content negotiation answers as DRF's, only without parsing the common case."""

from __future__ import annotations

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from fundapp.api.negotiation import JsonFirstNegotiation

RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


def _request(path: str = "/api/v1/licences/check/", **headers: str) -> Request:
    return Request(APIRequestFactory().post(path, **headers))


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        " application/json ",
        "application/json",
        "application/json; indent=4",
        "text/html",
        "text/html, */*;q=0.8",
        "application/*",
    ],
)
def test_it_picks_what_drf_picks(accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    ours = JsonFirstNegotiation().select_renderer(_request(**headers), RENDERERS)
    drf = DefaultContentNegotiation().select_renderer(_request(**headers), RENDERERS)

    assert (type(ours[0]), ours[1]) == (type(drf[0]), drf[1])


def test_a_format_override_or_suffix_is_left_to_drf():
    query = _request("/api/v1/licences/check/?format=api")
    assert type(JsonFirstNegotiation().select_renderer(query, RENDERERS)[0]) is BrowsableAPIRenderer
    suffixed = JsonFirstNegotiation().select_renderer(_request(), RENDERERS, format_suffix="api")
    assert type(suffixed[0]) is BrowsableAPIRenderer
