"""The fund-wide spending page (§24, RCMS-style): per project and side, budget, released,
reported spent and its share of released, the latest report's state; filtered, sorted,
paged, exported as CSV in the reader's language; fund and finance officers only."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from projects.selectors.spending import SpendingFilter, spending_rows
from projects.services.reports import report_submit
from tests.factories import UserFactory, member_of
from tests.factories.reports import ReportWorld, filled_report, report_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_off", "eager_celery")]

PAGES = ["finance:spending", "finance:spending_csv"]


@pytest.fixture
def w() -> ReportWorld:
    return report_world()


def rows_of(page_html: str) -> list[str]:
    return [line for line in page_html.splitlines() if "data-project=" in line]


def csv_rows(response) -> list[list[str]]:
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


# --------------------------------------------------------------------------- who


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("fund_officer", 200),
        ("finance_jp", 200),
        ("finance_kr", 200),
        ("pi", 404),
        ("outsider", 404),
        ("reviewer", 404),
    ],
)
def test_who_sees_the_spending_pages(client, w, name, who, status):
    people = {
        "fund_officer": w.staff.jp,
        "finance_jp": w.staff.finance_jp,
        "finance_kr": w.staff.finance_kr,
        "pi": w.c.pi_jp,
        "outsider": w.outsider,
        "reviewer": UserFactory.create(role="reviewer"),
    }
    client.force_login(people[who])
    assert client.get(reverse(name)).status_code == status


def test_signed_out_is_sent_to_sign_in(client, w):
    response = client.get(reverse("finance:spending"))
    assert response.status_code == 302


def test_a_finance_officer_sees_their_side_only_a_fund_officer_both(client, w):
    client.force_login(w.staff.finance_kr)
    shown = rows_of(client.get(reverse("finance:spending")).content.decode())
    assert len(shown) == 1 and 'data-side="KR"' in shown[0]
    # Asking for the other side is refused on the field, not widened.
    refused = client.get(reverse("finance:spending"), {"side": "JP"})
    assert refused.status_code == 422
    assert "field-errors" in refused.content.decode()

    client.force_login(w.staff.jp)
    shown = rows_of(client.get(reverse("finance:spending")).content.decode())
    assert [('data-side="JP"' in r, 'data-side="KR"' in r) for r in shown] == [
        (True, False),
        (False, True),
    ]


# --------------------------------------------------------------------------- the figures


def test_budget_released_spent_and_the_latest_reports_state(w):
    both = ("JP", "KR")
    before = {r.side: r for r in spending_rows(SpendingFilter(sides=both)).all()}
    assert (before["JP"].budget, before["JP"].released, before["JP"].spent) == (
        100_000_000,
        40_000_000,
        0,
    )
    assert before["JP"].report_state is None
    assert before["KR"].currency == "KRW" and before["KR"].released == 400_000_000

    report_submit(report=filled_report(w), actor=w.c.pi_jp)

    after = {r.side: r for r in spending_rows(SpendingFilter(sides=both)).all()}
    # JP: lead 15,000,000 + 9,000,000, partner 6,000,000 of 40,000,000 released.
    assert after["JP"].spent == 30_000_000
    assert str(after["JP"].spent_of_released) == "0.7500"
    assert after["KR"].spent == 210_000_000
    assert after["KR"].report_state == "submitted"


def test_filters_and_sorting(client, w):
    other = report_world(staff=w.staff)
    filled_report(other)  # a draft
    client.force_login(w.staff.jp)
    url = reverse("finance:spending")

    drafts = rows_of(client.get(url, {"report": "draft"}).content.decode())
    assert {f'data-project="{other.project.pk}"' in r for r in drafts} == {True}
    none_yet = rows_of(client.get(url, {"report": "none"}).content.decode())
    assert {f'data-project="{w.project.pk}"' in r for r in none_yet} == {True}
    of_call = rows_of(client.get(url, {"call": w.project.call_id, "side": "JP"}).content.decode())
    assert len(of_call) == 1 and f'data-project="{w.project.pk}"' in of_call[0]

    by_ratio = rows_of(client.get(url, {"sort": "-ratio", "side": "JP"}).content.decode())
    assert f'data-project="{other.project.pk}"' in by_ratio[0]
    by_ratio = rows_of(client.get(url, {"sort": "ratio", "side": "JP"}).content.decode())
    assert f'data-project="{w.project.pk}"' in by_ratio[0]

    for bad in ({"sort": "password"}, {"call": "x"}, {"report": "lost"}, {"side": "US"}):
        response = client.get(url, bad)
        assert response.status_code == 422, bad


def test_pages_and_a_fixed_number_of_queries_at_two_sizes(
    client, w, monkeypatch, django_assert_max_num_queries
):
    from projects.views import finance

    monkeypatch.setattr(finance, "SPENDING_PAGE_SIZE", 2)
    client.force_login(w.staff.jp)
    url = reverse("finance:spending")
    client.get(url)  # the session and the language, once

    with django_assert_max_num_queries(8) as small:
        first = client.get(url)
    assert len(rows_of(first.content.decode())) == 2

    for _ in range(3):
        report_world(staff=w.staff)
    with django_assert_max_num_queries(8) as larger:
        page = client.get(url, {"page": 3})
    assert len(small) == len(larger)
    assert len(rows_of(page.content.decode())) == 2
    assert "page=2" in page.content.decode() and "page=4" in page.content.decode()


# --------------------------------------------------------------------------- export


def test_the_csv_follows_the_filter_in_the_readers_language(client, w):
    report_submit(report=filled_report(w), actor=w.c.pi_jp)
    client.force_login(w.staff.jp)

    response = client.get(reverse("finance:spending_csv"), {"side": "JP"})
    assert response["Content-Disposition"].startswith('attachment; filename="spending-')
    header, *rows = csv_rows(response)
    assert header[0] == "Project" and header[-1] == "Latest report"
    assert rows == [
        [
            rows[0][0],
            str(w.project.pk),
            "Japan",
            "JPY",
            "100000000",
            "40000000",
            "30000000",
            "75.0",
            "Submitted",
        ]
    ]

    japanese = Client(HTTP_ACCEPT_LANGUAGE="ja")
    japanese.force_login(w.staff.jp)
    header, *rows = csv_rows(japanese.get(reverse("finance:spending_csv"), {"side": "KR"}))
    with translation.override("ja"):
        assert header[0] == translation.gettext("Project") != "Project"
        assert rows[0][8] == translation.gettext("Submitted") != "Submitted"


def test_a_title_a_spreadsheet_would_run_is_defused(client, w):
    w.project.title_en = "=HYPERLINK(1)"
    w.project.save(update_fields=["title_en"])
    client.force_login(w.staff.jp)
    _header, *rows = csv_rows(client.get(reverse("finance:spending_csv")))
    assert rows[0][0] == "'=HYPERLINK(1)"


def test_the_finance_tabs_link_to_the_page(client, w):
    client.force_login(w.staff.finance_jp)
    page = client.get(reverse("finance:accounts")).content.decode()
    assert reverse("finance:spending") in page


def test_research_office_members_are_not_finance(client, w):
    office = member_of(w.c.jp, research_office=True)
    client.force_login(office)
    assert client.get(reverse("finance:spending")).status_code == 404
