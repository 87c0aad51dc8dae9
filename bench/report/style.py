"""Shared drawing helpers for certificates and lot reports (matplotlib, no pyplot)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, BinaryIO

from bench.records import Outcome

A4_PORTRAIT = (8.27, 11.69)
A4_LANDSCAPE = (11.69, 8.27)

# Verdict → (fill colour, text colour).
VERDICT_COLOURS = {
    Outcome.PASS: ("#1b8a3a", "#ffffff"),
    Outcome.FAIL: ("#c62828", "#ffffff"),
    Outcome.CONDITIONAL: ("#f0a500", "#000000"),
    Outcome.ERROR: ("#6a1b9a", "#ffffff"),
    Outcome.ABORTED: ("#616161", "#ffffff"),
}

# Type 3 fonts (matplotlib's default) embed only the glyphs used and carry a
# ToUnicode map, so the text stays extractable; Type 42 subsetting is ~10x slower.
_PDF_RC = {"pdf.fonttype": 3, "font.family": "DejaVu Sans"}


def new_figure(size: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=size)


@contextmanager
def pdf_pages(handle: BinaryIO, *, title: str, subject: str = "") -> Iterator[Any]:
    """A multi-page PDF written to an open binary file."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    with matplotlib.rc_context(_PDF_RC), PdfPages(handle, metadata={
            "Title": title, "Subject": subject, "Creator": "mpo-bench"}) as pdf:
        yield pdf


def text_block(fig: Any, x: float, y: float, rows: Sequence[tuple[str, str]], *, label_width: float = 0.16,
               size: float = 9, line: float = 0.018) -> float:
    """Label/value rows in figure coordinates, top-down from y; returns the y below the block."""
    for label, value in rows:
        fig.text(x, y, label, fontsize=size, color="#444444", va="top")
        fig.text(x + label_width, y, value, fontsize=size, va="top", weight="bold" if label == "Serial number"
                 else "normal")
        y -= line
    return y
