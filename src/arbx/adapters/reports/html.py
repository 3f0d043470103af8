"""``HtmlReportRenderer``: a report as one HTML file that opens offline.

Time charts are drawn in the browser by uPlot (MIT, 50 KB; vendored in ``vendor/uplot``
with its licence and checksums) from JSON embedded in the page; tables, the monthly
heatmap, histograms and the attribution waterfall are plain HTML and SVG made here, so they
show even with scripts off. Every text from a run (names, notes, parameters) is escaped;
the embedded JSON escapes ``<``, ``>`` and ``&`` so no value can close its script element.
"""

from __future__ import annotations

import html
import math
from functools import cache
from importlib.resources import files

import msgspec

from arbx.domain.reports.model import (
    Block,
    Heatmap,
    Histogram,
    Paragraphs,
    Preformatted,
    Report,
    Table,
    TimeChart,
    Waterfall,
)
from arbx.ports.report_renderer import ReportRenderer

_HERE = files(__package__)


@cache
def asset(name: str) -> str:
    """A file shipped with this package: ``vendor/uplot/uPlot.iife.min.js``, ``assets/...``."""
    return (_HERE / name).read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _json_for_script(value: object) -> str:
    text = msgspec.json.encode(value).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>' if text else ""


def _table(block: Table) -> str:
    numeric = block.numeric or [False] * len(block.columns)
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in block.columns)
    body = []
    for row in block.rows:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>'
            if k < len(numeric) and numeric[k]
            else f"<td>{_e(v)}</td>"
            for k, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="{"scroll long" if len(block.rows) > 30 else "scroll"}">'
        f'<table class="data" id="table-{_e(block.id)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        + _note(block.note)
    )


def _heat_color(value: float | None, scale: float) -> str:
    if value is None or not math.isfinite(value):
        return "#ffffff"
    t = min(1.0, abs(value) / scale) if scale > 0 else 0.0
    if value >= 0:
        r, g, b = 255 - int(t * 155), 255 - int(t * 60), 255 - int(t * 155)
    else:
        r, g, b = 255 - int(t * 40), 255 - int(t * 170), 255 - int(t * 170)
    return f"#{r:02x}{g:02x}{b:02x}"


def _heatmap(block: Heatmap) -> str:
    finite = [
        abs(v) for row in block.values for v in row[:12] if v is not None and math.isfinite(v)
    ]
    scale = max(finite) if finite else 0.0
    head = '<th scope="col">year</th>' + "".join(
        f'<th scope="col">{_e(c)}</th>' for c in block.column_labels
    )
    rows = []
    for label, row in zip(block.row_labels, block.values, strict=True):
        cells = "".join(
            f'<td style="background:{_heat_color(v, scale)}">'
            f"{'' if v is None else _e(f'{v * 100:.2f}%')}</td>"
            for v in row
        )
        rows.append(f'<tr><th scope="row">{_e(label)}</th>{cells}</tr>')
    return (
        f'<div class="scroll"><table class="data heat" id="table-{_e(block.id)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        + _note(block.note)
    )


W, H, PAD_L, PAD_B, PAD_T = 760, 260, 60, 46, 12


