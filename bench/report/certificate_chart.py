"""The certificate's chart: insertion loss per fiber as bars, one colour per wavelength, limits as lines."""

from __future__ import annotations

import math
from typing import Any

from bench.records import Outcome
from bench.report.certificate import CertificateData
from bench.report.pdf_page import (
    BOLD,
    CHART_H,
    LEFT,
    NOT_PASS_EDGE,
    REGULAR,
    SMALL,
    WAVELENGTH_COLOURS,
    WIDTH,
    Block,
    colour,
)


def chart_block(data: CertificateData) -> Block:
    def draw(c: Any, top: float) -> None:
        _draw_chart(c, data, top)
    return Block(CHART_H + 8, draw)


def _chart_range(data: CertificateData) -> tuple[float, float, list[float]]:
    values = [v for row in data.fibers for v in row.insertion_loss_db if math.isfinite(v)]
    limits = sorted({round(v, 6) for row in data.fibers for v in row.limit_db if math.isfinite(v)})
    low = min(0.0, min(values, default=0.0))
    high = max([*limits, *values, 0.1]) * 1.15
    return low, high, limits


def _draw_chart(c: Any, data: CertificateData, top: float) -> None:
    plot_left, plot_w = LEFT + 34, WIDTH - 34
    plot_top, plot_h = top - 26, CHART_H - 50
    bottom = plot_top - plot_h
    low, high, limits = _chart_range(data)

    def y_of(value: float) -> float:
        return bottom + (value - low) / (high - low) * plot_h

    c.setFont(BOLD, 9.5)
    c.setFillColor(colour("#000000"))
    c.drawString(LEFT, top - 10, "Insertion loss per fiber (dB)")
    _chart_legend(c, data, top - 20)
    c.setLineWidth(0.3)
    c.setStrokeColor(colour("#bbbbbb"))
    c.setFont(REGULAR, SMALL)
    step = _tick_step(high - low)
    tick = math.ceil(low / step) * step
    while tick <= high + 1e-9:
        c.line(plot_left, y_of(tick), plot_left + plot_w, y_of(tick))
        c.drawRightString(plot_left - 3, y_of(tick) - 2.5, f"{tick:.2f}")
        tick += step
    n_fibers, n_wl = max(len(data.fibers), 1), max(len(data.wavelengths_nm), 1)
    slot = plot_w / n_fibers
    bar_w = slot * 0.8 / n_wl
    for i, row in enumerate(data.fibers):
        x0 = plot_left + i * slot + slot * 0.1
        for w, value in enumerate(row.insertion_loss_db):
            _bar(c, x0 + w * bar_w, bar_w, y_of(max(low, 0.0)), y_of(value) if math.isfinite(value) else None,
                 WAVELENGTH_COLOURS[w % len(WAVELENGTH_COLOURS)], row.verdicts[w] not in (Outcome.PASS, ""))
        c.setFillColor(colour("#000000"))
        c.setFont(REGULAR, SMALL)
        c.drawCentredString(plot_left + (i + 0.5) * slot, bottom - 9, str(row.fiber_position))
    c.drawCentredString(plot_left + plot_w / 2, bottom - 19, "fiber position")
    c.setDash(3, 2)
    c.setStrokeColor(colour(NOT_PASS_EDGE))
    c.setLineWidth(0.9)
    c.setFillColor(colour(NOT_PASS_EDGE))
    for limit in limits:
        c.line(plot_left, y_of(limit), plot_left + plot_w, y_of(limit))
        c.drawRightString(plot_left + plot_w, y_of(limit) + 2, f"limit {limit:.3f} dB")
    c.setDash()


def _tick_step(span: float) -> float:
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0):
        if span / step <= 6:
            return step
    return 20.0


def _bar(c: Any, x: float, w: float, base: float, y: float | None, fill: str, not_pass: bool) -> None:
    if y is None:  # no light: a marked gap instead of a bar
        c.setFillColor(colour(NOT_PASS_EDGE))
        c.setFont(REGULAR, SMALL)
        c.saveState()
        c.translate(x + w / 2 + 2.5, base + 2)
        c.rotate(90)
        c.drawString(0, 0, "no light")
        c.restoreState()
        return
    c.setFillColor(colour(fill))
    if not_pass:
        c.setStrokeColor(colour(NOT_PASS_EDGE))
        c.setLineWidth(1.4)
        c.rect(x, min(base, y), w, abs(y - base), stroke=1, fill=1)
        c.setFillColor(colour(NOT_PASS_EDGE))
        c.circle(x + w / 2, max(base, y) + 3.5, 1.8, stroke=0, fill=1)
    else:
        c.rect(x, min(base, y), w, abs(y - base), stroke=0, fill=1)


def _chart_legend(c: Any, data: CertificateData, y: float) -> None:
    """Solid swatches for the wavelengths; the not-PASS mark is its own entry, never a wavelength's swatch."""
    x = LEFT + 34
    c.setFont(REGULAR, SMALL)
    for w, wavelength in enumerate(data.wavelengths_nm):
        c.setFillColor(colour(WAVELENGTH_COLOURS[w % len(WAVELENGTH_COLOURS)]))
        c.rect(x, y - 1, 9, 6, stroke=0, fill=1)
        c.setFillColor(colour("#000000"))
        c.drawString(x + 12, y, f"{wavelength:g} nm")
        x += 60
    c.setStrokeColor(colour(NOT_PASS_EDGE))
    c.setLineWidth(1.4)
    c.rect(x, y - 1, 9, 6, stroke=1, fill=0)
    c.setFillColor(colour(NOT_PASS_EDGE))
    c.circle(x + 4.5, y + 8, 1.8, stroke=0, fill=1)
    c.setFillColor(colour("#000000"))
    c.drawString(x + 12, y, "red outline and dot: fiber not PASS at that wavelength")
