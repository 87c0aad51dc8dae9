"""Drawing and writing a certificate (ReportLab canvas): A4 pages laid out top-down, every text >= 7 pt.

ReportLab writes the page content directly (no figure model, no rasterising), which makes a
certificate in a few tens of milliseconds where the matplotlib pages took about half a second;
that is what lets the line keep its pace with certificates on (docs/performance.md). The fonts
are the DejaVu Sans files matplotlib ships (already a dependency), embedded as subsets, so any
printable serial or operator name prints and the text stays extractable.

Layout: a plan of blocks (details, method, uncertainty budget, result, chart, fiber table,
instruments, approval) is paginated first, so every page can say "page i of n"; the fiber table
splits across pages with its header repeated.

Over 400 lines on purpose: pagination needs every block's height before anything is drawn, so
the blocks' measuring and drawing live together; split, each block would be written twice.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.records import Outcome
from bench.report.certificate import CertificateData, FiberRow
from bench.report.files import create_exclusive, safe_file_stem
from bench.report.style import VERDICT_COLOURS

PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
LEFT, RIGHT, TOP, BOTTOM = 40.0, 40.0, 32.0, 40.0
WIDTH = PAGE_W - LEFT - RIGHT
HEADER_H = 58.0
FOOTER_H = 20.0
BODY = 8.0  # body text size (pt)
SMALL = 7.0  # the smallest text anywhere (table cells, footer)
LINE = 10.2
ROW_H = 9.6
CHART_H = 124.0
WAVELENGTH_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
NOT_PASS_EDGE = "#b00020"
REGULAR, BOLD = "CertSans", "CertSans-Bold"

_fonts_ready = False


def _register_fonts() -> None:
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


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.lib.utils import simpleSplit

    return simpleSplit(text, font, size, width) or [""]


def _number(value: float, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "no light" if not signed else "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _date(value: Any) -> str:
    return str(value) if value else "not recorded"


# --------------------------------------------------------------------------- blocks


@dataclass
class Block:
    """A piece of a page: its height in points and how to draw it with its top at y."""

    height: float
    draw: Callable[[Any, float], None]


def _label_rows(data: CertificateData) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    item = [("Serial number", data.serial), ("Product", data.recipe_name), ("Description", data.product),
            ("Cable", data.cable_description or "-"), ("Lot", data.lot), ("Attempt", str(data.attempt)),
            ("Test date", data.date_utc), ("Station", data.station_name), ("Tested by", data.operator)]
    cords = ", ".join(data.reference_cords) or "not recorded"
    if data.cord_matings:
        cords += " (matings: " + ", ".join(f"{cord} {count}" for cord, count in data.cord_matings) + ")"
    uncertainty = data.uncertainty_text
    method = [("Test standard", data.standard), ("Method", data.method),
              ("Reference", (f"taken {data.reference_taken_utc}" if data.reference_taken_utc else "not found")
               + (f", id {data.reference_id}" if data.reference_id else "")),
              ("Test cords", cords),
              ("Wavelengths", ", ".join(f"{w:g} nm" for w in data.wavelengths_nm)),
              ("Uncertainty", uncertainty),
              ("Decision rule", data.decision_rule + (f": {data.decision_basis}" if data.decision_basis else "")),
              ("Polarity", f"required {data.polarity_required or '-'}, found {data.polarity_found or 'not determined'}"
               + ("; fiber map: column 'end B' of the results" if any(r.end_b_position for r in data.fibers)
                  else "")),
              *data.test_setup]
    return item, method


def _text_rows(rows: Sequence[tuple[str, str]], width: float, label_w: float = 82.0) -> Block:
    wrapped = [(label, _wrap(value, REGULAR, BODY, width - label_w)) for label, value in rows]
    height = sum(len(lines) for _, lines in wrapped) * LINE + 4

    def draw(c: Any, top: float) -> None:
        y = top - BODY
        for label, lines in wrapped:
            c.setFont(REGULAR, BODY)
            c.setFillColor(_colour("#444444"))
            c.drawString(LEFT, y, label)
            c.setFillColor(_colour("#000000"))
            c.setFont(BOLD if label == "Serial number" else REGULAR, BODY)
            for line in lines:
                c.drawString(LEFT + label_w, y, line)
                y -= LINE
    return Block(height, draw)


@functools.cache
def _colour(hex_text: str) -> Any:
    from reportlab.lib.colors import HexColor

    return HexColor(hex_text)


def _heading(text: str) -> Block:
    def draw(c: Any, top: float) -> None:
        c.setFont(BOLD, 9.5)
        c.setFillColor(_colour("#000000"))
        c.drawString(LEFT, top - 10, text)
    return Block(16.0, draw)


def _item_block(data: CertificateData) -> Block:
    """The item's details on the left, the verdict box on the right."""
    item, _ = _label_rows(data)
    rows = _text_rows(item, WIDTH - 170)
    box_w, box_h = 160.0, 84.0

    def draw(c: Any, top: float) -> None:
        rows.draw(c, top)
        fill, ink = VERDICT_COLOURS.get(data.outcome, ("#777777", "#ffffff"))
        x = PAGE_W - RIGHT - box_w
        c.setFillColor(_colour(fill))
        c.rect(x, top - box_h, box_w, box_h, stroke=0, fill=1)
        c.setFillColor(_colour(ink))
        size = 30 if len(data.outcome) <= 7 else 17
        c.setFont(BOLD, size)
        c.drawCentredString(x + box_w / 2, top - 44, data.outcome)
        failing = data.failing_fibers
        note = (("failing fibers: " + ", ".join(map(str, failing))) if failing
                else "all fibers within limits" if data.outcome == Outcome.PASS else "")
        c.setFont(REGULAR, BODY)
        for n, line in enumerate(_wrap(note, REGULAR, BODY, box_w - 12)[:3]):
            c.drawCentredString(x + box_w / 2, top - 62 - n * LINE, line)
    return Block(max(rows.height, box_h) + 6, draw)


