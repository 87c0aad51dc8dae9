"""The dashboard's charts, drawn by matplotlib on the server as inline SVG.

Server-side SVG needs no JavaScript library in the browser and nothing fetched from elsewhere;
text is drawn as paths (matplotlib's default `svg.fonttype`), so no record text reaches the page as
markup through a chart. Figures are built with `matplotlib.figure.Figure` (no pyplot state), so
requests served on several threads do not share a figure.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from bench.dashboard.source import GoldenRow
from bench.dashboard.spc import IndividualsChart, Violation

_SVG_RC = {"svg.fonttype": "path", "svg.hashsalt": "mpo-bench-dashboard", "font.size": 8,
           "axes.spines.top": False, "axes.spines.right": False}
LIMIT_COLOUR = "#c0392b"
BAR_COLOUR = "#2e6da4"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context(_SVG_RC):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML declaration and DOCTYPE


def _figure(width_in: float, height_in: float) -> Figure:
    with matplotlib.rc_context(_SVG_RC):
        return Figure(figsize=(width_in, height_in), layout="constrained")


def il_histograms(il_by_wavelength: dict[float, np.ndarray], limit_by_wavelength: dict[float, float]) -> str:
    """One histogram of fiber IL per wavelength, the limit drawn as a red line."""
    wavelengths = sorted(il_by_wavelength)
    fig = _figure(3.2 * max(1, len(wavelengths)), 2.4)
    axes = fig.subplots(1, max(1, len(wavelengths)), squeeze=False)[0]
    for ax, wavelength in zip(axes, wavelengths, strict=False):
        values = il_by_wavelength[wavelength]
        limit = limit_by_wavelength.get(wavelength, float("nan"))
        top = max(float(values.max()) if len(values) else 0.0, limit if np.isfinite(limit) else 0.0)
        ax.hist(values, bins=np.linspace(min(0.0, float(values.min()) if len(values) else 0.0), top * 1.05 + 0.01,
                                         30), color=BAR_COLOUR)
        if np.isfinite(limit):
            ax.axvline(limit, color=LIMIT_COLOUR, linewidth=1.5, label=f"limit {limit:.2f} dB")
            ax.legend(loc="upper right", frameon=False)
        ax.set_title(f"{wavelength:g} nm  (n = {len(values)})")
        ax.set_xlabel("insertion loss (dB)")
        ax.set_ylabel("fiber readings")
    return _svg(fig)


def position_heatmap(position_mean_il: dict[float, dict[int, float]]) -> str:
    """Mean IL per ferrule position (columns) and wavelength (rows), the value written in each cell."""
    wavelengths = sorted(position_mean_il)
    positions = sorted({p for row in position_mean_il.values() for p in row})
    grid = np.array([[position_mean_il[w].get(p, np.nan) for p in positions] for w in wavelengths])
    fig = _figure(max(4.0, 0.45 * len(positions) + 1.5), 0.5 * len(wavelengths) + 1.2)
    ax = fig.subplots()
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(positions)), [str(p) for p in positions])
    ax.set_yticks(range(len(wavelengths)), [f"{w:g} nm" for w in wavelengths])
    ax.set_xlabel("ferrule position")
    finite = grid[np.isfinite(grid)]
    middle = float(np.mean(finite)) if len(finite) else 0.0
    for (row, col), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if value > middle else "white")
    fig.colorbar(image, ax=ax, label="mean IL (dB)")
    return _svg(fig)


def pareto_chart(pareto: Sequence[tuple[str, int]]) -> str:
    """Causes as bars, most frequent first, with the cumulative share as a line."""
    shown = list(pareto[:12])
    fig = _figure(max(4.0, 0.5 * len(shown) + 2), 2.8)
    ax = fig.subplots()
    counts = np.array([count for _, count in shown], dtype=float)
    ax.bar(range(len(shown)), counts, color=BAR_COLOUR)
    ax.set_xticks(range(len(shown)), [cause for cause, _ in shown], rotation=35, ha="right", fontsize=6)
    ax.set_ylabel("cables")
    share = ax.twinx()
    share.plot(range(len(shown)), 100 * np.cumsum(counts) / max(1.0, counts.sum()), color=LIMIT_COLOUR, marker="o")
    share.set_ylim(0, 105)
    share.set_ylabel("cumulative %")
    share.spines["right"].set_visible(True)
    return _svg(fig)


def golden_drift(checks: Sequence[GoldenRow]) -> str:
    """The golden cable's mean IL per check over time, and its smallest margin to the drift tolerance."""
    fig = _figure(6.5, 3.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    times = [dt.datetime.fromisoformat(c.started_utc.replace("Z", "+00:00")) for c in checks]
    colours = ["#27ae60" if c.outcome == "PASS" else LIMIT_COLOUR for c in checks]
    for ax, values, label in ((top, [c.mean_il_db for c in checks], "mean IL (dB)"),
                              (bottom, [c.min_margin_db for c in checks], "smallest margin (dB)")):
        ax.plot(times, values, color="#7f8c8d", linewidth=0.8)
        ax.scatter(times, values, c=colours, zorder=3)
        ax.set_ylabel(label)
    bottom.axhline(0.0, color=LIMIT_COLOUR, linestyle="--", linewidth=1)
    fig.autofmt_xdate()
    return _svg(fig)


def spc_chart(chart: IndividualsChart, violations: Sequence[Violation], limit_db: float,
              cable_numbers: np.ndarray) -> str:
    """Individuals chart (centre line, ±3 sigma, the product's IL limit) over its moving-range chart."""
    fig = _figure(7.5, 4.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    x = cable_numbers
    flagged = sorted({v.index for v in violations})
    top.plot(x, chart.values, color=BAR_COLOUR, marker=".", linewidth=0.8)
    if flagged:
        top.scatter(x[flagged], chart.values[flagged], color=LIMIT_COLOUR, zorder=3, label="rule fired")
    for level, style, label in ((chart.center, "-", "centre"), (chart.ucl, "--", "UCL"), (chart.lcl, "--", "LCL")):
        top.axhline(level, color="#555555", linestyle=style, linewidth=0.8)
        top.annotate(f"{label} {level:.3f}", (x[-1], level), fontsize=6, va="bottom", ha="right")
    if np.isfinite(limit_db):
        top.axhline(limit_db, color=LIMIT_COLOUR, linewidth=1.2, label=f"IL limit {limit_db:.2f} dB")
    top.set_ylabel("IL (dB)")
    top.legend(loc="upper left", frameon=False, fontsize=6)
    bottom.plot(x[1:], chart.moving_range, color=BAR_COLOUR, linewidth=0.8)
    bottom.axhline(chart.mr_center, color="#555555", linewidth=0.8)
    bottom.axhline(chart.mr_ucl, color="#555555", linestyle="--", linewidth=0.8)
    bottom.set_ylabel("moving range (dB)")
    bottom.set_xlabel("observation (cable, in test order)")
    return _svg(fig)
