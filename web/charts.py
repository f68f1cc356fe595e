"""The reports' charts: SVG drawn on the server with pygal, no JavaScript, nothing fetched.

pygal (Kozea, LGPL) is made for exactly this: it writes a self-contained SVG from Python values,
with its title and labels as text. Its tooltips script (fetched from a CDN by default) is turned
off (`js=[]`, and the settings script it always writes is taken out): the desk's Content-Security-Policy forbids it, the tests run offline, and the pages
work without JavaScript. The SVG is served as an image (`<img>`, where no script would run anyway)
with its own policy, which allows only its inline style (`SVG_CSP`).

Every chart comes in two sizes from the same figures: `wide` for a desk screen, `narrow` for a
phone (drawn at a phone's width with larger type and shorter labels, so it reads at 375 px rather
than a wide chart shrunk). The page picks one with `<picture>`. Every chart has a table beside it
with the same figures, and says what it shows in its `alt` text: colour is never the only cue
(values are printed on the bars; the reference lines are dashed or dotted and named in the legend).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pygal
from pygal.style import Style

from compose.config import Config
from compose.reports import EditionReport, Trend

Size = Literal["wide", "narrow"]
SIZES: tuple[Size, ...] = ("wide", "narrow")
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

@dataclass(frozen=True, slots=True)
class Box:
    """A chart's drawing size and type sizes, per page size."""

    width: int
    bar_height: int  # per bar, for horizontal bar charts
    height: int  # for the other charts
    label: int  # axis labels
    value: int  # values printed on bars
    title: int
    truncate: int  # characters of a label kept (the table has it whole)


BOXES = {"wide": Box(width=760, bar_height=34, height=320, label=13, value=13, title=17, truncate=44),
         "narrow": Box(width=360, bar_height=40, height=300, label=14, value=14, title=16, truncate=17)}


def _style(config: Config, box: Box) -> Style:
    brand = config.branding
    return Style(background="#ffffff", plot_background="#ffffff", foreground="#1f2933",
                 foreground_strong="#1f2933", foreground_subtle="#52606d", opacity="1", opacity_hover="1",
                 colors=(brand.primary_colour, "#b42318", "#52606d", brand.accent_colour),
                 font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
                 label_font_size=box.label, major_label_font_size=box.label, value_font_size=box.value,
                 title_font_size=box.title, legend_font_size=box.label, tooltip_font_size=box.label,
                 no_data_font_size=box.title, guide_stroke_color="#cbd2d9", major_guide_stroke_color="#cbd2d9",
                 stroke_width=3, stroke_width_hover=3)


def _common(config: Config, size: Size, title: str) -> dict[str, Any]:
    box = BOXES[size]
    return {"style": _style(config, box), "width": box.width, "title": title, "js": [],
            "disable_xml_declaration": True, "explicit_size": False, "show_legend": False, "margin": 12,
            "no_data_text": "Nothing yet", "print_values": True, "truncate_label": box.truncate, "no_prefix": True,
            "max_scale": 5 if size == "narrow" else 10, "min_scale": 3,
            "classes": ("pygal-chart", "report-chart")}


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _render(chart: Any) -> str:
    """The SVG without the script pygal always adds (its settings, for its tooltips: nothing runs
    here) nor its comments."""
    return _COMMENT.sub("", _SCRIPT.sub("", str(chart.render(is_unicode=True))))


def _bars(config: Config, size: Size, title: str, labels: Sequence[str], values: Sequence[int | float | None],
          *, name: str, formatter: Any = None) -> str:
    """A horizontal bar chart, one bar per label from the top down, the value printed on it; labels
    are shortened to fit (the table beside the chart has them whole)."""
    box = BOXES[size]
    height = max(140, 90 + box.bar_height * max(1, len(labels)))
    options = _common(config, size, title)
    chart = pygal.HorizontalBar(height=height, print_values_position="top", **options)
    if formatter is not None:
        chart.value_formatter = formatter
    chart.x_labels = [shorten(label, box.truncate) for label in reversed(labels)]  # pygal draws the first at the bottom
    chart.add(name, list(reversed(values)))
    return _render(chart)