def _result_block(data: CertificateData) -> Block:
    return _note_block(f"Result: {data.reason or data.outcome}")


def _suspect_block(data: CertificateData) -> Block | None:
    """A SUSPECT record's line, in bold under the verdict: the verdict stands only after a retest."""
    if not data.suspect_text:
        return None
    lines = _wrap(data.suspect_text, BOLD, BODY, WIDTH)

    def draw(c: Any, top: float) -> None:
        c.setFont(BOLD, BODY)
        c.setFillColor(_colour(VERDICT_COLOURS[Outcome.FAIL][0]))
        for n, line in enumerate(lines):
            c.drawString(LEFT, top - BODY - n * LINE, line)
        c.setFillColor(_colour("#000000"))
    return Block(len(lines) * LINE + 6, draw)


def _note_block(text: str) -> Block:
    lines = _wrap(text, REGULAR, BODY, WIDTH)
    if len(lines) > 8:
        lines = [*lines[:7], lines[7] + " …"]

    def draw(c: Any, top: float) -> None:
        c.setFont(REGULAR, BODY)
        c.setFillColor(_colour("#000000"))
        for n, line in enumerate(lines):
            c.drawString(LEFT, top - BODY - n * LINE, line)
    return Block(len(lines) * LINE + 6, draw)


# --------------------------------------------------------------------------- chart


