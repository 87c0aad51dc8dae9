"""Per-cable test certificate (PDF): what was tested, how, against which limits, with what result.

Content, in page order: product and recipe, serial, lot, attempt, date,
station, operator, reference method (date, cords), decision rule, polarity
required and found, the verdict in a coloured box with its reasons, a bar
chart of IL per fiber and wavelength against the limit, and the per-fiber
table (IL, limit and margin per wavelength, verdict). The footer names the
instruments with their calibration due dates and the software version.

Input is a stored `CableRecord` (and its `ReferenceRecord` when available):
`certificate_from_store()` reads both from a results file.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config.cable_fit import setup_rows
from bench.config.decision_rule import DecisionRule
from bench.errors import BenchError
from bench.records import CableRecord, FiberResult, Outcome, ReferenceRecord
from bench.report.files import create_exclusive, safe_file_stem
from bench.report.style import (
    A4_PORTRAIT,
    VERDICT_COLOURS,
    new_figure,
    pdf_pages,
    text_block,
)
from bench.store import load_references, load_results

FIBER_ROWS_FIRST_PAGE = 16
FIBER_ROWS_NEXT_PAGES = 40


def _utc_text(stamp: str) -> str:
    """'2026-05-01T12:34:56.123456Z' → '2026-05-01 12:34:56 UTC' (unchanged if it does not parse)."""
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class FiberRow:
    """One fiber position with its readings at every wavelength (NaN where none)."""

    fiber_position: int
    insertion_loss_db: tuple[float, ...]
    limit_db: tuple[float, ...]
    margin_db: tuple[float, ...]
    verdicts: tuple[str, ...]

    @property
    def verdict(self) -> str:
        for worst in (Outcome.ERROR, Outcome.FAIL, Outcome.CONDITIONAL):
            if worst in self.verdicts:
                return worst
        return Outcome.PASS if self.verdicts else ""


@dataclass(frozen=True)
class CertificateData:
    """Everything a certificate shows, as plain values."""

    serial: str
    product: str
    recipe_name: str
    lot: str
    attempt: int
    date_utc: str
    station_name: str
    operator: str
    software_version: str
    outcome: str
    reason: str
    polarity_required: str
    polarity_found: str
    decision_rule: str
    reference_method: str
    reference_taken_utc: str
    reference_cords: tuple[str, ...]
    reference_id: str
    wavelengths_nm: tuple[float, ...]
    fibers: tuple[FiberRow, ...]
    cable_description: str = ""
    instruments: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    record_index: int | None = None
    test_setup: tuple[tuple[str, str], ...] = ()  # launch condition, polish, cords (bench.config.cable_fit)

    @property
    def failing_fibers(self) -> list[int]:
        return [row.fiber_position for row in self.fibers if row.verdict not in (Outcome.PASS, "")]

    @classmethod
    def from_record(cls, record: CableRecord, reference: ReferenceRecord | None = None,
                    record_index: int | None = None) -> CertificateData:
        snapshot = record.recipe_snapshot or {}
        wavelengths = tuple(float(w) for w in record.wavelengths_nm)
        try:
            rule = DecisionRule(record.decision_rule, record.uncertainty_db, record.coverage_factor).describe()
        except ValueError:
            rule = record.decision_rule
        cable_bits = [f"{snapshot['fiber_count']} fibers" if snapshot.get("fiber_count") else "",
                      f"{snapshot.get('fiber_type', '')}".strip(),
                      f"{snapshot.get('connector_a', '')} / {snapshot.get('connector_b', '')}"
                      if snapshot.get("connector_a") else "",
                      f"{snapshot['length_m']:g} m" if isinstance(snapshot.get("length_m"), int | float) else "",
                      snapshot.get("cable_type", "")]
        return cls(
            serial=record.serial, product=str(snapshot.get("product", record.recipe_name)),
            recipe_name=record.recipe_name, lot=record.lot, attempt=record.attempt,
            date_utc=_utc_text(record.finished_utc or record.started_utc), station_name=record.station_name,
            operator=record.operator, software_version=record.software_version, outcome=record.outcome,
            reason=record.reason,
            polarity_required=str(snapshot.get("polarity", "")),
            polarity_found=record.polarity_found, decision_rule=rule,
            reference_method=reference.method if reference else "(reference record not found)",
            reference_taken_utc=_utc_text(reference.taken_utc) if reference else "",
            reference_cords=tuple(reference.cord_ids) if reference else (),
            reference_id=record.reference_id, wavelengths_nm=wavelengths,
            fibers=fiber_rows(record.fibers, wavelengths),
            cable_description=", ".join(bit for bit in cable_bits if bit),
            instruments=tuple(record.instruments), record_index=record_index,
            test_setup=tuple(setup_rows((record.extra or {}).get("cable_setup"))))


def fiber_rows(fibers: Sequence[FiberResult], wavelengths_nm: Sequence[float]) -> tuple[FiberRow, ...]:
    """Group per-(fiber, wavelength) results into one row per fiber, wavelengths in the given order."""
    by_position: dict[int, dict[float, FiberResult]] = {}
    for fiber in fibers:
        by_position.setdefault(int(fiber.fiber_position), {})[float(fiber.wavelength_nm)] = fiber
    rows = []
    for position in sorted(by_position):
        cells = [by_position[position].get(float(w)) for w in wavelengths_nm]
        rows.append(FiberRow(
            position,
            tuple(c.insertion_loss_db if c else math.nan for c in cells),
            tuple(c.limit_db if c else math.nan for c in cells),
            tuple(c.margin_db if c else math.nan for c in cells),
            tuple(c.verdict if c else "" for c in cells)))
    return tuple(rows)


# --------------------------------------------------------------------------- drawing


def _number(value: float, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "no light" if not signed else "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _table_rows(data: CertificateData, rows: Sequence[FiberRow]) -> tuple[list[str], list[list[str]]]:
    header = ["Fiber"]
    for w in data.wavelengths_nm:
        header += [f"IL {w:g} nm", "limit", "margin"]
    header.append("Verdict")
    body = []
    for row in rows:
        cells = [str(row.fiber_position)]
        for il, limit, margin in zip(row.insertion_loss_db, row.limit_db, row.margin_db, strict=True):
            cells += [_number(il), _number(limit), _number(margin, signed=True)]
        cells.append(row.verdict)
        body.append(cells)
    return header, body


def _draw_table(ax: Any, data: CertificateData, rows: Sequence[FiberRow]) -> None:
    header, body = _table_rows(data, rows)
    ax.axis("off")
    table = ax.table(cellText=body, colLabels=header, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.scale(1.0, 1.25)
    for (row, column), cell in table.get_celld().items():
        cell.set_linewidth(0.4)
        if row == 0:
            cell.set_facecolor("#dfe6ee")
            cell.set_text_props(weight="bold")
            continue
        fiber = rows[row - 1]
        if column == len(header) - 1:
            cell.set_facecolor(VERDICT_COLOURS.get(fiber.verdict, ("#ffffff", "#000000"))[0] + "40")
        elif column > 0 and (column - 1) % 3 == 2:  # margin column
            margin = fiber.margin_db[(column - 1) // 3]
            if math.isfinite(margin) and margin < 0:
                cell.set_text_props(color="#b00020", weight="bold")


def _draw_chart(ax: Any, data: CertificateData) -> None:
    import numpy as np

    positions = [row.fiber_position for row in data.fibers]
    n_wl = max(len(data.wavelengths_nm), 1)
    width = 0.8 / n_wl
    x = np.arange(len(positions))
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    for w_index, wavelength in enumerate(data.wavelengths_nm):
        values = np.array([row.insertion_loss_db[w_index] for row in data.fibers], dtype=float)
        failing = [row.verdicts[w_index] not in (Outcome.PASS, "") for row in data.fibers]
        bars = ax.bar(x + (w_index - (n_wl - 1) / 2) * width, np.nan_to_num(values, nan=0.0), width,
                      label=f"{wavelength:g} nm", color=colours[w_index % len(colours)])
        for bar, bad, value in zip(bars, failing, values, strict=True):
            if bad:
                bar.set_edgecolor("#b00020")
                bar.set_linewidth(1.5)
                bar.set_hatch("///")
            if not math.isfinite(value):
                ax.annotate("no light", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom",
                            fontsize=6, rotation=90, color="#b00020")
    limits = sorted({round(v, 6) for row in data.fibers for v in row.limit_db if math.isfinite(v)})
    for limit in limits:
        ax.axhline(limit, color="#b00020", linestyle="--", linewidth=1)
        ax.annotate(f"limit {limit:.3f} dB", (1.0, limit), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=7, color="#b00020")
    ax.set_xticks(x, [str(p) for p in positions], fontsize=7)
    ax.set_xlabel("fiber position", fontsize=8)
    ax.set_ylabel("insertion loss (dB)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    top = max([*limits, *(v for row in data.fibers for v in row.insertion_loss_db if math.isfinite(v))], default=1)
    ax.set_ylim(min(0.0, min((v for row in data.fibers for v in row.insertion_loss_db if math.isfinite(v)),
                             default=0.0)), top * 1.18)
    ax.legend(fontsize=7, loc="upper left", ncols=n_wl, frameon=False)
    ax.grid(axis="y", linewidth=0.3)
    ax.set_title("Insertion loss per fiber", fontsize=9, loc="left")


def _header(fig: Any, data: CertificateData, page: int, pages: int) -> None:
    fig.text(0.06, 0.965, "Insertion-loss test certificate", fontsize=16, weight="bold", va="top")
    fig.text(0.06, 0.938, data.product, fontsize=10, va="top")
    fig.text(0.94, 0.965, f"page {page} of {pages}", fontsize=7, ha="right", va="top", color="#555555")
    fig.text(0.94, 0.950, f"serial {data.serial}", fontsize=7, ha="right", va="top", color="#555555")


def _footer(fig: Any, data: CertificateData) -> None:
    instruments = "; ".join(
        f"{i.get('name', '')}: {i.get('manufacturer', '')} {i.get('model', '')} s/n {i.get('serial_number', '')}"
        + (f", cal. due {i['calibration_due']}" if i.get("calibration_due") else "")
        for i in data.instruments)
    lines = textwrap.wrap(f"Instruments: {instruments or 'not recorded'}", 135)
    record = "-" if data.record_index is None else data.record_index
    lines.append(f"mpo-bench {data.software_version} · record {record} · reference {data.reference_id or '-'}")
    fig.text(0.06, 0.02, "\n".join(lines), fontsize=6, color="#555555", va="bottom", family="monospace")


def certificate_figures(data: CertificateData) -> list[Any]:
    """The certificate's pages as matplotlib Figures (A4 portrait)."""
    first_rows = list(data.fibers[:FIBER_ROWS_FIRST_PAGE])
    rest = list(data.fibers[FIBER_ROWS_FIRST_PAGE:])
    chunks = [rest[i:i + FIBER_ROWS_NEXT_PAGES] for i in range(0, len(rest), FIBER_ROWS_NEXT_PAGES)]
    pages = 1 + len(chunks)

    fig = new_figure(A4_PORTRAIT)
    _header(fig, data, 1, pages)
    details = [
        ("Serial number", data.serial),
        ("Product", data.recipe_name),
        ("Cable", data.cable_description),
        ("Lot", data.lot),
        ("Test date", data.date_utc),
        ("Attempt", str(data.attempt)),
        ("Station", data.station_name),
        ("Operator", data.operator),
        ("Reference method", data.reference_method
         + (f", taken {data.reference_taken_utc}" if data.reference_taken_utc else "")),
        ("Reference cords", ", ".join(data.reference_cords) or "-"),
        ("Wavelengths", ", ".join(f"{w:g} nm" for w in data.wavelengths_nm)),
        ("Decision rule", data.decision_rule),
        ("Polarity", f"found {data.polarity_found or 'not determined'}"
         + (f", required {data.polarity_required}" if data.polarity_required else "")),
        *data.test_setup,
    ]
    # The block ends above the result line (y 0.665) however many setup rows a record has.
    text_block(fig, 0.06, 0.905, details, label_width=0.17, size=8.5, line=min(0.0175, 0.225 / len(details)))

    colour, ink = VERDICT_COLOURS.get(data.outcome, ("#777777", "#ffffff"))
    box = fig.add_axes((0.66, 0.745, 0.28, 0.155))
    box.set_xticks([])
    box.set_yticks([])
    box.set_facecolor(colour)
    for spine in box.spines.values():
        spine.set_visible(False)
    box.text(0.5, 0.60, data.outcome, fontsize=30 if len(data.outcome) <= 7 else 17, weight="bold", color=ink,
             ha="center", va="center", transform=box.transAxes)
    failing = data.failing_fibers
    box.text(0.5, 0.22, ("failing fibers: " + ", ".join(map(str, failing))) if failing else
             ("all fibers within limits" if data.outcome == Outcome.PASS else ""),
             fontsize=8, color=ink, ha="center", va="center", transform=box.transAxes, wrap=True)

    reason_lines = textwrap.wrap(f"Result: {data.reason}", 125)
    if len(reason_lines) > 3:
        reason_lines = [*reason_lines[:2], reason_lines[2][:110] + " ..."]
    fig.text(0.06, 0.665, "\n".join(reason_lines), fontsize=7.5, va="top")

    if data.fibers:
        chart = fig.add_axes((0.10, 0.425, 0.84, 0.170))
        _draw_chart(chart, data)
        table_ax = fig.add_axes((0.06, 0.06, 0.88, 0.33))
        _draw_table(table_ax, data, first_rows)
    else:
        fig.text(0.5, 0.45, "No per-fiber results: the measurement did not complete.", ha="center", fontsize=11)
    _footer(fig, data)
    figures = [fig]
    for number, chunk in enumerate(chunks, start=2):
        page = new_figure(A4_PORTRAIT)
        _header(page, data, number, pages)
        table_ax = page.add_axes((0.06, 0.06, 0.88, 0.84))
        _draw_table(table_ax, data, chunk)
        _footer(page, data)
        figures.append(page)
    return figures


