"""Drawing and writing a certificate (ReportLab canvas): A4 pages laid out top-down, every text >= 7 pt.

ReportLab writes the page content directly (no figure model, no rasterising), which makes a
certificate in a few tens of milliseconds where the matplotlib pages took about half a second;
that is what lets the line keep its pace with certificates on (docs/performance.md).

Layout: a plan of blocks (details, method, uncertainty budget, result, chart, fiber table,
instruments, approval; bench.report.certificate_blocks, certificate_chart) is paginated first,
so every page can say "page i of n"; the fiber table splits across pages with its header
repeated, and a heading never ends a page without the block it heads.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.report.certificate import CertificateData
from bench.report.certificate_blocks import (
    approval_block,
    budget_block,
    fiber_table_blocks,
    instrument_block,
    item_block,
    label_rows,
    result_block,
    suspect_block,
)
from bench.report.certificate_chart import chart_block
from bench.report.files import create_exclusive, safe_file_stem
from bench.report.pdf_page import (
    BODY,
    BOLD,
    BOTTOM,
    FOOTER_H,
    HEADER_H,
    LEFT,
    LINE,
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
    heading,
    note_block,
    register_fonts,
    text_rows,
)

# --------------------------------------------------------------------------- pages


def _header(c: Any, data: CertificateData, page: int, pages: int) -> None:
    top = PAGE_H - TOP
    c.setFillColor(colour("#000000"))
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
    c.setStrokeColor(colour("#1f4e79"))
    c.setLineWidth(1.2)
    c.line(LEFT, PAGE_H - TOP - HEADER_H + 6, PAGE_W - RIGHT, PAGE_H - TOP - HEADER_H + 6)


def _footer(c: Any, data: CertificateData, page: int, pages: int) -> None:
    c.setFont(REGULAR, SMALL)
    c.setFillColor(colour("#444444"))
    record = "-" if data.record_index is None else data.record_index
    c.drawString(LEFT, BOTTOM - 4, f"Certificate No. {data.certificate_number} · serial {data.serial} · "
                                   f"page {page} of {pages}")
    c.drawString(LEFT, BOTTOM - 4 - LINE, f"store record {record} · reference {data.reference_id or '-'} · "
                                          f"mpo-bench {data.software_version}")


class _Pages:
    """Blocks placed top-down on pages: [(top y, block), ...] per page."""

    def __init__(self) -> None:
        self.pages: list[list[tuple[float, Block]]] = [[]]
        self.body_top = PAGE_H - TOP - HEADER_H
        self.y = self.body_top

    def room(self) -> float:
        return self.y - (BOTTOM + FOOTER_H)

    def new_page(self) -> None:
        self.pages.append([])
        self.y = self.body_top

    def place(self, block: Block | None) -> None:
        """`block` where it fits (a new page if not); None starts a new page."""
        if block is None or block.height > self.room():
            self.new_page()
        if block is not None:
            self.pages[-1].append((self.y, block))
            self.y -= block.height

    def place_headed(self, title: str, block: Block | None, keep_pt: float = 0.0) -> None:
        """A heading and what it heads (or `keep_pt` of it): never the heading alone at a page's foot."""
        head = heading(title)
        if head.height + (block.height if block is not None else keep_pt) > self.room():
            self.new_page()
        self.place(head)
        if block is not None:
            self.place(block)


def _plan(data: CertificateData) -> list[list[tuple[float, Block]]]:
    """Blocks placed on pages: [(top y, block), ...] per page."""
    plan = _Pages()
    _, method = label_rows(data)
    for block in (item_block(data), suspect_block(data)):
        if block is not None:
            plan.place(block)
    plan.place_headed("Test method", text_rows(method, WIDTH))
    for block in (budget_block(data), result_block(data)):
        if block is not None:
            plan.place(block)
    if data.fibers:
        plan.place(chart_block(data))
        # The table's first chunk is cut to the room left: keep its header and two rows with the heading.
        plan.place_headed("Results per fiber (IL, limit and margin in dB; end B: where the fiber's light arrived)",
                          None, keep_pt=3 * ROW_H + 6)
        for chunk in fiber_table_blocks(data, plan.room):
            plan.place(chunk)
    else:
        plan.place(note_block("No per-fiber results: the measurement did not complete."))
    plan.place_headed("Instruments", instrument_block(data))
    plan.place(approval_block(data))
    return plan.pages


def render_certificate(data: CertificateData) -> bytes:
    """The certificate as PDF bytes."""
    from reportlab import rl_config
    from reportlab.pdfgen.canvas import Canvas

    register_fonts()
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
