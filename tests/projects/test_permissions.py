"""The funding engine's permission matrix: role × own / other organisation × action (§2, §14).

One world (``tests.factories.matrix``) is built once for the module through the real
services: an awarded project whose stage-1 gate is due and evaluated (PASS, waiting for the
officers), with tranche 1 released and a payable JPY disbursement. Every test runs in a
savepoint of the module's transaction, so the writes one cell makes (an evaluation, a
first approval, a payment) never leak into the next.

Reading the table (the expectations are what SPEC §2 / §14 require, not what the code
happened to answer when this was written):

- ``200`` / ``201``: allowed; ``302``: a browser form that succeeded and redirected to its
  page (the gate review, the disbursement list);
- ``rows`` / ``empty``: a list answered 200, with / without the world's project's rows;
- ``login``: an anonymous browser is sent to the sign-in page; ``401``: anonymous API;
- ``404``: the caller may not see the object — never 403 for an object one may not see (§2);
- ``403``: the object is visible (or the request names none: a list) but the caller may not
  do this; for an API key, also a scope the key lacks on something it may see;
- ``-``: not applicable (an API key has no browser session).

Role names: ``pi_jp`` is the named PI of the JP lead organisation; ``stranger`` a researcher
of an unrelated organisation; ``office_kr`` the research office of the KR lead organisation;
``reviewer`` reviewed the proposal; ``officer_*`` fund officers; ``finance_*`` finance
officers; ``screening`` a screening officer; ``key_own`` the JP lead organisation's key
(every scope); ``key_other`` an unrelated organisation's key (every scope);
``key_agency_jp`` the Japanese agency's finance system (``payments:write`` only).

Mutating cells also check their effect: a new evaluation, a pending decision, a paid
disbursement exactly when the action succeeded, and nothing changed when it was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from projects.models import Disbursement, GateDecision, GateEvaluation
from projects.services.gates import today_in_tokyo
from tests.factories.matrix import MatrixWorld, build_matrix_world

# fmt: off
MATRIX = """
role           project_page project_api gate_page gate_api evaluate_api evaluate_page decide_page decide_api tranches_api finance_page finance_disbursements_page disbursements_api confirm_api confirm_page ledger_api reviews_api
pi_jp          200          200         200       200      403          403           403         403        rows         404          404                        rows              403         403          403        empty
stranger       404          404         404       404      404          404           404         404        empty        404          404                        empty             404         404          403        empty
office_kr      200          200         200       200      403          403           403         403        rows         404          404                        rows              403         403          403        empty
reviewer       404          404         404       404      404          404           404         404        empty        404          404                        empty             404         404          403        rows
officer_jp     200          200         200       200      200          302           302         201        rows         200          200                        rows              403         403          200        rows
officer_kr     200          200         200       200      200          302           302         201        rows         200          200                        rows              403         403          200        rows
finance_jp     200          200         200       200      403          403           403         403        rows         200          200                        rows              200         302          200        empty
finance_kr     200          200         200       200      403          403           403         403        rows         200          200                        rows              403         403          200        empty
screening      404          404         404       404      404          404           404         404        empty        404          404                        empty             404         404          403        empty
key_own        -            200         -         200      200          -             -           403        rows         -            -                          rows              403         -            403        403
key_other      -            404         -         404      404          -             -           404        empty        -            -                          empty             404         -            403        403
key_agency_jp  -            404         -         404      404          -             -           404        403          -            -                          403               200         -            403        403
anonymous      login        401         login     401      401          login         login       401        401          login        login                      401               401         login        401        401
"""
# fmt: on


def parse_matrix(text: str) -> dict[str, dict[str, str]]:
    header, *rows = [line.split() for line in text.strip().splitlines()]
    actions = header[1:]
    table = {}
    for row in rows:
        assert len(row) == len(header), row
        table[row[0]] = dict(zip(actions, row[1:], strict=True))
    return table


EXPECTED = parse_matrix(MATRIX)
PAGE_SUCCESS = "302"  # a browser form that worked redirects (post/redirect/get)


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Action:
    """One request of the matrix. ``effect`` reads what the request would change (None
    for reads); ``success`` is the answer with which that change must have happened."""

    api: bool
    method: str
    url: Callable[[MatrixWorld], str]
    data: Callable[[MatrixWorld], dict[str, Any]] | None = None
    headers: Callable[[], dict[str, str]] | None = None
    effect: Callable[[MatrixWorld], Any] | None = None
    success: str = ""
    redirect_to: Callable[[MatrixWorld], str] | None = None
    rows: Callable[[MatrixWorld, list[dict[str, Any]]], bool] | None = None


def evaluations(w: MatrixWorld) -> int:
    return GateEvaluation.objects.filter(gate=w.gate).count()


def decisions(w: MatrixWorld) -> int:
    return GateDecision.objects.filter(gate=w.gate).count()


def disbursement_state(w: MatrixWorld) -> str:
    return Disbursement.objects.get(pk=w.disbursement_jpy.pk).state


def payment(w: MatrixWorld) -> dict[str, Any]:
    return {"paid_on": today_in_tokyo().isoformat(), "reference": "JST-MATRIX-1"}


def payment_form(w: MatrixWorld) -> dict[str, Any]:
    prefix = f"d{w.disbursement_jpy.pk}"
    return {f"{prefix}-{name}": value for name, value in payment(w).items()}


def of_project(w: MatrixWorld, results: list[dict[str, Any]]) -> bool:
    return any(row["project"] == w.project.pk for row in results)


def of_proposal(w: MatrixWorld, results: list[dict[str, Any]]) -> bool:
    return bool(results)


def gate_url(w: MatrixWorld) -> str:
    return reverse("projects:gate", args=[w.gate.pk])


ACTIONS: dict[str, Action] = {
    "project_page": Action(
        api=False, method="get", url=lambda w: reverse("projects:project", args=[w.project.pk])
    ),
    "project_api": Action(
        api=True, method="get", url=lambda w: f"/api/v1/projects/{w.project.pk}/"
    ),
    "gate_page": Action(api=False, method="get", url=gate_url),
    "gate_api": Action(api=True, method="get", url=lambda w: f"/api/v1/gates/{w.gate.pk}/"),
    "evaluate_api": Action(
        api=True,
        method="post",
        url=lambda w: f"/api/v1/gates/{w.gate.pk}/evaluate/",
        effect=evaluations,
        success="200",
    ),
    "evaluate_page": Action(
        api=False,
        method="post",
        url=lambda w: reverse("projects:gate_evaluate", args=[w.gate.pk]),
        effect=evaluations,
        success=PAGE_SUCCESS,
        redirect_to=gate_url,
    ),
    "decide_page": Action(
        api=False,
        method="post",
        url=lambda w: reverse("projects:gate_decide", args=[w.gate.pk]),
        data=lambda w: {"kind": "release", "justification": ""},
        effect=decisions,
        success=PAGE_SUCCESS,
        redirect_to=gate_url,
    ),
    "decide_api": Action(
        api=True,
        method="post",
        url=lambda w: f"/api/v1/gates/{w.gate.pk}/decisions/",
        data=lambda w: {"kind": "release", "justification": ""},
        effect=decisions,
        success="201",
    ),
    "tranches_api": Action(
        api=True,
        method="get",
        url=lambda w: f"/api/v1/tranches/?project={w.project.pk}",
        rows=of_project,
    ),
    "finance_page": Action(api=False, method="get", url=lambda w: reverse("finance:accounts")),
    "finance_disbursements_page": Action(
        api=False, method="get", url=lambda w: reverse("finance:disbursements")
    ),
    "disbursements_api": Action(
        api=True,
        method="get",
        url=lambda w: f"/api/v1/disbursements/?project={w.project.pk}",
        rows=of_project,
    ),
    "confirm_api": Action(
        api=True,
        method="post",
        url=lambda w: f"/api/v1/disbursements/{w.disbursement_jpy.pk}/confirm/",
        data=payment,
        headers=lambda: {"HTTP_IDEMPOTENCY_KEY": "matrix-confirm-1"},
        effect=disbursement_state,
        success="200",
    ),
    "confirm_page": Action(
        api=False,
        method="post",
        url=lambda w: reverse("finance:disbursement_confirm", args=[w.disbursement_jpy.pk]),
        data=payment_form,
        effect=disbursement_state,
        success=PAGE_SUCCESS,
        redirect_to=lambda w: reverse("finance:disbursements"),
    ),
    "ledger_api": Action(api=True, method="get", url=lambda w: "/api/v1/ledger/accounts/"),
    "reviews_api": Action(
        api=True,
        method="get",
        url=lambda w: f"/api/v1/reviews/?proposal={w.proposal.pk}",
        rows=of_proposal,
    ),
}

assert set(next(iter(EXPECTED.values()))) == set(ACTIONS), "the table's columns are the actions"

CELLS = [
    pytest.param(role, action, expected, id=f"{role}-{action}")
    for role, row in EXPECTED.items()
    for action, expected in row.items()
    if expected != "-"
]


# --------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once, inside a transaction that is rolled back when the module ends; each test
    runs in a savepoint of it (pytest-django's ``db``)."""
    quick = override_settings(
        PRIVATE_MEDIA_ROOT=tmp_path_factory.mktemp("private"),
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    quick.enable()
    outer = transaction.atomic()
    try:
        with django_db_blocker.unblock():
            outer.__enter__()
            try:
                built = build_matrix_world()
            except BaseException:
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)
                raise
        yield built
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
    finally:
        quick.disable()