def write_certificate(data: CertificateData, *, path: str | Path | None = None,
                      directory: str | Path | None = None) -> Path:
    """Write the certificate PDF and return its path; never overwrites a file.

    Give `path` for an exact file (refused if it exists), or `directory` to get
    `<serial>_attempt<n>.pdf` there, the serial made file-name safe and the
    name made unique.
    """
    if (path is None) == (directory is None):
        raise ValueError("give exactly one of path or directory")
    if path is not None:
        target = Path(path)
        try:
            handle = open(target, "xb")  # noqa: SIM115
        except FileExistsError:
            raise BenchError(f"{target} exists already; choose another --out path or delete the old file") from None
        except OSError as error:
            raise BenchError(f"cannot create {target} ({error.strerror}); check the folder exists "
                             "and is writable") from None
    else:
        stem = f"{safe_file_stem(data.serial)}_attempt{data.attempt}"
        try:
            target, handle = create_exclusive(directory, stem, ".pdf")  # type: ignore[arg-type]
        except OSError as error:
            raise BenchError(f"cannot create a certificate in {directory} ({error}); check the folder "
                             "is writable") from None
    with handle, pdf_pages(handle, title=f"IL certificate {data.serial}", subject=data.product) as pdf:
        for figure in certificate_figures(data):
            pdf.savefig(figure)
    return target


