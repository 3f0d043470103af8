"""HtmlReportRenderer: each block type becomes plain HTML/SVG with its values, escaped."""

from __future__ import annotations

import json
import re

from arbx.adapters.reports.html import HtmlReportRenderer
from arbx.domain.reports.model import (
    Heatmap,
    Histogram,
    Paragraphs,
    Report,
    Section,
    Step,
    Table,
    TimeChart,
    Trace,
    Waterfall,
)


def render(*blocks: object) -> str:
    report = Report("T <1>", "sub & title", [Section("S", list(blocks))])  # type: ignore[arg-type]
    return HtmlReportRenderer().render(report)


def test_waterfall_draws_one_bar_per_part_and_the_total_with_a_table() -> None:
    html = render(
        Waterfall(
            "w", "P&L", [Step("spread", 100.0), Step("fees", -30.0)], "total P&L", 70.0, unit="USD"
        )
    )
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    assert svg.group(0).count("<rect") == 3
    assert "<td>spread</td><td class='num'>100.00</td>" in html
    assert "<td>total P&amp;L</td><td class='num'>70.00</td>" in html


def test_heatmap_shows_percent_and_colours_signs() -> None:
    html = render(Heatmap("m", "Monthly", ["2024"], ["Jan", "Feb", "year"], [[0.1, -0.05, None]]))
    cells = re.findall(r'<td style="background:(#[0-9a-f]{6})">([^<]*)</td>', html)
    assert [text for _, text in cells] == ["10.00%", "-5.00%", ""]
    green, red, blank = (color for color, _ in cells)
    assert int(green[3:5], 16) > int(green[1:3], 16)  # more green than red
    assert int(red[1:3], 16) > int(red[3:5], 16)
    assert blank == "#ffffff"


def test_histogram_bars_and_an_empty_one() -> None:
    html = render(
        Histogram("h", "P&L", [-2.0, -1.0, 0.0, 1.0], [1, 0, 4], x_label="USD"),
        Histogram("e", "none", [], []),
    )
    assert html.count("<rect") == 3
    assert "nothing to show" in html
    assert "-1 .. 0: 0" in html  # bar tooltips name the bin and its count


def test_text_is_escaped_and_charts_travel_as_json() -> None:
    chart = TimeChart("c", "Equity <b>", [1.0, 2.0], [Trace("a&b", [1.0, None])])
    html = render(
        chart,
        Table("t", "tab", ["<x>"], [["<script>"]]),
        Paragraphs("p", "para", ["</ul><b>"]),
    )
    assert "<title>T &lt;1&gt;</title>" in html
    assert "&lt;script&gt;" in html
    assert "&lt;/ul&gt;&lt;b&gt;" in html
    assert 'aria-label="Equity &lt;b&gt;"' in html
    data = re.search(r'id="arbx-report-data">(.*?)</script>', html, re.S)
    assert data is not None
    assert "<" not in data.group(1)
    charts = json.loads(data.group(1))["charts"]
    assert charts[0]["traces"][0] == {
        "label": "a&b",
        "values": [1.0, None],
        "style": "line",
        "color": "#1f77b4",
        "axis": "y",
        "marker": "circle",
    }
