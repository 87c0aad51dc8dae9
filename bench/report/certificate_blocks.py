"""The certificate's blocks of content: the item and verdict, test method, uncertainty budget,
fiber table, instruments and approval, each measured before it is drawn (bench.report.pdf_page)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from bench.records import Outcome
from bench.report.certificate import CertificateData, FiberRow
from bench.report.pdf_page import (
    BASIS_LINE,
    BODY,
    BOLD,
    BOTTOM,
    FOOTER_H,
    HEADER_H,
    LEFT,
    LINE,
    NOT_PASS_EDGE,
    PAGE_H,
    PAGE_W,
    REGULAR,
    RIGHT,
    ROW_H,
    SMALL,
    TOP,
    WIDTH,
    Block,
    colour,
    columns,
    date_text,
    note_block,
    number_text,
    table_block,
    text_rows,
    wrap,
)
from bench.report.style import VERDICT_COLOURS


def label_rows(data: CertificateData) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
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


def item_block(data: CertificateData) -> Block:
    """The item's details on the left, the verdict box on the right."""
    item, _ = label_rows(data)
    rows = text_rows(item, WIDTH - 170)
    box_w, box_h = 160.0, 84.0

    def draw(c: Any, top: float) -> None:
        rows.draw(c, top)
        fill, ink = VERDICT_COLOURS.get(data.outcome, ("#777777", "#ffffff"))
        x = PAGE_W - RIGHT - box_w
        c.setFillColor(colour(fill))
        c.rect(x, top - box_h, box_w, box_h, stroke=0, fill=1)
        c.setFillColor(colour(ink))
        size = 30 if len(data.outcome) <= 7 else 17
        c.setFont(BOLD, size)
        c.drawCentredString(x + box_w / 2, top - 44, data.outcome)
        failing = data.failing_fibers
        note = (("failing fibers: " + ", ".join(map(str, failing))) if failing
                else "all fibers within limits" if data.outcome == Outcome.PASS else "")
        c.setFont(REGULAR, BODY)
        for n, line in enumerate(wrap(note, REGULAR, BODY, box_w - 12)[:3]):
            c.drawCentredString(x + box_w / 2, top - 62 - n * LINE, line)
    return Block(max(rows.height, box_h) + 6, draw)


def result_block(data: CertificateData) -> Block:
    return note_block(f"Result: {data.reason or data.outcome}")


def suspect_block(data: CertificateData) -> Block | None:
    """A SUSPECT record's line, in bold under the verdict: the verdict stands only after a retest."""
    if not data.suspect_text:
        return None
    lines = wrap(data.suspect_text, BOLD, BODY, WIDTH)

    def draw(c: Any, top: float) -> None:
        c.setFont(BOLD, BODY)
        c.setFillColor(colour(VERDICT_COLOURS[Outcome.FAIL][0]))
        for n, line in enumerate(lines):
            c.drawString(LEFT, top - BODY - n * LINE, line)
        c.setFillColor(colour("#000000"))
    return Block(len(lines) * LINE + 6, draw)


def fiber_table_header(data: CertificateData) -> list[str]:
    header = ["Fiber", "end B"]
    for w in data.wavelengths_nm:
        header += [f"IL {w:g} nm (dB)", "limit (dB)", "margin (dB)"]
    return [*header, "Verdict"]


def fiber_table_cells(data: CertificateData, row: FiberRow) -> list[str]:
    cells = [str(row.fiber_position), str(row.end_b_position) if row.end_b_position else "-"]
    for il, limit, margin in zip(row.insertion_loss_db, row.limit_db, row.margin_db, strict=True):
        cells += [number_text(il), number_text(limit), number_text(margin, signed=True)]
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


def fiber_table_blocks(data: CertificateData, room: Callable[[], float]) -> list[Block | None]:
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
        blocks.append(table_block(header, [fiber_table_cells(data, r) for r in chunk], weights,
                                   _fiber_ink(chunk, len(header))))
    return blocks


