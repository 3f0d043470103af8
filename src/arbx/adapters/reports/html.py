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
from datetime import UTC, datetime
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
    Timeline,
    Waterfall,
    XYChart,
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


def _heat_color(value: float | None, scale: float, invert: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "#ffffff"
    t = min(1.0, abs(value) / scale) if scale > 0 else 0.0
    if (value >= 0) != invert:
        r, g, b = 255 - int(t * 155), 255 - int(t * 60), 255 - int(t * 155)
    else:
        r, g, b = 255 - int(t * 40), 255 - int(t * 170), 255 - int(t * 170)
    return f"#{r:02x}{g:02x}{b:02x}"


def _heat_text(value: float | None, block: Heatmap) -> str:
    if value is None or not math.isfinite(value):
        return ""
    if block.percent:
        return f"{value * 100:.{block.digits}f}%"
    return f"{value:,.{block.digits}f}"


def _heatmap(block: Heatmap) -> str:
    columns = block.scale_columns
    finite = [
        abs(v)
        for row in block.values
        for v in (row if columns is None else row[:columns])
        if v is not None and math.isfinite(v)
    ]
    scale = max(finite) if finite else 0.0
    values = [v for row in block.values for v in row if v is not None and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)

    def color(v: float | None) -> str:
        if not block.relative or v is None or not math.isfinite(v):
            return _heat_color(v, scale, block.invert)
        middle = (v - lo) / (hi - lo) * 2.0 - 1.0 if hi > lo else 1.0
        return _heat_color(middle, 1.0, block.invert)

    corner = block.row_title
    if block.column_title:
        corner = f"{block.row_title} ↓ {block.column_title} →"
    head = f'<th scope="col">{_e(corner)}</th>' + "".join(
        f'<th scope="col">{_e(c)}</th>' for c in block.column_labels
    )
    rows = []
    for label, row in zip(block.row_labels, block.values, strict=True):
        cells = "".join(
            f'<td style="background:{color(v)}">{_e(_heat_text(v, block))}</td>' for v in row
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


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * k / (count - 1) for k in range(count)]


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo == hi:
        pad = abs(lo) * 0.05 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def _xy(block: XYChart) -> str:
    """Points and lines in SVG: every point kept (a study's trials are few), each with its
    hover text; categorical x axes label their integer positions."""
    xs = [x for s in block.series for x, y in zip(s.x, s.y, strict=True) if y is not None]
    ys = [y for s in block.series for y in s.y if y is not None and math.isfinite(y)]
    if not xs or not ys:
        return '<p class="note">nothing to show</p>' + _note(block.note)
    height, pad_r, pad_b = 300, 16, 52

    def fx(v: float) -> float:
        return math.log10(v) if block.log_x and v > 0 else v

    x_lo, x_hi = _range([fx(x) for x in xs])
    if block.x_ticks:
        x_lo, x_hi = -0.5, len(block.x_ticks) - 0.5
    y_lo, y_hi = _range(ys)
    plot_w, plot_h = W - PAD_L - pad_r, height - pad_b - PAD_T

    def px(v: float) -> float:
        return PAD_L + (fx(v) - x_lo) / (x_hi - x_lo) * plot_w

    def py(v: float) -> float:
        return PAD_T + plot_h - (v - y_lo) / (y_hi - y_lo) * plot_h

    parts = [
        f'<svg class="figure" role="img" aria-label="{_e(block.title)}" viewBox="0 0 {W} {height}"'
        f' width="{W}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d8dde3"/>',
    ]
    if y_lo < 0 < y_hi:
        parts.append(
            f'<line x1="{PAD_L}" y1="{py(0):.1f}" x2="{PAD_L + plot_w}" y2="{py(0):.1f}" stroke="#888"'
            ' stroke-dasharray="3 3"/>'
        )
    for v in _ticks(y_lo, y_hi):
        parts.append(
            f'<text x="{PAD_L - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{_e(f"{v:,.4g}")}</text>'
        )
    if block.x_ticks:
        every = max(1, math.ceil(len(block.x_ticks) / 16))
        for k, label in enumerate(block.x_ticks):
            if k % every == 0:
                x = PAD_L + (k - x_lo) / (x_hi - x_lo) * plot_w
                parts.append(
                    f'<text x="{x:.1f}" y="{PAD_T + plot_h + 14}" text-anchor="middle">{_e(label)}</text>'
                )
    else:
        distinct = sorted({fx(x) for x in xs})
        for v in distinct if len(distinct) <= 12 else _ticks(x_lo, x_hi):
            value = 10**v if block.log_x else v
            x = PAD_L + (v - x_lo) / (x_hi - x_lo) * plot_w
            parts.append(
                f'<text x="{x:.1f}" y="{PAD_T + plot_h + 14}" text-anchor="middle">{_e(f"{value:,.4g}")}</text>'
            )
    parts.append(
        f'<text x="{PAD_L + plot_w / 2:.0f}" y="{height - 22}" text-anchor="middle">{_e(block.x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{PAD_T + plot_h / 2:.0f}" text-anchor="middle"'
        f' transform="rotate(-90 12 {PAD_T + plot_h / 2:.0f})">{_e(block.y_label)}</text>'
    )
    legend_x = PAD_L
    for s in block.series:
        points = [
            (px(x), py(y), s.tips[k] if k < len(s.tips) else f"{x:,.6g}, {y:,.6g}")
            for k, (x, y) in enumerate(zip(s.x, s.y, strict=True))
            if y is not None and math.isfinite(y)
        ]
        if s.style == "line" and len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{_e(s.color)}" stroke-width="1.5"/>'
            )
        radius = 4 if s.style == "line" else 3.5
        for x, y, tip in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{_e(s.color)}"'
                f' fill-opacity="0.75"><title>{_e(tip)}</title></circle>'
            )
        parts.append(
            f'<rect x="{legend_x}" y="{height - 12}" width="10" height="10" fill="{_e(s.color)}"/>'
            f'<text x="{legend_x + 14}" y="{height - 3}">{_e(s.label)}</text>'
        )
        legend_x += 24 + 7 * len(s.label)
    parts.append("</svg>")
    return "".join(parts) + _note(block.note)