def _chart_block(data: CertificateData) -> Block:
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
    c.setFillColor(_colour("#000000"))
    c.drawString(LEFT, top - 10, "Insertion loss per fiber (dB)")
    _chart_legend(c, data, top - 20)
    c.setLineWidth(0.3)
    c.setStrokeColor(_colour("#bbbbbb"))
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
        c.setFillColor(_colour("#000000"))
        c.setFont(REGULAR, SMALL)
        c.drawCentredString(plot_left + (i + 0.5) * slot, bottom - 9, str(row.fiber_position))
    c.drawCentredString(plot_left + plot_w / 2, bottom - 19, "fiber position")
    c.setDash(3, 2)
    c.setStrokeColor(_colour(NOT_PASS_EDGE))
    c.setLineWidth(0.9)
    c.setFillColor(_colour(NOT_PASS_EDGE))
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
        c.setFillColor(_colour(NOT_PASS_EDGE))
        c.setFont(REGULAR, SMALL)
        c.saveState()
        c.translate(x + w / 2 + 2.5, base + 2)
        c.rotate(90)
        c.drawString(0, 0, "no light")
        c.restoreState()
        return
    c.setFillColor(_colour(fill))
    if not_pass:
        c.setStrokeColor(_colour(NOT_PASS_EDGE))
        c.setLineWidth(1.4)
        c.rect(x, min(base, y), w, abs(y - base), stroke=1, fill=1)
        c.setFillColor(_colour(NOT_PASS_EDGE))
        c.circle(x + w / 2, max(base, y) + 3.5, 1.8, stroke=0, fill=1)
    else:
        c.rect(x, min(base, y), w, abs(y - base), stroke=0, fill=1)


def _chart_legend(c: Any, data: CertificateData, y: float) -> None:
    """Solid swatches for the wavelengths; the not-PASS mark is its own entry, never a wavelength's swatch."""
    x = LEFT + 34
    c.setFont(REGULAR, SMALL)
    for w, wavelength in enumerate(data.wavelengths_nm):
        c.setFillColor(_colour(WAVELENGTH_COLOURS[w % len(WAVELENGTH_COLOURS)]))
        c.rect(x, y - 1, 9, 6, stroke=0, fill=1)
        c.setFillColor(_colour("#000000"))
        c.drawString(x + 12, y, f"{wavelength:g} nm")
        x += 60
    c.setStrokeColor(_colour(NOT_PASS_EDGE))
    c.setLineWidth(1.4)
    c.rect(x, y - 1, 9, 6, stroke=1, fill=0)
    c.setFillColor(_colour(NOT_PASS_EDGE))
    c.circle(x + 4.5, y + 8, 1.8, stroke=0, fill=1)
    c.setFillColor(_colour("#000000"))
    c.drawString(x + 12, y, "red outline and dot: fiber not PASS at that wavelength")


# --------------------------------------------------------------------------- tables


def _columns(header: Sequence[str], weights: Sequence[float]) -> list[tuple[float, float]]:
    total = sum(weights)
    spans, x = [], LEFT
    for weight in weights:
        width = WIDTH * weight / total
        spans.append((x, width))
        x += width
    return spans


def _table_block(header: Sequence[str], body: Sequence[Sequence[str]], weights: Sequence[float],
                 ink: Callable[[int, int], str] | None = None) -> Block:
    spans = _columns(header, weights)

    def draw(c: Any, top: float) -> None:
        c.setLineWidth(0.4)
        c.setStrokeColor(_colour("#999999"))
        c.setFillColor(_colour("#dfe6ee"))
        c.rect(LEFT, top - ROW_H, WIDTH, ROW_H, stroke=0, fill=1)
        for r, cells in enumerate([header, *body]):
            y = top - (r + 1) * ROW_H
            c.setFont(BOLD if r == 0 else REGULAR, SMALL)
            for k, ((x, w), text) in enumerate(zip(spans, cells, strict=True)):
                c.setFillColor(_colour(ink(r - 1, k) if ink and r > 0 else "#000000"))
                c.drawCentredString(x + w / 2, y + 3, text)
            c.line(LEFT, y, LEFT + WIDTH, y)
        c.line(LEFT, top, LEFT + WIDTH, top)
    return Block((len(body) + 1) * ROW_H + 6, draw)