def budget_block(data: CertificateData) -> Block | None:
    """The uncertainty budget: one row per contribution, its basis wrapped in the widest column.

    The table heads itself (no separate heading) and the basis lines are set at 7 pt on 8.4 pt,
    so a 12-fiber certificate keeps to one page."""
    rows = data.uncertainty_rows()
    if not rows:
        return None
    header = ("Contribution", "Value", "Distribution", "u_i (× c_i)", "Basis (contributions uncorrelated)")
    spans = columns(header, [88, 42, 68, 68, 249])  # points: the numbers' columns as wide as they print
    basis_x, basis_w = spans[-1]
    wrapped = [wrap(row[-1], REGULAR, SMALL, basis_w - 6) for row in rows]
    heights = [ROW_H + (len(lines) - 1) * BASIS_LINE for lines in wrapped]
    height = ROW_H + sum(heights) + 6

    def draw(c: Any, top: float) -> None:
        c.setLineWidth(0.4)
        c.setStrokeColor(colour("#999999"))
        c.setFillColor(colour("#dfe6ee"))
        c.rect(LEFT, top - ROW_H, WIDTH, ROW_H, stroke=0, fill=1)
        c.setFillColor(colour("#000000"))
        c.setFont(BOLD, SMALL)
        for (x, w), text in zip(spans, header, strict=True):
            c.drawCentredString(x + w / 2, top - ROW_H + 3, text)
        y = top - ROW_H
        c.line(LEFT, top, LEFT + WIDTH, top)
        c.line(LEFT, y, LEFT + WIDTH, y)
        c.setFont(REGULAR, SMALL)
        for row, lines, row_h in zip(rows, wrapped, heights, strict=True):
            for (x, w), text in zip(spans[:-1], row[:-1], strict=True):
                c.drawCentredString(x + w / 2, y - ROW_H + 3, text)
            for n, line in enumerate(lines):
                c.drawString(basis_x + 3, y - ROW_H + 3 - n * BASIS_LINE, line)
            y -= row_h
            c.line(LEFT, y, LEFT + WIDTH, y)
    return Block(height, draw)


def instrument_block(data: CertificateData) -> Block:
    header = ["Instrument", "Role", "Manufacturer", "Model", "Serial number", "Firmware", "Calibrated",
              "Calibration due"]
    body = [[str(i.get("name", "")), str(i.get("role", "")) or "-", str(i.get("manufacturer", "")),
             str(i.get("model", "")), str(i.get("serial_number", "")), str(i.get("firmware", ""))[:18],
             date_text(i.get("calibration_date")), date_text(i.get("calibration_due"))] for i in data.instruments]
    if not body:
        body = [["not recorded", "-", "-", "-", "-", "-", "-", "-"]]
    return table_block(header, body, [1.0, 0.7, 1.5, 0.9, 1.2, 1.1, 1.0, 1.1])


def approval_block(data: CertificateData) -> Block:
    issuer = data.issuer
    approver = ", ".join(v for v in (issuer.approved_by, issuer.approver_title) if v) or "________________"
    statement = issuer.statement or ("The results relate only to the cable tested, under the conditions "
                                     "stated. This certificate shall not be reproduced except in full.")
    lines = wrap(statement, REGULAR, BODY, WIDTH - 12)
    height = 45 + len(lines) * LINE

    def draw(c: Any, top: float) -> None:
        c.setStrokeColor(colour("#999999"))
        c.setLineWidth(0.5)
        c.rect(LEFT, top - height + 4, WIDTH, height - 4, stroke=1, fill=0)
        c.setFillColor(colour("#000000"))
        c.setFont(BOLD, BODY)
        c.drawString(LEFT + 6, top - 14, "Approval")
        c.setFont(REGULAR, BODY)
        c.drawString(LEFT + 60, top - 14, f"Tested by: {data.operator} on {data.date_utc}")
        c.drawString(LEFT + 6, top - 27, f"Approved by: {approver}")
        c.drawString(LEFT + WIDTH / 2, top - 27, "Signature: ____________________   Date: ____________")
        for n, line in enumerate(lines):
            c.drawString(LEFT + 6, top - 41 - n * LINE, line)
    return Block(height + 4, draw)