_SPAN_COLORS = {"train": "#1f77b4", "test": "#ff7f0e", "other": "#7f7f7f"}


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _timeline(block: Timeline) -> str:
    spans = [s for row in block.rows for s in row.spans]
    if not spans:
        return '<p class="note">nothing to show</p>' + _note(block.note)
    lo, hi = min(s.start for s in spans), max(s.end for s in spans)
    width = hi - lo or 1.0
    row_h, label_w = 22, 70
    height = row_h * len(block.rows) + 44
    plot_w = W - label_w - 16

    def px(v: float) -> float:
        return label_w + (v - lo) / width * plot_w

    parts = [
        f'<svg class="figure" role="img" aria-label="{_e(block.title)}" viewBox="0 0 {W} {height}"'
        f' width="{W}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for k, row in enumerate(block.rows):
        y = k * row_h + 4
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{_e(row.label)}</text>'
        )
        for s in row.spans:
            x0, x1 = px(s.start), px(s.end)
            tip = f"{s.label or s.kind}: {_when(s.start)} .. {_when(s.end)} UTC"
            parts.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{max(1.0, x1 - x0):.1f}" height="{row_h - 6}"'
                f' fill="{_SPAN_COLORS[s.kind]}"><title>{_e(tip)}</title></rect>'
            )
    base = row_h * len(block.rows) + 18
    parts.append(f'<text x="{label_w}" y="{base}">{_e(_when(lo))} UTC</text>')
    parts.append(f'<text x="{W - 16}" y="{base}" text-anchor="end">{_e(_when(hi))} UTC</text>')
    legend = base + 18
    for k, (kind, color) in enumerate(_SPAN_COLORS.items()):
        if any(s.kind == kind for s in spans):
            x = label_w + k * 90
            parts.append(
                f'<rect x="{x}" y="{legend - 10}" width="10" height="10" fill="{color}"/>'
                f'<text x="{x + 14}" y="{legend}">{kind}</text>'
            )
    parts.append("</svg>")
    return "".join(parts) + _note(block.note)


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
    elif isinstance(block, XYChart):
        body = _xy(block)
    elif isinstance(block, Timeline):
        body = _timeline(block)
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
