"""Stage report pages (§24): the reports by stage, one report with its statement, spending
against release per organisation and per side (table and chart), the CSV and XLSX exports
in the reader's language, and who may do what in the browser (role × own/other
organisation × view/edit/submit/accept; 404 for the others)."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from openpyxl import load_workbook

from projects.models import ReportState, StatementLine
from projects.selectors.reports import report_due_on
from projects.services.reports import report_submit, statement_lines_set
from tests.factories.reports import ReportWorld, filled_report, report_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_off")]


@pytest.fixture
def w():
    return report_world()


def client_of(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def url(w: ReportWorld, report_id: int, tail: str = "") -> str:
    return f"/projects/{w.project.pk}/reports/{report_id}/{tail}"


def test_the_list_shows_each_stage_with_its_due_date_and_starts_a_report(w):
    pi = client_of(w.c.pi_jp)
    page = pi.get(f"/projects/{w.project.pk}/reports/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-stage="1"' in html and 'data-stage="2"' in html
    assert "Start the report" in html

    response = pi.post(f"/projects/{w.project.pk}/reports/start/{w.stage1.pk}/")
    assert response.status_code == 302
    report = w.stage1.report
    assert response["Location"] == url(w, report.pk)
    assert (
        f'data-report="{report.pk}"'
        in pi.get(f"/projects/{w.project.pk}/reports/").content.decode()
    )


def test_the_page_shows_spending_against_release_as_a_table_and_a_chart(w):
    report = filled_report(w)
    html = client_of(w.staff.jp).get(url(w, report.pk)).content.decode()

    assert 'id="statement-table"' in html
    assert 'id="spending-table"' in html
    # JP side: ¥40,000,000 released, ¥30,000,000 spent (75.0%).
    assert "¥40,000,000" in html and "¥30,000,000" in html and "75.0%" in html
    assert "₩400,000,000" in html and "52.5%" in html
    assert 'data-chart="spending"' in html
    assert 'id="spending-chart-JPY"' in html and 'id="spending-chart-KRW"' in html
    assert 'data-role="spent" data-amount="24000000"' in html
    # No script and no inline style: the CSP forbids them.
    assert "<script" not in html.split("</header>")[-1]
    assert "style=" not in html


def test_the_pi_enters_spending_and_submits_in_the_browser(w):
    pi = client_of(w.c.pi_jp)
    pi.post(f"/projects/{w.project.pk}/reports/start/{w.stage1.pk}/")
    report = w.stage1.report

    response = pi.post(url(w, report.pk, "submit/"))
    assert response.status_code == 422
    assert "Write the narrative in at least one language." in response.content.decode()

    pi.post(url(w, report.pk), {"narrative_en": "On plan.", "version": report.version})
    fields = {
        f"spent-{org}-{category}": amount
        for org, category, amount in (
            (w.c.jp.pk, "personnel", "15,000,000"),
            (w.c.jp.pk, "equipment", "9000000"),
            (w.partner.pk, "personnel", "6000000"),
            (w.c.kr.pk, "personnel", "200000000"),
            (w.c.kr.pk, "equipment", "0"),
            (w.c.kr.pk, "travel", "10000000"),
        )
    }
    assert pi.post(url(w, report.pk, "lines/"), fields).status_code == 302
    bad = pi.post(url(w, report.pk, "lines/"), {f"spent-{w.c.jp.pk}-travel": "1.5"})
    assert bad.status_code == 422
    assert pi.post(url(w, report.pk, "submit/")).status_code == 302
    report.refresh_from_db()
    assert report.state == ReportState.SUBMITTED
    assert StatementLine.objects.get(organisation=w.c.jp, category="personnel").spent == 15_000_000


def test_an_officer_returns_with_a_reason_then_accepts(w):
    report = report_submit(report=filled_report(w), actor=w.c.pi_jp)
    officer = client_of(w.staff.kr, "ko")

    response = officer.post(url(w, report.pk, "return/"), {"reason": ""})
    assert response.status_code == 422
    assert officer.post(url(w, report.pk, "return/"), {"reason": "More detail."}).status_code == 302
    report.refresh_from_db()
    assert report.state == ReportState.RETURNED
    report = report_submit(report=report, actor=w.c.pi_kr)
    assert officer.post(url(w, report.pk, "accept/")).status_code == 302
    report.refresh_from_db()
    assert report.state == ReportState.ACCEPTED
    history = officer.get(url(w, report.pk)).content.decode()
    assert 'data-action="report.returned"' in history
    assert 'data-action="report.accepted"' in history


# --------------------------------------------------------------------------- exports

HEADERS = {
    "en": ["Organisation", "Organisation code", "Side", "Currency", "Budget category"],
    "ja": ["機関", "機関コード", "側", "通貨", "予算費目"],
    "ko": ["기관", "기관 코드", "측", "통화", "예산 비목"],
}
PERSONNEL = {"en": "Personnel", "ja": "人件費", "ko": "인건비"}


@pytest.mark.parametrize("language", ["en", "ja", "ko"])
def test_the_csv_is_in_the_readers_language_with_exact_sums(w, language):
    report = filled_report(w)
    response = client_of(w.staff.jp, language).get(url(w, report.pk, "statement.csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = response.content
    assert body.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == HEADERS[language]
    first = rows[1]
    assert first[1] == w.c.jp.code
    assert first[4] == PERSONNEL[language]
    assert first[5:9] == ["50000000", "20000000", "15000000", "75.0"]
    # The side totals close the file: JP then KR.
    assert rows[-2][5:8] == ["100000000", "40000000", "30000000"]
    assert rows[-1][5:8] == ["1000000000", "400000000", "210000000"]


@pytest.mark.parametrize("language", ["en", "ja", "ko"])
def test_the_xlsx_is_in_the_readers_language_with_numbers(w, language):
    report = filled_report(w)
    response = client_of(w.c.pi_kr, language).get(url(w, report.pk, "statement.xlsx"))

    assert response.status_code == 200
    assert "spreadsheetml" in response["Content-Type"]
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert list(values[0][:5]) == HEADERS[language]
    assert values[1][4] == PERSONNEL[language]
    assert values[1][5:8] == [50_000_000, 20_000_000, 15_000_000]
    assert values[-1][5:8] == [1_000_000_000, 400_000_000, 210_000_000]


def test_exports_defuse_text_a_spreadsheet_would_run(w):
    w.partner.name_en = "=HYPERLINK(1)"
    w.partner.save(update_fields=["name_en"])
    report = filled_report(w)
    client = client_of(w.staff.jp)
    text = client.get(url(w, report.pk, "statement.csv")).content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text
    book = load_workbook(io.BytesIO(client.get(url(w, report.pk, "statement.xlsx")).content))
    sheet = book.active
    assert sheet is not None
    names = [row[0] for row in sheet.iter_rows(values_only=True)]
    assert "'=HYPERLINK(1)" in names
    assert "=HYPERLINK(1)" not in names


PAGE_QUERIES = 10

# --------------------------------------------------------------------------- the matrix

# who → (view, enter own organisation's spending, enter another's, submit, accept): what
# the browser answers (200/302 allowed, 403 refused with the reason, 404 not visible).
MATRIX = {
    "pi": (200, 302, 302, 302, 403),
    "co_investigator": (200, 302, 403, 403, 403),
    "research_office": (200, 403, 403, 403, 403),
    "fund_officer": (200, 403, 403, 403, 302),
    "finance_officer": (200, 403, 403, 403, 403),
    "outsider": (404, 404, 404, 404, 404),
}


def _person(w: ReportWorld, who: str):
    return {
        "pi": (w.c.pi_jp, w.c.jp),
        "co_investigator": (w.co_partner, w.partner),
        "research_office": (w.c.office_jp, w.c.jp),
        "fund_officer": (w.staff.jp, w.c.jp),
        "finance_officer": (w.staff.finance_jp, w.c.jp),
        "outsider": (w.outsider, w.c.jp),
    }[who]


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_browser_permission_matrix(w, who):
    view, own, other, submit, accept = MATRIX[who]
    report = filled_report(w)
    user, mine = _person(w, who)
    someone_else = w.c.kr
    client = client_of(user)

    assert client.get(url(w, report.pk)).status_code == view
    assert client.get(f"/projects/{w.project.pk}/reports/").status_code == view
    assert client.get(url(w, report.pk, "statement.csv")).status_code == view
    assert client.get(url(w, report.pk, "statement.xlsx")).status_code == view
    response = client.post(url(w, report.pk, "lines/"), {f"spent-{mine.pk}-personnel": "4321"})
    assert response.status_code == own
    response = client.post(
        url(w, report.pk, "lines/"), {f"spent-{someone_else.pk}-personnel": "4321"}
    )
    assert response.status_code == other
    assert client.post(url(w, report.pk, "submit/")).status_code == submit
    report.refresh_from_db()
    if report.state == ReportState.DRAFT:
        report_submit(report=report, actor=w.c.pi_kr)
    assert client.post(url(w, report.pk, "accept/")).status_code == accept


def test_pages_read_a_fixed_number_of_queries_at_two_sizes(w, django_assert_num_queries):
    report = filled_report(w)
    officer = client_of(w.staff.jp)
    officer.get(url(w, report.pk))
    with django_assert_num_queries(PAGE_QUERIES):
        assert officer.get(url(w, report.pk)).status_code == 200
    # More lines (every category of every organisation), the same queries.
    statement_lines_set(
        report=report,
        actor=w.c.pi_jp,
        lines=[
            {"organisation": org.pk, "category": c, "spent": 1}
            for org in (w.c.jp, w.c.kr, w.partner)
            for c in ("consumables", "other")
        ],
    )
    with django_assert_num_queries(PAGE_QUERIES):
        assert officer.get(url(w, report.pk)).status_code == 200


def test_an_overdue_report_is_marked_on_the_list(w, monkeypatch):
    from django.utils import timezone

    due = report_due_on(w.stage1.gate.due_on)
    later = timezone.now() + (due - timezone.localdate() + timedelta(days=2))
    monkeypatch.setattr(timezone, "now", lambda: later)
    html = client_of(w.c.pi_jp).get(f"/projects/{w.project.pk}/reports/").content.decode()
    assert "data-overdue" in html