def fiber_table_header(data: CertificateData) -> list[str]:
    header = ["Fiber", "end B"]
    for w in data.wavelengths_nm:
        header += [f"IL {w:g} nm (dB)", "limit (dB)", "margin (dB)"]
    return [*header, "Verdict"]


def fiber_table_cells(data: CertificateData, row: FiberRow) -> list[str]:
    cells = [str(row.fiber_position), str(row.end_b_position) if row.end_b_position else "-"]
    for il, limit, margin in zip(row.insertion_loss_db, row.limit_db, row.margin_db, strict=True):
        cells += [_number(il), _number(limit), _number(margin, signed=True)]
    return [*cells, row.verdict]


def _fiber_ink(rows: Sequence[FiberRow], columns: int) -> Callable[[int, int], str]:
    def ink(r: int, k: int) -> str:
        row = rows[r]
        if k == columns - 1 and row.verdict not in (Outcome.PASS, ""):
            return NOT_PASS_EDGE
        if k >= 2 and (k - 2) % 3 == 2:
            margin = row.margin_db[(k - 2) // 3]
            return NOT_PASS_EDGE if math.isfinite(margin) and margin < 0 else "#000000"
        return "#000000"
    return ink


def _fiber_table_blocks(data: CertificateData, room: Callable[[], float]) -> list[Block | None]:
    """The fiber table as chunks that each fit the room left on their page (None: start a new page)."""
    header = fiber_table_header(data)
    weights = [0.8, 0.8] + [1.3, 1.0, 1.1] * len(data.wavelengths_nm) + [1.1]
    blocks: list[Block | None] = []
    rows = list(data.fibers)
    while rows:
        fit = int((room() - 6) // ROW_H) - 1
        if fit < 2:
            blocks.append(None)
            fit = int((PAGE_H - TOP - BOTTOM - HEADER_H - FOOTER_H - 6) // ROW_H) - 1
        chunk, rows = rows[:fit], rows[fit:]
        blocks.append(_table_block(header, [fiber_table_cells(data, r) for r in chunk], weights,
                                   _fiber_ink(chunk, len(header))))
    return blocks


def _budget_block(data: CertificateData) -> Block | None:
    """The uncertainty budget: one row per contribution, its basis wrapped in the last column."""
    rows = data.uncertainty_rows()
    if not rows:
        return None
    header = ("Contribution", "Value", "Distribution", "u_i (× c_i)", "Basis")
    spans = _columns(header, [1.3, 0.8, 1.1, 1.1, 4.2])
    basis_x, basis_w = spans[-1]
    wrapped = [_wrap(row[-1], REGULAR, SMALL, basis_w - 6) for row in rows]
    height = ROW_H * (1 + sum(len(lines) for lines in wrapped)) + 6

    def draw(c: Any, top: float) -> None:
        c.setLineWidth(0.4)
        c.setStrokeColor(_colour("#999999"))
        c.setFillColor(_colour("#dfe6ee"))
        c.rect(LEFT, top - ROW_H, WIDTH, ROW_H, stroke=0, fill=1)
        c.setFillColor(_colour("#000000"))
        c.setFont(BOLD, SMALL)
        for (x, w), text in zip(spans, header, strict=True):
            c.drawCentredString(x + w / 2, top - ROW_H + 3, text)
        y = top - ROW_H
        c.line(LEFT, top, LEFT + WIDTH, top)
        c.line(LEFT, y, LEFT + WIDTH, y)
        c.setFont(REGULAR, SMALL)
        for row, lines in zip(rows, wrapped, strict=True):
            for (x, w), text in zip(spans[:-1], row[:-1], strict=True):
                c.drawCentredString(x + w / 2, y - ROW_H + 3, text)
            for n, line in enumerate(lines):
                c.drawString(basis_x + 3, y - (n + 1) * ROW_H + 3, line)
            y -= ROW_H * len(lines)
            c.line(LEFT, y, LEFT + WIDTH, y)
    return Block(height, draw)


def _instrument_block(data: CertificateData) -> Block:
    header = ["Instrument", "Role", "Manufacturer", "Model", "Serial number", "Firmware", "Calibrated",
              "Calibration due"]
    body = [[str(i.get("name", "")), str(i.get("role", "")) or "-", str(i.get("manufacturer", "")),
             str(i.get("model", "")), str(i.get("serial_number", "")), str(i.get("firmware", ""))[:18],
             _date(i.get("calibration_date")), _date(i.get("calibration_due"))] for i in data.instruments]
    if not body:
        body = [["not recorded", "-", "-", "-", "-", "-", "-", "-"]]
    return _table_block(header, body, [1.0, 0.7, 1.5, 0.9, 1.2, 1.1, 1.0, 1.1])


def _approval_block(data: CertificateData) -> Block:
    issuer = data.issuer
    approver = ", ".join(v for v in (issuer.approved_by, issuer.approver_title) if v) or "________________"
    statement = issuer.statement or ("The results relate only to the cable tested, under the conditions "
                                     "stated. This certificate shall not be reproduced except in full.")
    lines = _wrap(statement, REGULAR, BODY, WIDTH - 12)
    height = 58 + len(lines) * LINE

    def draw(c: Any, top: float) -> None:
        c.setStrokeColor(_colour("#999999"))
        c.setLineWidth(0.5)
        c.rect(LEFT, top - height + 4, WIDTH, height - 4, stroke=1, fill=0)
        c.setFillColor(_colour("#000000"))
        c.setFont(BOLD, BODY)
        c.drawString(LEFT + 6, top - 14, "Approval")
        c.setFont(REGULAR, BODY)
        c.drawString(LEFT + 6, top - 27, f"Tested by: {data.operator} on {data.date_utc}")
        c.drawString(LEFT + 6, top - 40, f"Approved by: {approver}")
        c.drawString(LEFT + WIDTH / 2, top - 40, "Signature: ____________________   Date: ____________")
        for n, line in enumerate(lines):
            c.drawString(LEFT + 6, top - 54 - n * LINE, line)
    return Block(height + 4, draw)


# --------------------------------------------------------------------------- pages


def _header(c: Any, data: CertificateData, page: int, pages: int) -> None:
    top = PAGE_H - TOP
    c.setFillColor(_colour("#000000"))
    c.setFont(BOLD, 15)
    c.drawString(LEFT, top - 14, "Insertion-loss test certificate")
    c.setFont(BOLD, 9.5)
    c.drawRightString(PAGE_W - RIGHT, top - 10, f"Certificate No. {data.certificate_number}")
    c.setFont(REGULAR, BODY)
    c.drawRightString(PAGE_W - RIGHT, top - 22, f"page {page} of {pages}")
    issuer = data.issuer
    who = issuer.issuer or "issuer not configured (station file [certificate] issuer)"
    lines = [who, ", ".join(issuer.address), issuer.contact]
    c.setFont(REGULAR, BODY)
    y = top - 28
    for line in (ln for ln in lines if ln):
        c.drawString(LEFT, y, line[:110])
        y -= LINE
    c.setStrokeColor(_colour("#1f4e79"))
    c.setLineWidth(1.2)
    c.line(LEFT, PAGE_H - TOP - HEADER_H + 6, PAGE_W - RIGHT, PAGE_H - TOP - HEADER_H + 6)


def _footer(c: Any, data: CertificateData, page: int, pages: int) -> None:
    c.setFont(REGULAR, SMALL)
    c.setFillColor(_colour("#444444"))
    record = "-" if data.record_index is None else data.record_index
    c.drawString(LEFT, BOTTOM - 4, f"Certificate No. {data.certificate_number} · serial {data.serial} · "
                                   f"page {page} of {pages}")
    c.drawString(LEFT, BOTTOM - 4 - LINE, f"store record {record} · reference {data.reference_id or '-'} · "
                                          f"mpo-bench {data.software_version}")


def _plan(data: CertificateData) -> list[list[tuple[float, Block]]]:
    """Blocks placed on pages: [(top y, block), ...] per page."""
    pages: list[list[tuple[float, Block]]] = [[]]
    body_top = PAGE_H - TOP - HEADER_H
    y = body_top

    def room() -> float:
        return y - (BOTTOM + FOOTER_H)

    def place(block: Block | None) -> None:
        nonlocal y
        if block is None or block.height > room():
            pages.append([])
            y = body_top
        if block is not None:
            pages[-1].append((y, block))
            y -= block.height

    _, method = _label_rows(data)
    budget = _budget_block(data)
    for block in (_item_block(data), _suspect_block(data), _heading("Test method"), _text_rows(method, WIDTH),
                  budget and _heading("Uncertainty budget (GUM, JCGM 100:2008; contributions uncorrelated)"),
                  budget, _result_block(data)):
        if block is not None:
            place(block)
    if data.fibers:
        place(_chart_block(data))
        place(_heading("Results per fiber (IL, limit and margin in dB; end B: where the fiber's light arrived)"))
        for chunk in _fiber_table_blocks(data, room):
            place(chunk)
    else:
        place(_note_block("No per-fiber results: the measurement did not complete."))
    place(_heading("Instruments"))
    place(_instrument_block(data))
    place(_approval_block(data))
    return pages


def render_certificate(data: CertificateData) -> bytes:
    """The certificate as PDF bytes."""
    from reportlab import rl_config
    from reportlab.pdfgen.canvas import Canvas

    _register_fonts()
    buffer = io.BytesIO()
    # Binary streams (no ASCII85): the PDF is smaller and ~25 % quicker to write.
    rl_config.useA85 = 0
    canvas = Canvas(buffer, pagesize=(PAGE_W, PAGE_H), invariant=1, pageCompression=1)
    canvas.setTitle(f"Insertion-loss test certificate {data.certificate_number}")
    canvas.setSubject(f"{data.product}, serial {data.serial}")
    canvas.setAuthor(data.issuer.issuer or "mpo-bench")
    canvas.setCreator(f"mpo-bench {data.software_version}")
    plan = _plan(data)
    for number, placed in enumerate(plan, start=1):
        _header(canvas, data, number, len(plan))
        for top, block in placed:
            block.draw(canvas, top)
        _footer(canvas, data, number, len(plan))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def open_certificate_file(data: CertificateData, *, path: str | Path | None = None,
                          directory: str | Path | None = None) -> tuple[Path, Any]:
    """Create (never overwrite) the certificate's file and return it open for binary writing.

    Give `path` for an exact file (refused if it exists), or `directory` to get
    `<serial>_attempt<n>.pdf` there, the serial made file-name safe and the name made unique.
    """
    if (path is None) == (directory is None):
        raise ValueError("give exactly one of path or directory")
    if path is not None:
        target = Path(path)
        try:
            return target, open(target, "xb")  # noqa: SIM115 - the caller closes it
        except FileExistsError:
            raise BenchError(f"{target} exists already; choose another --out path or delete the old file") from None
        except OSError as error:
            raise BenchError(f"cannot create {target} ({error.strerror}); check the folder exists "
                             "and is writable") from None
    stem = f"{safe_file_stem(data.serial)}_attempt{data.attempt}"
    try:
        return create_exclusive(directory, stem, ".pdf")  # type: ignore[arg-type]
    except OSError as error:
        raise BenchError(f"cannot create a certificate in {directory} ({error}); check the folder "
                         "is writable") from None


def write_certificate(data: CertificateData, *, path: str | Path | None = None,
                      directory: str | Path | None = None) -> Path:
    """Write the certificate PDF now and return its path; never overwrites a file (see open_certificate_file)."""
    target, handle = open_certificate_file(data, path=path, directory=directory)
    with handle:
        handle.write(render_certificate(data))
    return target
