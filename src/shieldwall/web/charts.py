"""Charts drawn on the server as SVG: bars over time (one or more series) whose bars link
to the list behind them. Every label is escaped; nothing runs in the browser."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from html import escape

from markupsafe import Markup

WIDTH = 360
HEIGHT = 160
PAD_LEFT = 28
PAD_BOTTOM = 18
PAD_TOP = 8


def buckets(since: datetime, until: datetime, hourly: bool) -> list[str]:
    """The bucket labels from since to until, as the statistics queries name them."""
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    fmt = "%Y-%m-%d %H" if hourly else "%Y-%m-%d"
    out = []
    t = since.replace(minute=0, second=0, microsecond=0)
    if not hourly:
        t = t.replace(hour=0)
    while t <= until:
        out.append(t.strftime(fmt))
        t += step
    return out


def timeseries(
    labels: Sequence[str],
    series: Sequence[tuple[str, dict[str, int], str]],
    link: Callable[[str, str], str] | None = None,
    title: str = "",
) -> Markup:
    """Grouped bars: one group a label, one bar a series (name, values, css class). `link`
    (series name, label) gives the URL a bar opens."""
    n = max(1, len(labels))
    groups = max(1, len(series))
    top = max([1] + [values.get(lbl, 0) for _, values, _ in series for lbl in labels])
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.8 / groups)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 4}" y2="{PAD_TOP + plot_h}"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">{top}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    every = max(1, n // 6)
    for i, label in enumerate(labels):
        x0 = PAD_LEFT + i * slot + slot * 0.1
        for g, (name, values, css) in enumerate(series):
            v = values.get(label, 0)
            if not v:
                continue
            h = plot_h * v / top
            x = x0 + g * bar_w
            y = PAD_TOP + plot_h - h
            rect = (
                f'<rect class="{escape(css)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                f"<title>{escape(name)} {escape(label)}: {v}</title></rect>"
            )
            if link is not None:
                rect = f'<a href="{escape(link(name, label))}">{rect}</a>'
            parts.append(rect)
        if i % every == 0:
            short = label[5:] if len(label) >= 10 else label
            parts.append(f'<text x="{x0:.1f}" y="{HEIGHT - 6}">{escape(short)}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><svg viewBox="0 0 10 10" aria-hidden="true"><rect class="{escape(css)}" width="10" height="10"/></svg>{escape(name)}</span>'
        for name, _, css in series
    )
    return Markup("".join(parts) + f'<p class="legend">{legend}</p>')


def graph(
    center: tuple[str, str],
    nodes: Sequence[tuple[str, str, str]],
) -> Markup:
    """An event and the events it correlates with, on a circle: (id, label, href)."""
    cx, cy, r = 320, 180, 140
    parts = ['<svg viewBox="0 0 640 360" role="img" aria-label="Correlation graph">']
    import math

    k = max(1, len(nodes))
    points = []
    for i, (node_id, label, href) in enumerate(nodes):
        a = 2 * math.pi * i / k - math.pi / 2
        x, y = cx + r * math.cos(a), cy + r * math.sin(a)
        points.append((x, y, node_id, label, href))
        parts.append(f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}"/>')
    parts.append(
        f'<circle class="self" cx="{cx}" cy="{cy}" r="12"><title>{escape(center[1])}</title></circle>'
        f'<text x="{cx + 16}" y="{cy + 4}">{escape(center[1][:40])}</text>'
    )
    for x, y, node_id, label, href in points:
        parts.append(
            f'<a href="{escape(href)}"><circle cx="{x:.1f}" cy="{y:.1f}" r="9"><title>{escape(label)}</title></circle>'
            f'<text x="{x + 12:.1f}" y="{y + 4:.1f}">{escape(node_id)} {escape(label[:32])}</text></a>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
