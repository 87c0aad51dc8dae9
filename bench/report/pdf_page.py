"""The certificate's page primitives: A4 geometry, type sizes, fonts, and blocks of text and tables.

A `Block` knows its height before it is drawn, so the certificate's pages can be planned (and
numbered "page i of n") before anything is drawn; every text is at least `SMALL` (7 pt).
The fonts are the DejaVu Sans files matplotlib ships (already a dependency), embedded as subsets,
so any printable serial or operator name prints and the text stays extractable.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
LEFT, RIGHT, TOP, BOTTOM = 40.0, 40.0, 32.0, 40.0
WIDTH = PAGE_W - LEFT - RIGHT
HEADER_H = 58.0
FOOTER_H = 20.0
BODY = 8.0  # body text size (pt)
SMALL = 7.0  # the smallest text anywhere (table cells, footer)
LINE = 10.0
ROW_H = 9.2
BASIS_LINE = 8.4  # 7 pt text wrapped within one table cell
CHART_H = 100.0
WAVELENGTH_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
NOT_PASS_EDGE = "#b00020"
REGULAR, BOLD = "CertSans", "CertSans-Bold"

_fonts_ready = False


def register_fonts() -> None:
    global _fonts_ready
    if _fonts_ready:
        return
    import matplotlib
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    pdfmetrics.registerFont(TTFont(REGULAR, os.path.join(folder, "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, os.path.join(folder, "DejaVuSans-Bold.ttf")))
    _fonts_ready = True


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.lib.utils import simpleSplit

    return simpleSplit(text, font, size, width) or [""]


def number_text(value: float, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "no light" if not signed else "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def date_text(value: Any) -> str:
    return str(value) if value else "not recorded"


@dataclass
class Block:
    """A piece of a page: its height in points and how to draw it with its top at y."""

    height: float
    draw: Callable[[Any, float], None]


def text_rows(rows: Sequence[tuple[str, str]], width: float, label_w: float = 82.0) -> Block:
    wrapped = [(label, wrap(value, REGULAR, BODY, width - label_w)) for label, value in rows]
    height = sum(len(lines) for _, lines in wrapped) * LINE + 4

    def draw(c: Any, top: float) -> None:
        y = top - BODY
        for label, lines in wrapped:
            c.setFont(REGULAR, BODY)
            c.setFillColor(colour("#444444"))
            c.drawString(LEFT, y, label)
            c.setFillColor(colour("#000000"))
            c.setFont(BOLD if label == "Serial number" else REGULAR, BODY)
            for line in lines:
                c.drawString(LEFT + label_w, y, line)
                y -= LINE
    return Block(height, draw)


@functools.cache
def colour(hex_text: str) -> Any:
    from reportlab.lib.colors import HexColor

    return HexColor(hex_text)


def heading(text: str) -> Block:
    def draw(c: Any, top: float) -> None:
        c.setFont(BOLD, 9.5)
        c.setFillColor(colour("#000000"))
        c.drawString(LEFT, top - 10, text)
    return Block(16.0, draw)


def note_block(text: str) -> Block:
    lines = wrap(text, REGULAR, BODY, WIDTH)
    if len(lines) > 8:
        lines = [*lines[:7], lines[7] + " …"]

    def draw(c: Any, top: float) -> None:
        c.setFont(REGULAR, BODY)
        c.setFillColor(colour("#000000"))
        for n, line in enumerate(lines):
            c.drawString(LEFT, top - BODY - n * LINE, line)
    return Block(len(lines) * LINE + 6, draw)


def columns(header: Sequence[str], weights: Sequence[float]) -> list[tuple[float, float]]:
    total = sum(weights)
    spans, x = [], LEFT
    for weight in weights:
        width = WIDTH * weight / total
        spans.append((x, width))
        x += width
    return spans


def table_block(header: Sequence[str], body: Sequence[Sequence[str]], weights: Sequence[float],
                 ink: Callable[[int, int], str] | None = None) -> Block:
    spans = columns(header, weights)

    def draw(c: Any, top: float) -> None:
        c.setLineWidth(0.4)
        c.setStrokeColor(colour("#999999"))
        c.setFillColor(colour("#dfe6ee"))
        c.rect(LEFT, top - ROW_H, WIDTH, ROW_H, stroke=0, fill=1)
        for r, cells in enumerate([header, *body]):
            y = top - (r + 1) * ROW_H
            c.setFont(BOLD if r == 0 else REGULAR, SMALL)
            for k, ((x, w), text) in enumerate(zip(spans, cells, strict=True)):
                c.setFillColor(colour(ink(r - 1, k) if ink and r > 0 else "#000000"))
                c.drawCentredString(x + w / 2, y + 3, text)
            c.line(LEFT, y, LEFT + WIDTH, y)
        c.line(LEFT, top, LEFT + WIDTH, top)
    return Block((len(body) + 1) * ROW_H + 6, draw)
