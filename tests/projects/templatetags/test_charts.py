"""The SVG charts are plain functions of plain values: geometry, escaping, accessibility."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.utils import translation

from projects.rules.gates import GATE_TIMEZONE
from projects.templatetags.charts import (
    BarRow,
    ChartPoint,
    format_number,
    kpi_line_chart,
    money_bar_chart,
    percent,
)

pytestmark = pytest.mark.usefixtures("private_media", "axes_off", "pages_urls", "eager_celery")

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 1, 5, tzinfo=GATE_TIMEZONE)


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def role(root: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [el for el in root.iter() if el.get("data-role") == name]


def test_line_chart_draws_baseline_target_window_and_the_counted_points_joined():
    points = [
        ChartPoint(START + timedelta(days=10), Decimal("12")),
        ChartPoint(START + timedelta(days=40), Decimal("30"), rejected=True),
        ChartPoint(START + timedelta(days=70), Decimal("18.5")),
    ]
    root = parse(
        kpi_line_chart(
            chart_id="c1",
            title="K1 — Efficiency",
            points=points,
            baseline=Decimal("10.000000"),
            target=Decimal("20.000000"),
            unit="TOPS/W",
            window_start=START,
            cutoff=START + timedelta(days=180),
        )
    )
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert (root.get("data-baseline"), root.get("data-target")) == ("10", "20")
    baseline, target = role(root, "baseline")[0], role(root, "target")[0]
    # Higher values are drawn higher: the target line sits above the baseline line.
    assert float(target.attrib["y1"]) < float(baseline.attrib["y1"])
    assert baseline.get("y1") == baseline.get("y2")
    window = role(root, "window")[0]
    assert float(window.attrib["width"]) > 0
    circles = role(root, "point")
    assert len(circles) == 3
    assert "chart-point--rejected" in circles[1].attrib["class"]
    # The line joins only the two counted points, left to right.
    series = role(root, "series")[0].attrib["points"].split()
    assert len(series) == 2
    assert float(series[0].split(",")[0]) < float(series[1].split(",")[0])
    desc = root.findtext(f"{SVG}desc")
    assert desc is not None
    assert "3 measurements" in desc and "18.5 TOPS/W" in desc


def test_a_point_above_target_and_one_below_baseline_stay_inside_the_plot():
    root = parse(
        kpi_line_chart(
            chart_id="c2",
            title="K",
            points=[
                ChartPoint(START, Decimal("-5")),
                ChartPoint(START + timedelta(days=1), Decimal("50")),
            ],
            baseline=Decimal("0"),
            target=Decimal("10"),
        )
    )
    frame = next(el for el in root.iter() if el.get("class") == "chart-frame")
    top = float(frame.attrib["y"])
    bottom = top + float(frame.attrib["height"])
    for circle in role(root, "point"):
        assert top <= float(circle.attrib["cy"]) <= bottom


def test_an_empty_chart_still_shows_baseline_and_target_and_says_so():
    svg = kpi_line_chart(
        chart_id="c3", title="K", points=[], baseline=Decimal("5"), target=Decimal("2.5")
    )
    root = parse(svg)
    assert role(root, "baseline") and role(root, "target")
    # Lower is better here: the target is below the baseline.
    assert float(role(root, "target")[0].attrib["y1"]) > float(
        role(root, "baseline")[0].attrib["y1"]
    )
    assert "No measurements yet" in svg


def test_text_is_escaped():
    svg = kpi_line_chart(
        chart_id="c4",
        title='<script>alert("x")</script>',
        points=[],
        baseline=Decimal("0"),
        target=Decimal("1"),
        unit="<b>",
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    parse(svg)  # still well-formed XML


def test_bar_chart_uses_one_scale_and_labels_amounts_in_the_currency():
    rows = [
        BarRow(label="JP", committed=100_000_000, released=40_000_000, paid=10_000_000),
        BarRow(label="Area & Co", committed=50_000_000, released=0, paid=0),
    ]
    svg = money_bar_chart(chart_id="b1", title="Per side", rows=rows, currency="JPY")
    root = parse(svg)
    assert root.get("data-currency") == "JPY"
    committed = role(root, "committed")
    released = role(root, "released")
    assert float(committed[0].attrib["width"]) == 2 * float(committed[1].attrib["width"])
    assert float(released[0].attrib["width"]) == 0.4 * float(committed[0].attrib["width"])
    assert float(released[1].attrib["width"]) == 0
    assert "¥100,000,000" in svg and "Area &amp; Co" in svg
    assert "₩" not in svg


def test_bar_chart_without_rows_says_nothing_is_committed():
    svg = money_bar_chart(chart_id="b2", title="Per call", rows=[], currency="KRW")
    parse(svg)
    assert "Nothing committed yet." in svg


def test_chart_text_follows_the_language():
    with translation.override("ja"):
        svg = kpi_line_chart(
            chart_id="c5",
            title="K",
            points=[ChartPoint(START, Decimal("12"))],
            baseline=Decimal("10"),
            target=Decimal("20"),
        )
    assert "2026年1月5日" in svg


def test_numbers():
    assert format_number(Decimal("20.000000")) == "20"
    assert format_number(Decimal("2.500000")) == "2.5"
    assert format_number(Decimal("-0.000100")) == "-0.0001"
    assert percent("1.0500") == "105.0%"
    assert percent(None) == ""
    assert re.fullmatch(r"\d+\.\d%", percent(Decimal("0.3333")))


def test_a_long_label_is_cut_by_its_printed_width_keeping_its_start():
    # Given a Japanese area name wider than the label column, a Korean one that fits, and
    # a Latin name of as many characters as the Japanese one
    ja = "データセンター向けAIアクセラレータ"
    ko = "데이터센터 AI 가속기"
    latin = "Quantum communication"
    rows = [BarRow(label=label, committed=1, released=0, paid=0) for label in (ja, ko, latin)]

    # When the bar chart is drawn
    root = parse(money_bar_chart(chart_id="b3", title="Per area", rows=rows, currency="JPY"))

    # Then the wide label is cut at its end, the others are whole, and each keeps its full
    # name as its tooltip
    labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "chart-category"]
    shown = [t.text for t in labels]
    assert shown[0] is not None and shown[0].endswith("…") and ja.startswith(shown[0][:-1])
    assert shown[1:] == [ko, latin]
    assert [t.find(f"{SVG}title").text for t in labels] == [ja, ko, latin]  # type: ignore[union-attr]
