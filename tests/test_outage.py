"""A database outage gives a clear 503 (§17): pointed at a port where nothing listens."""

import socket

import pytest
from django.db import connection


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def database_down():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = _dead_port()
    connection.settings_dict["HOST"] = "127.0.0.1"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_api_answers_503_problem_json_when_the_database_is_down(client, database_down):
    client.raise_request_exception = False
    response = client.get("/api/v1/calls/", HTTP_AUTHORIZATION="Bearer jkf_abc_def")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["Retry-After"]
    assert response.json()["status"] == 503


@pytest.mark.django_db(transaction=True)
def test_pages_answer_503_when_the_database_is_down(client, database_down):
    client.raise_request_exception = False
    client.cookies["sessionid"] = "a" * 32  # loading the session needs the database
    response = client.get("/dashboard/")
    assert response.status_code == 503
    assert b"unavailable" in response.content.lower()
