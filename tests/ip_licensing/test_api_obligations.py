"""``/api/v1/licences/{id}/obligations/`` and ``…/breach-decisions/`` (§23): who may do
what (licensor, licensee, unrelated organisation, fund officers; people and keys), 404
for licences one may not see, and the list's fixed number of queries."""

from __future__ import annotations

import pytest

from ip_licensing.models import Obligation
from ip_licensing.services.obligations import obligation_submit_evidence
from tests.factories.licensing import World, days, key_client, user_client
from tests.factories.obligations import add_obligation, breached, exclusive_licence

pytestmark = [pytest.mark.django_db]

BOTH = ["licences:read", "licences:check"]

ACTORS = [
    "licensor",
    "licensee",
    "unrelated",
    "officer",
    "licensor_key",
    "licensee_key",
    "unrelated_key",
]


def client_of(world: World, actor: str):
    return {
        "licensor": lambda: user_client(world.office_licensor),
        "licensee": lambda: user_client(world.office_licensee),
        "unrelated": lambda: user_client(world.outsider),
        "officer": lambda: user_client(world.jp),
        "licensor_key": lambda: key_client(world.licensor, BOTH),
        "licensee_key": lambda: key_client(world.licensee, BOTH),
        "unrelated_key": lambda: key_client(world.unrelated, BOTH),
    }[actor]()


def base(licence_id: int) -> str:
    return f"/api/v1/licences/{licence_id}/obligations/"


NEW = {"kind": "report", "description_ko": "연차 보고서", "due_on": None}

# actor → expected status, per action.
MATRIX = {
    "list": dict(zip(ACTORS, [200, 200, 404, 200, 200, 200, 404], strict=True)),
    "create": dict(zip(ACTORS, [201, 403, 404, 201, 201, 403, 404], strict=True)),
    "evidence": dict(zip(ACTORS, [403, 200, 404, 403, 403, 200, 404], strict=True)),
    "accept": dict(zip(ACTORS, [200, 403, 404, 200, 200, 403, 404], strict=True)),
    "waive": dict(zip(ACTORS, [403, 403, 404, 200, 403, 403, 404], strict=True)),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", list(MATRIX))
def test_permission_matrix(world, actor, action):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    if action == "accept":
        obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="Done.")
    client = client_of(world, actor)
    url = base(licence.pk)
    if action == "list":
        response = client.get(url)
    elif action == "create":
        response = client.post(url, {**NEW, "due_on": days(20).isoformat()}, format="json")
    elif action == "evidence":
        response = client.post(f"{url}{obligation.pk}/evidence/", {"note": "x"}, format="json")
    elif action == "accept":
        response = client.post(f"{url}{obligation.pk}/accept/", format="json")
    else:
        response = client.post(f"{url}{obligation.pk}/waive/", {"reason": "r"}, format="json")
    assert response.status_code == MATRIX[action][actor], response.content
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
    expected_count = 2 if (action == "create" and response.status_code == 201) else 1
    assert Obligation.objects.count() == expected_count


def test_the_answers_carry_the_obligation(world):
    licence = exclusive_licence(world)
    client = user_client(world.office_licensor)
    created = client.post(base(licence.pk), {**NEW, "due_on": days(20).isoformat()}, format="json")
    assert created.status_code == 201
    data = created.json()
    assert data["state"] == "open" and data["kind"] == "report"
    assert data["description_ko"] == "연차 보고서" and data["waiver"] is None
    assert created["Location"].endswith(f"{base(licence.pk)}{data['id']}/")
    read = client.get(f"{base(licence.pk)}{data['id']}/")
    assert read.status_code == 200 and read.json() == data


def test_bad_input_is_a_field_level_422(world):
    licence = exclusive_licence(world)
    response = user_client(world.office_licensor).post(
        base(licence.pk), {"kind": "promise", "due_on": "tomorrow"}, format="json"
    )
    assert response.status_code == 422
    assert {"kind", "due_on", "description_en"} <= set(response.json()["errors"])


def test_a_key_without_the_scope_is_refused_and_an_unseen_licence_is_404(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    read_only = key_client(world.licensee, ["licences:read"])
    response = read_only.post(f"{base(licence.pk)}{obligation.pk}/evidence/", {"note": "x"})
    assert response.status_code == 403
    no_read = key_client(world.licensee, ["licences:check"])
    assert no_read.get(base(licence.pk)).status_code == 403
    stranger = key_client(world.unrelated, ["royalties:write"])
    assert stranger.get(base(licence.pk)).status_code == 404
    assert user_client(world.jp).get(base(999_999)).status_code == 404
    assert user_client(world.jp).get(f"{base(licence.pk)}999999/").status_code == 404


def test_two_officers_answer_a_breach_through_the_api(world):
    licence = exclusive_licence(world)
    obligation = breached(world, licence)
    url = f"/api/v1/licences/{licence.pk}/breach-decisions/"
    body = {"obligation": obligation.pk, "remedy": "convert", "reason": "No sale."}
    assert user_client(world.office_licensor).post(url, body, format="json").status_code == 403
    assert user_client(world.outsider).post(url, body, format="json").status_code == 404
    first = user_client(world.jp).post(url, body, format="json")
    assert first.status_code == 200 and first.json()["two_person"]["state"] == "pending"
    same_side = user_client(world.jp2).post(url, body, format="json")
    assert same_side.status_code == 403
    second = user_client(world.kr).post(url, body, format="json")
    assert second.status_code == 200 and second.json()["two_person"]["state"] == "completed"
    licence.refresh_from_db()
    assert licence.exclusivity == "non_exclusive"
    listed = user_client(world.office_licensee).get(url)
    assert listed.status_code == 200 and listed.json()["results"][0]["remedy"] == "convert"


@pytest.mark.parametrize("n", [2, 12])
def test_the_list_answers_in_a_fixed_number_of_queries(world, django_assert_max_num_queries, n):
    licence = exclusive_licence(world)
    for index in range(n):
        add_obligation(world, licence, due_on=days(index + 1))
    client = key_client(world.licensee, BOTH)
    with django_assert_max_num_queries(6):
        response = client.get(base(licence.pk))
    assert response.status_code == 200
    assert response.json()["count"] == n


def test_a_waiver_approval_after_the_obligation_is_met_answers_409(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    url = f"{base(licence.pk)}{obligation.pk}/"
    first = user_client(world.jp).post(f"{url}waive/", {"reason": "Closed."}, format="json")
    assert first.status_code == 200 and first.json()["waiver"]["two_person"]["state"] == "pending"
    licensee = user_client(world.office_licensee)
    assert licensee.post(f"{url}evidence/", {"note": "Sold."}, format="json").status_code == 200
    met = user_client(world.office_licensor).post(f"{url}accept/", format="json")
    assert met.status_code == 200 and met.json()["state"] == "met"
    second = user_client(world.kr).post(f"{url}waive/", {"reason": "Agreed."}, format="json")
    assert second.status_code == 409
    assert second["Content-Type"].startswith("application/problem+json")
    body = second.json()
    assert body["code"] == "waiver_cancelled"
    assert "cancelled" in body["detail"]
    assert Obligation.objects.get(pk=obligation.pk).state == "met"
