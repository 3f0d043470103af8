"""What a report shows, independent of how it is drawn.

A ``Report`` is a title and sections; a section holds blocks: time-series charts (already
downsampled, x in epoch seconds), tables (cells already formatted, exact values), heatmaps,
histograms, waterfalls and preformatted text (the manifest). Renderers (``adapters/reports``)
turn it into a file; everything here is plain data that encodes to JSON.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Number = float | None


class Trace(msgspec.Struct, frozen=True):
    """One line (or marker set) of a chart; ``values`` aligned with the chart's ``x``
    (None where the trace has no point). ``style``: line, step, points (markers only),
    area (filled to zero). ``axis``: y (left) or y2 (right)."""

    label: str
    values: list[Number]
    style: Literal["line", "step", "points", "area"] = "line"
    color: str = "#1f77b4"
    axis: Literal["y", "y2"] = "y"
    marker: Literal["circle", "up", "down"] = "circle"


class Band(msgspec.Struct, frozen=True):
    """A shaded x range (a data gap), epoch seconds."""

    start: float
    end: float
    label: str


class TimeChart(msgspec.Struct, frozen=True, tag="time_chart"):
    """Traces over time. ``points_total`` is how many points the full traces had (the chart
    shows ``len(x)``); ``candles`` (open, high, low, close lists aligned with x) draws bars."""

    id: str
    title: str
    x: list[float]
    traces: list[Trace]
    y_label: str = ""
    y2_label: str = ""
    note: str = ""
    points_total: int = 0
    bands: list[Band] = msgspec.field(default_factory=list)
    percent: bool = False  # y values are fractions shown as percent


class Table(msgspec.Struct, frozen=True, tag="table"):
    id: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    numeric: list[bool] = msgspec.field(default_factory=list)  # right-align these columns


class Heatmap(msgspec.Struct, frozen=True, tag="heatmap"):
    """A grid of values, red below zero, green above (reversed with ``invert``, e.g. an
    objective to minimize). By default fractions (returns) shown as percent with the colour
    scale set by the first ``scale_columns`` columns (the months, not the year);
    ``percent=False`` shows plain numbers with ``digits`` decimals. ``row_title`` and
    ``column_title`` name the two axes (the year and the month by default)."""

    id: str
    title: str
    row_labels: list[str]
    column_labels: list[str]
    values: list[list[Number]]
    note: str = ""
    row_title: str = "year"
    column_title: str = ""
    percent: bool = True
    digits: int = 2
    scale_columns: int | None = 12  # None: every column
    invert: bool = False
    # colour from the worst value (red) to the best (green) instead of by sign
    relative: bool = False


class Histogram(msgspec.Struct, frozen=True, tag="histogram"):
    """Counts per bin; ``edges`` has one more entry than ``counts`` (open-ended first and
    last bins are labelled by ``labels`` when given)."""

    id: str
    title: str
    edges: list[float]
    counts: list[int]
    x_label: str = ""
    labels: list[str] = msgspec.field(default_factory=list)
    note: str = ""
    marker: float | None = None  # a vertical line (e.g. zero, the threshold)


class Step(msgspec.Struct, frozen=True):
    label: str
    value: float


class Waterfall(msgspec.Struct, frozen=True, tag="waterfall"):
    """Parts that add up to ``total`` (each bar starts where the previous ended)."""

    id: str
    title: str
    steps: list[Step]
    total_label: str
    total: float
    unit: str = ""
    note: str = ""


class XYSeries(msgspec.Struct, frozen=True):
    """Points (or a line through them) of an x-y chart; ``y`` None where there is no
    point; ``tips``: one hover text per point (optional)."""

    label: str
    x: list[float]
    y: list[Number]
    color: str = "#1f77b4"
    style: Literal["points", "line"] = "points"
    tips: list[str] = msgspec.field(default_factory=list)


class XYChart(msgspec.Struct, frozen=True, tag="xy_chart"):
    """A chart over a numeric x (not time): a parameter against the objective, a value per
    fold. ``x_ticks``: labels of the integer x positions 0, 1, ... when x is categorical
    (choices, fold numbers)."""

    id: str
    title: str
    series: list[XYSeries]
    x_label: str = ""
    y_label: str = ""
    x_ticks: list[str] = msgspec.field(default_factory=list)
    note: str = ""
    log_x: bool = False


class Span(msgspec.Struct, frozen=True):
    """A stretch of time (epoch seconds) on a timeline row, ``kind`` its colour."""

    start: float
    end: float
    kind: Literal["train", "test", "other"]
    label: str = ""


class TimelineRow(msgspec.Struct, frozen=True):
    label: str
    spans: list[Span]


class Timeline(msgspec.Struct, frozen=True, tag="timeline"):
    """Rows of spans over one time axis (walk-forward folds: train then test)."""

    id: str
    title: str
    rows: list[TimelineRow]
    note: str = ""


class Preformatted(msgspec.Struct, frozen=True, tag="pre"):
    id: str
    title: str
    text: str
    note: str = ""


class Paragraphs(msgspec.Struct, frozen=True, tag="text"):
    id: str
    title: str
    lines: list[str]
    warn: bool = False


Block = (
    TimeChart
    | Table
    | Heatmap
    | Histogram
    | Waterfall
    | Preformatted
    | Paragraphs
    | XYChart
    | Timeline
)


class Section(msgspec.Struct, frozen=True):
    title: str
    blocks: list[Block]


class Report(msgspec.Struct, frozen=True):
    title: str
    subtitle: str
    sections: list[Section]
    generated_by: str = ""

    def blocks(self) -> list[Block]:
        return [block for section in self.sections for block in section.blocks]
