"""Medians, ratios against the goals of issue #6, a Markdown table and an SVG chart."""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass


@dataclass
class Goal:
    measure: str
    target: str
    value: float | None
    met: bool | None
    shown: str

    def row(self) -> str:
        verdict = {True: "met", False: "**not met**", None: "—"}[self.met]
        return f"| {self.measure} | {self.target} | {self.shown} | {verdict} |"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio_goal(measure: str, value: float, *, at_least: float | None = None,
               at_most: float | None = None) -> Goal:
    if at_least is not None:
        return Goal(measure, f"≥ {at_least:g}", value, value >= at_least, f"{value:.2f}")
    return Goal(measure, f"≤ {at_most:g}", value, value <= at_most, f"{value:.2f}")


def scenario_table(title: str, rows: list[dict], baseline: str | None = None) -> str:
    """rows: name, description, rps (list per round), p50/p99 (µs, medians), errors."""
    lines = [f"#### {title}", "",
             "| scenario | requests/s (median) | rounds | vs " + (baseline or "—") + " | p50 | p99 | non-2xx |",
             "|---|---:|---|---:|---:|---:|---:|"]
    base = next((median(r["rps"]) for r in rows if r["name"] == baseline), None)
    for r in rows:
        rps = median(r["rps"])
        rel = f"{rps / base:.2f}" if base else "—"
        rounds = " ".join(f"{x:,.0f}" for x in r["rps"])
        lines.append(f"| {r['description']} | {rps:,.0f} | {rounds} | {rel} | "
                     f"{r['p50_us'] / 1000:.2f} ms | {r['p99_us'] / 1000:.2f} ms | {r['errors']} |")
    return "\n".join(lines) + "\n"


def svg_chart(groups: list[tuple[str, list[tuple[str, float]]]], *, unit: str = "requests/s") -> str:
    """Horizontal bar chart: one block per group, bars scaled within their group."""
    bar_h, gap, label_w, bar_w, pad = 18, 6, 330, 360, 10
    height = pad
    for _, bars in groups:
        height += 26 + len(bars) * (bar_h + gap) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 110}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>']
    y = pad
    palette = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#eeca3b"]
    for title, bars in groups:
        out.append(f'<text x="{pad}" y="{y + 16}" font-weight="bold">{html.escape(title)}</text>')
        y += 26
        top = max((v for _, v in bars), default=1) or 1
        for i, (label, value) in enumerate(bars):
            width = max(1, int(bar_w * value / top))
            out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{html.escape(label)}</text>')
            out.append(f'<rect x="{label_w}" y="{y}" width="{width}" height="{bar_h}" '
                       f'fill="{palette[i % len(palette)]}"/>')
            out.append(f'<text x="{label_w + width + 4}" y="{y + 13}">{value:,.0f} {unit}</text>')
            y += bar_h + gap
        y += 8
    out.append("</svg>")
    return "\n".join(out) + "\n"