def shorten(label: str, most: int) -> str:
    """`label` cut at a word to at most `most` characters, with an ellipsis when cut."""
    if len(label) <= most:
        return label
    hard = label[:most - 1]
    soft = hard.rsplit(" ", 1)[0]
    return (soft if len(soft) >= most * 2 // 3 else hard).rstrip(" ,:;-") + "…"


def delivery_chart(report: EditionReport, config: Config, size: Size) -> str:
    f = report.figures
    labels = ["Delivered", "Bounced", "Dropped", "Deferred", "Complaints", "Unsubscribed", "Failed"]
    values = [f.delivered, f.bounced, f.dropped, f.deferred, f.complaints, f.unsubscribes, f.failed]
    return _bars(config, size, f"What happened to {f.recipients} messages", labels, values, name="Messages")


def item_clicks_chart(report: EditionReport, config: Config, size: Size) -> str:
    items = [line for line in report.items if line.section]
    return _bars(config, size, "Clicks per item", [line.title for line in items], [line.clicks for line in items],
                 name="Clicks")


def section_clicks_chart(report: EditionReport, config: Config, size: Size) -> str:
    return _bars(config, size, "Clicks per section", [s.title for s in report.sections],
                 [s.clicks for s in report.sections], name="Clicks")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}%"


def _line(config: Config, size: Size, title: str, labels: Sequence[str],
          series: Sequence[tuple[str, list[Any], str | None]],
          *, formatter: Any = None, zero: bool = True, bar: bool = False) -> str:
    box = BOXES[size]
    options = _common(config, size, title)
    crowded = len(labels) > (12 if size == "wide" else 5)
    options.update(show_legend=len(series) > 1, legend_at_bottom=True, legend_at_bottom_columns=1,
                   truncate_legend=60, x_label_rotation=40 if crowded else 0,
                   show_minor_x_labels=not crowded, x_labels_major_every=3 if crowded else None,
                   print_values=bar and len(labels) <= (12 if size == "wide" else 6),
                   include_x_axis=zero, allow_interruptions=True, dots_size=4 if size == "wide" else 5)
    chart = (pygal.Bar if bar else pygal.Line)(height=box.height + (40 if len(series) > 1 else 0), **options)
    if formatter is not None:
        chart.value_formatter = formatter
    chart.x_labels = list(labels)
    for name, values, dashes in series:
        extra = {"stroke_style": {"width": 3, "dasharray": dashes}, "show_dots": len(labels) == 1} if dashes else {}
        chart.add(name, values, **extra)
    return _render(chart)


def list_size_chart(trend: Trend, config: Config, size: Size) -> str:
    labels = [f"{w.week.day} {w.week:%b}" for w in trend.weeks]
    return _line(config, size, "Subscribers on the list, week by week", labels,
                 [("Active subscribers", [w.size for w in trend.weeks], None)], zero=False)


def growth_chart(trend: Trend, config: Config, size: Size) -> str:
    weeks = trend.weeks[1:]
    labels = [f"{w.week.day} {w.week:%b}" for w in weeks]
    return _line(config, size, "Growth: subscribers gained or lost each week", labels,
                 [("Change", [w.growth for w in weeks], None)], bar=True,
                 formatter=lambda v: f"{v:+.0f}" if isinstance(v, int | float) else "–")


def click_rate_chart(trend: Trend, config: Config, zone: ZoneInfo, size: Size) -> str:
    labels = [e.label(zone) for e in trend.editions]
    values = [None if e.click_rate is None else round(e.click_rate * 100, 2) for e in trend.editions]
    return _line(config, size, "Click-through: clicks per 100 delivered", labels,
                 [("Clicks per 100 delivered", values, None)], bar=True, formatter=_percent)


def complaint_rate_chart(trend: Trend, config: Config, zone: ZoneInfo, size: Size) -> str:
    labels = [e.label(zone) for e in trend.editions]
    values = [None if e.complaint_rate is None else round(e.complaint_rate * 100, 3) for e in trend.editions]
    guard = config.reputation
    warn, stop = guard.complaint_rate_warn * 100, guard.complaint_rate_stop * 100
    return _line(config, size, "Complaint rate per edition", labels,
                 [("Complaint rate", values, None), (f"Dashed: staff warned at {warn:g}%", [warn] * len(labels), "10, 6"),
                  (f"Dotted: email paused at {stop:g}%", [stop] * len(labels), "3, 5")],
                 formatter=_percent)
