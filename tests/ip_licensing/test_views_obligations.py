"""Obligations in the browser (§23, §15): the licence page's panel and its actions, the
officers' "obligations due" queue and the licensee's "my obligations" — who sees and does
what, and the lists' fixed number of queries."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from fundapp.accounts.context_processors import nav_entries
from ip_licensing.models import Obligation
from ip_licensing.services.obligations import obligation_submit_evidence
from tests.factories.licensing import World, days
from tests.factories.obligations import add_obligation, breached, exclusive_licence, overdue

pytestmark = [pytest.mark.django_db]


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


PEOPLE = ["office_licensor", "office_licensee", "outsider", "jp"]


@pytest.mark.parametrize(
    ("who", "status", "sees_add", "sees_evidence", "sees_waive"),
    [
        ("office_licensor", 200, True, False, False),
        ("office_licensee", 200, False, True, False),
        ("outsider", 404, False, False, False),
        ("jp", 200, True, False, True),
    ],
)
def test_the_licence_page_shows_the_obligations_and_the_allowed_actions(
    world, who, status, sees_add, sees_evidence, sees_waive
):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    response = browser(getattr(world, who)).get(reverse("ip:licence", args=[licence.pk]))
    assert response.status_code == status
    if status != 200:
        return
    html = response.content.decode()
    assert f'data-obligation="{obligation.pk}"' in html
    assert ('id="obligation-add-form"' in html) is sees_add
    assert ("data-evidence-form" in html) is sees_evidence
    assert ("data-waive-form" in html) is sees_waive


@pytest.mark.parametrize(
    ("who", "action", "status"),
    [
        ("office_licensee", "evidence", 302),
        ("office_licensor", "evidence", 403),
        ("outsider", "evidence", 404),
        ("jp", "evidence", 403),
        ("office_licensor", "accept", 302),
        ("office_licensee", "accept", 403),
        ("outsider", "accept", 404),
        ("jp", "accept", 302),
        ("jp", "waive", 302),
        ("office_licensor", "waive", 403),
        ("outsider", "waive", 404),
    ],
)
def test_the_actions_by_role(world, who, action, status):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    if action == "accept":
        obligation_submit_evidence(obligation=obligation, actor=world.office_licensee, note="Done")
    key = f"{action}-{obligation.pk}"
    data = {f"{key}-note": "Invoice 118", f"{key}-reason": "Market closed."}
    response = browser(getattr(world, who)).post(
        reverse("ip:obligation_act", args=[obligation.pk, action]), data
    )
    assert response.status_code == status
    obligation.refresh_from_db()
    if action == "evidence":
        assert (obligation.evidence_note == "Invoice 118") is (status == 302)
    if action == "accept":
        assert (obligation.state == "met") is (status == 302)


def test_adding_an_obligation_with_errors_keeps_what_was_typed(world):
    licence = exclusive_licence(world)
    client = browser(world.office_licensor)
    url = reverse("ip:obligation_add", args=[licence.pk])
    response = client.post(
        url,
        {
            "obligation-kind": "minimum_sales",
            "obligation-description_ja": "最低販売額",
            "obligation-due_on": days(900).isoformat(),
        },
    )
    assert response.status_code == 422
    assert "最低販売額" in response.content.decode()
    assert not Obligation.objects.exists()
    ok = client.post(
        url,
        {
            "obligation-kind": "minimum_sales",
            "obligation-description_ja": "最低販売額",
            "obligation-due_on": days(90).isoformat(),
        },
    )
    assert ok.status_code == 302
    assert Obligation.objects.get().description_ja == "最低販売額"


def test_officers_answer_a_breach_on_the_licence_page(world):
    licence = exclusive_licence(world)
    breached(world, licence)
    page = browser(world.jp).get(reverse("ip:licence", args=[licence.pk]))
    assert 'id="breach-form"' in page.content.decode()
    url = reverse("ip:breach_act", args=[licence.pk, "approve"])
    data = {"breach-remedy": "convert", "breach-reason": "No sale."}
    assert browser(world.office_licensor).post(url, data).status_code == 403
    assert browser(world.jp).post(url, data).status_code == 302
    assert browser(world.kr).post(url, data).status_code == 302
    licence.refresh_from_db()
    assert licence.exclusivity == "non_exclusive" and licence.exclusivity_lost_on == days(0)
    page = browser(world.office_licensee).get(reverse("ip:licence", args=[licence.pk]))
    assert "data-exclusivity-lost" in page.content.decode()


def test_the_officers_queue_puts_the_cure_period_first(world):
    licence = exclusive_licence(world)
    later = add_obligation(world, licence, due_on=days(30))
    in_cure = overdue(world, licence, due_on=days(1))
    response = browser(world.jp).get(reverse("ip:obligations_due"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f'data-obligation="{in_cure.pk}"') < html.index(
        f'data-obligation="{later.pk}"'
    )
    for who in ("office_licensor", "office_licensee", "outsider"):
        assert browser(getattr(world, who)).get(reverse("ip:obligations_due")).status_code == 404


def test_my_obligations_lists_what_my_organisation_owes(world):
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    owes = browser(world.office_licensee).get(reverse("ip:my_obligations")).content.decode()
    assert f'data-obligation="{obligation.pk}"' in owes
    for who in ("office_licensor", "outsider"):
        html = browser(getattr(world, who)).get(reverse("ip:my_obligations")).content.decode()
        assert f'data-obligation="{obligation.pk}"' not in html


@pytest.mark.parametrize("n", [2, 30])
def test_the_lists_answer_in_a_fixed_number_of_queries(world, django_assert_max_num_queries, n):
    licence = exclusive_licence(world)
    for index in range(n):
        add_obligation(world, licence, due_on=days(index + 1))
    officer, licensee = browser(world.jp), browser(world.office_licensee)
    with django_assert_max_num_queries(12):
        assert officer.get(reverse("ip:obligations_due")).status_code == 200
    with django_assert_max_num_queries(12):
        assert licensee.get(reverse("ip:my_obligations")).status_code == 200


def test_the_navigation_leads_to_the_pages(world):
    assert ("ip:obligations_due") in [name for _label, name in nav_entries(world.jp)]
    assert ("ip:my_obligations") in [name for _label, name in nav_entries(world.office_licensee)]


@pytest.mark.parametrize("language", ["ja", "ko"])
def test_the_pages_are_translated(world, language):
    licence = exclusive_licence(world)
    overdue(world, licence, due_on=days(1))
    client = browser(world.jp)
    client.cookies["django_language"] = language
    with translation.override(language):
        expected = {"ja": "履行義務", "ko": "이행 의무"}[language]
        queue = client.get(reverse("ip:obligations_due"), HTTP_ACCEPT_LANGUAGE=language)
        page = client.get(reverse("ip:licence", args=[licence.pk]), HTTP_ACCEPT_LANGUAGE=language)
    assert expected in queue.content.decode()
    assert expected in page.content.decode()


def test_each_person_sees_the_panel_at_a_fixed_cost(world: World, django_assert_max_num_queries):
    licence = exclusive_licence(world)
    for index in range(5):
        add_obligation(world, licence, due_on=days(index + 1))
    client = browser(world.jp)
    url = reverse("ip:licence", args=[licence.pk])
    with django_assert_max_num_queries(40) as first:
        client.get(url)
    for index in range(5):
        add_obligation(world, licence, due_on=days(index + 40))
    with django_assert_max_num_queries(len(first.captured_queries)):
        client.get(url)