def certificate_from_store(store_path: str | Path, serial: str, *, attempt: int | None = None) -> CertificateData:
    """CertificateData of a cable's latest (or given) attempt that has per-fiber results."""
    path = Path(store_path)
    if not path.exists():
        raise BenchError(f"{path}: no such results file; give the .h5 file the bench wrote")
    results = load_results(path, serial=serial)
    if len(results) == 0:
        raise BenchError(f"{path}: no record of serial '{serial}'; check the serial (bench query {path} lists them)")
    rows = results.cables
    if attempt is not None:
        rows = rows[rows["attempt"] == attempt]
        if len(rows) == 0:
            raise BenchError(f"{path}: serial '{serial}' has no attempt {attempt}; "
                             f"its attempts are {sorted(set(results.cables['attempt'].tolist()))}")
    measured = rows[rows["n_fibers"] > 0]
    if len(measured) == 0:
        outcome = str(rows["outcome"][-1])
        raise BenchError(f"serial '{serial}' has no measured attempt (last outcome {outcome}); "
                         "retest the cable to get a certificate")
    record_index = int(measured["record_index"][-1])
    record = results.cable_record(record_index)
    reference = next((r for r in load_references(path) if r.reference_id == record.reference_id), None)
    return CertificateData.from_record(record, reference, record_index)