def _histogram(block: Histogram) -> str:
    if not block.counts:
        return '<p class="note">nothing to show</p>' + _note(block.note)
    top = max(block.counts) or 1
    n = len(block.counts)
    plot_w, plot_h = W - PAD_L - 10, H - PAD_B - PAD_T
    bar_w = plot_w / n
    parts = [
        f'<svg class="figure" role="img" aria-label="{_e(block.title)}" viewBox="0 0 {W} {H}"'
        f' width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.append(
        f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{W - 10}" y2="{PAD_T + plot_h}" stroke="#888"/>'
    )
    for k, count in enumerate(block.counts):
        h = plot_h * count / top
        x = PAD_L + k * bar_w
        lo, hi = block.edges[k], block.edges[k + 1]
        label = block.labels[k] if k < len(block.labels) else f"{lo:,.4g} .. {hi:,.4g}"
        color = "#d62728" if hi <= 0 else "#2ca02c" if lo >= 0 else "#7f7f7f"
        parts.append(
            f'<rect x="{x + 0.5:.1f}" y="{PAD_T + plot_h - h:.1f}" width="{max(1.0, bar_w - 1):.1f}"'
            f' height="{h:.1f}" fill="{color}"><title>{_e(label)}: {count:,}</title></rect>'
        )
    ticks = sorted({0, n // 2, n}) if n > 1 else [0, 1]
    for k in ticks:
        x = PAD_L + k * bar_w
        value = block.edges[min(k, len(block.edges) - 1)]
        parts.append(
            f'<text x="{x:.1f}" y="{PAD_T + plot_h + 14}" text-anchor="middle">{_e(f"{value:,.4g}")}</text>'
        )
    parts.append(f'<text x="{PAD_L}" y="{PAD_T + 8}" text-anchor="end" dx="-4">{top:,}</text>')
    parts.append(f'<text x="{PAD_L}" y="{PAD_T + plot_h}" text-anchor="end" dx="-4">0</text>')
    parts.append(
        f'<text x="{PAD_L + plot_w / 2:.0f}" y="{H - 8}" text-anchor="middle">{_e(block.x_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts) + _note(block.note)


def _waterfall(block: Waterfall) -> str:
    steps = [(s.label, s.value) for s in block.steps]
    level, bars = 0.0, []
    for label, value in steps:
        bars.append((label, level, level + value, value))
        level += value
    bars.append((block.total_label, 0.0, block.total, block.total))
    lows = [min(a, b) for _, a, b, _ in bars] + [0.0]
    highs = [max(a, b) for _, a, b, _ in bars] + [0.0]
    lo, hi = min(lows), max(highs)
    span = (hi - lo) or 1.0
    row_h, label_w, width = 26, 190, W
    height = row_h * len(bars) + 30
    plot_w = width - label_w - 120

    def px(v: float) -> float:
        return label_w + (v - lo) / span * plot_w

    parts = [
        f'<svg class="figure" role="img" aria-label="{_e(block.title)}" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    zero = px(0.0)
    parts.append(f'<line x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height - 20}" stroke="#888"/>')
    for k, (label, a, b, value) in enumerate(bars):
        y = k * row_h + 4
        total = k == len(bars) - 1
        color = "#1f77b4" if total else "#2ca02c" if value >= 0 else "#d62728"
        x0, x1 = sorted((px(a), px(b)))
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_e(label)}</text>')
        parts.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(1.0, x1 - x0):.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{_e(label)}: {value:,.2f} {_e(block.unit)}</title></rect>"
        )
        parts.append(f'<text x="{max(x1, zero) + 6:.1f}" y="{y + 15}">{_e(f"{value:,.2f}")}</text>')
    parts.append(f'<text x="{label_w}" y="{height - 4}">{_e(block.unit)}</text>')
    parts.append("</svg>")
    rows = "".join(
        f"<tr><td>{_e(label)}</td><td class='num'>{value:,.2f}</td></tr>"
        for label, _, _, value in bars
    )
    table = (
        f'<table class="data" id="table-{_e(block.id)}"><thead><tr><th scope="col">part</th>'
        f'<th scope="col">{_e(block.unit)}</th></tr></thead><tbody>{rows}</tbody></table>'
    )
    return "".join(parts) + table + _note(block.note)


def _chart(block: TimeChart, index: int) -> str:
    shown = (
        f"{len(block.x):,} of {block.points_total:,} points drawn"
        if block.points_total > len(block.x)
        else ""
    )
    note = "; ".join(p for p in (block.note, shown) if p)
    return (
        f'<div class="arbx-chart" id="chart-{_e(block.id)}" data-chart="{index}"'
        f' role="img" aria-label="{_e(block.title)}"></div>' + _note(note)
    )


def render_block(block: Block, charts: list[TimeChart]) -> str:
    if isinstance(block, TimeChart):
        charts.append(block)
        body = _chart(block, len(charts) - 1)
    elif isinstance(block, Table):
        body = _table(block)
    elif isinstance(block, Heatmap):
        body = _heatmap(block)
    elif isinstance(block, Histogram):
        body = _histogram(block)
    elif isinstance(block, Waterfall):
        body = _waterfall(block)
    elif isinstance(block, Preformatted):
        body = f'<pre class="manifest" id="pre-{_e(block.id)}">{_e(block.text)}</pre>' + _note(
            block.note
        )
    else:
        assert isinstance(block, Paragraphs)
        cls = ' class="lines warn"' if block.warn else ' class="lines"'
        body = f"<ul{cls}>" + "".join(f"<li>{_e(line)}</li>" for line in block.lines) + "</ul>"
    return f'<figure class="block" id="block-{_e(block.id)}"><figcaption>{_e(block.title)}</figcaption>{body}</figure>'


def _anchor(title: str) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in title.lower())


class HtmlReportRenderer(ReportRenderer):
    """Self-contained HTML: uPlot, the chart script, styles and data all inline."""

    media_type = "text/html"

    def render(self, report: Report) -> str:
        charts: list[TimeChart] = []
        sections = []
        for section in report.sections:
            blocks = "".join(render_block(b, charts) for b in section.blocks)
            sections.append(
                f'<section class="report-section" id="{_anchor(section.title)}">'
                f"<h2>{_e(section.title)}</h2>{blocks}</section>"
            )
        toc = "".join(f'<a href="#{_anchor(s.title)}">{_e(s.title)}</a>' for s in report.sections)
        data = _json_for_script({"charts": charts})
        footer = (
            f'<p class="note">made by {_e(report.generated_by)}</p>' if report.generated_by else ""
        )
        return (
            "<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(report.title)}</title>"
            f"<style>{asset('vendor/uplot/uPlot.min.css')}</style>"
            f"<style>{asset('assets/report.css')}</style>"
            "</head><body>"
            f'<header class="report"><h1>{_e(report.title)}</h1><p>{_e(report.subtitle)}</p></header>'
            f'<nav class="toc" aria-label="sections">{toc}</nav>'
            '<main class="report"><noscript><p class="warn">The charts need JavaScript (inline, no'
            " network); tables and figures below show without it.</p></noscript>"
            f"{''.join(sections)}{footer}</main>"
            f'<script type="application/json" id="arbx-report-data">{data}</script>'
            f"<script>{asset('vendor/uplot/uPlot.iife.min.js')}</script>"
            f"<script>{asset('assets/charts.js')}</script>"
            "</body></html>\n"
        )