def client_for(w: MatrixWorld, role: str) -> APIClient:
    client = APIClient()
    person = w.person(role)
    if person is not None:
        client.force_login(person)
    key = w.key(role)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert person is not None or key is not None or role == "anonymous", role
    return client


def send(client: APIClient, action: Action, w: MatrixWorld):
    kwargs: dict[str, Any] = dict(action.headers() if action.headers else {})
    if action.method == "get":
        return client.get(action.url(w), **kwargs)
    data = action.data(w) if action.data else {}
    if action.api:
        return client.post(action.url(w), data, format="json", **kwargs)
    return client.post(action.url(w), data, **kwargs)


# --------------------------------------------------------------------------- the matrix


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "action_name", "expected"), CELLS)
def test_permission_matrix(world, role, action_name, expected, settings):
    action = ACTIONS[action_name]
    before = action.effect(world) if action.effect else None

    response = send(client_for(world, role), action, world)

    got = str(response.status_code)
    where = f"{role} × {action_name}: expected {expected}, got {got}"
    if expected == "login":
        assert response.status_code == 302, where
        assert response["Location"].startswith(reverse(settings.LOGIN_URL)), where
    elif expected in ("rows", "empty"):
        assert response.status_code == 200, where
        results = response.json()["results"]
        assert action.rows is not None
        assert action.rows(world, results) is (expected == "rows"), (
            f"{role} × {action_name}: expected {expected}, got {results}"
        )
    else:
        assert got == expected, where
        if expected == PAGE_SUCCESS:
            assert action.redirect_to is not None
            assert response["Location"] == action.redirect_to(world), where
    if action.api and response.status_code >= 400:
        # §14 / §21: every API error is application/problem+json.
        assert response["Content-Type"].startswith("application/problem+json"), where
        assert response.json()["status"] == response.status_code, where
    if action.effect is not None:
        after = action.effect(world)
        if got == action.success and expected != "login":
            assert after != before, f"{where}, but nothing changed"
        else:
            assert after == before, f"{where}, yet it changed {before!r} → {after!r}"


def test_the_world_is_what_the_matrix_assumes(world, db):
    """Guards the cells' meaning: a due, evaluated, undecided gate; a payable disbursement
    of the JP lead organisation; a submitted review of the proposal."""
    from projects.models import GateState, Review

    world.gate.refresh_from_db()
    assert world.gate.state == GateState.EVALUATED
    assert world.gate.due_on <= today_in_tokyo()
    assert not GateDecision.objects.filter(gate=world.gate).exists()
    assert disbursement_state(world) == "payable"
    assert world.disbursement_jpy.organisation_id == world.consortium.jp.pk
    assert Review.objects.filter(assignment__proposal=world.proposal).count() == 1
