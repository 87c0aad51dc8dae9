"""Lot report (PDF or HTML): yield, IL histograms per wavelength, per-position box plots, lot statistics.

The numbers come from `bench.grading.lot_stats.lot_statistics` (the grading issue's
definitions: each serial counts once, by its latest attempt; IL statistics use
each serial's latest trustworthy measurement). The plots draw exactly the rows
those statistics use, so a histogram and its table never disagree.

Just over 400 lines: the PDF and the HTML report share one page plan (blocks, captions,
outlier marks), and keeping both renderers beside that plan is what keeps them saying the same.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.config.cable_fit import setup_rows
from bench.errors import BenchError
from bench.grading.lot_stats import TRUSTED_OUTCOMES, ILStatistics, LotStatistics, lot_statistics
from bench.records import Outcome
from bench.report.style import A4_PORTRAIT, VERDICT_COLOURS, new_figure, pdf_pages, text_block
from bench.store import load_results

STAT_ROWS_PER_PAGE = 44


@dataclass
class LotReportData:
    """A lot as the report shows it."""

    lot: str
    store_path: str
    stats: LotStatistics
    products: tuple[str, ...]
    stations: tuple[str, ...]
    operators: tuple[str, ...]
    first_test_utc: str
    last_test_utc: str
    il_by_wavelength: dict[float, np.ndarray]  # the rows the statistics use, NaN (no light) dropped
    il_by_position: dict[float, dict[int, np.ndarray]]
    limits_by_wavelength: dict[float, tuple[float, ...]]
    not_passing: list[tuple[str, int, str, str]] = field(default_factory=list)  # serial, attempt, outcome, reason
    generated_utc: str = ""
    launch_conditioners: tuple[str, ...] = ()  # multimode EF launch devices the lot was tested with


def _latest_trusted_records(cables: np.ndarray, suspect: Mapping[int, str]) -> set[int]:
    """record_index of each serial's latest PASS/CONDITIONAL/FAIL attempt not SUSPECT (the rows lot_statistics uses)."""
    kinds = cables["kind"] if "kind" in (cables.dtype.names or ()) else np.full(len(cables), "insertion_loss")
    latest: dict[str, tuple[int, int]] = {}
    for row, kind in zip(cables, kinds, strict=True):
        if (kind not in ("insertion_loss", "") or str(row["outcome"]) not in TRUSTED_OUTCOMES
                or int(row["record_index"]) in suspect):
            continue
        key = (int(row["attempt"]), int(row["record_index"]))
        serial = str(row["serial"])
        if serial not in latest or key > latest[serial]:
            latest[serial] = key
    return {index for _, index in latest.values()}


def load_lot_report_data(store_path: str | Path, lot: str, *, fiber_type: str | None = None,
                         connections: int = 1) -> LotReportData:
    """Read a lot from a results file and compute what the report shows."""
    path = Path(store_path)
    if not path.exists():
        raise BenchError(f"{path}: no such results file; give the .h5 file the bench wrote")
    results = load_results(path, lot=lot)
    cables, fibers = results.cables, results.fibers
    if len(cables) == 0:
        raise BenchError(f"{path}: no records for lot '{lot}'; check the lot name (bench query {path} lists them)")
    snapshots = {}
    for name, index in zip(cables["recipe_name"].tolist(), cables["record_index"].tolist(), strict=True):
        if name not in snapshots:
            snapshots[name] = results.recipe_snapshot(int(index))
    if fiber_type is None:
        types = {str(s.get("fiber_type")) for s in snapshots.values() if s.get("fiber_type")}
        if len(types) > 1:
            raise BenchError(f"lot '{lot}' mixes fiber types {sorted(types)}; give --fiber-type SM or MM")
        fiber_type = types.pop() if types else "SM"
    suspect = results.suspect
    stats = lot_statistics(fibers, cables, lot=lot, fiber_type=fiber_type, connections=connections,
                           suspect=suspect)

    chosen = _latest_trusted_records(cables, suspect)
    rows = fibers[np.isin(fibers["record_index"], list(chosen)) & (fibers["verdict"] != Outcome.ERROR)]
    il_by_wavelength: dict[float, np.ndarray] = {}
    il_by_position: dict[float, dict[int, np.ndarray]] = {}
    limits: dict[float, tuple[float, ...]] = {}
    for wavelength in sorted(set(rows["wavelength_nm"].tolist())):
        at = rows[rows["wavelength_nm"] == wavelength]
        values = at["insertion_loss_db"]
        lit = np.isfinite(values)
        il_by_wavelength[wavelength] = values[lit]
        il_by_position[wavelength] = {int(p): at["insertion_loss_db"][(at["fiber_position"] == p) & lit]
                                      for p in sorted(set(at["fiber_position"].tolist()))}
        limits[wavelength] = tuple(sorted({round(float(v), 6) for v in at["limit_db"] if math.isfinite(v)}))

    latest: dict[str, np.void] = {}
    for row in cables:
        serial = str(row["serial"])
        if serial not in latest or (int(row["attempt"]), int(row["record_index"])) > (
                int(latest[serial]["attempt"]), int(latest[serial]["record_index"])):
            latest[serial] = row
    not_passing = sorted(_shown_outcome(r, suspect) for r in latest.values()
                         if str(r["outcome"]) != Outcome.PASS or int(r["record_index"]) in suspect)
    started = sorted(cables["started_utc"].tolist())
    return LotReportData(
        lot=lot, store_path=str(path), stats=stats,
        products=tuple(sorted({str(s.get("product", n)) for n, s in snapshots.items()})),
        stations=tuple(sorted(set(cables["station_name"].tolist()))),
        operators=tuple(sorted(set(cables["operator"].tolist()))),
        first_test_utc=started[0], last_test_utc=started[-1], il_by_wavelength=il_by_wavelength,
        il_by_position=il_by_position, limits_by_wavelength=limits, not_passing=not_passing,
        generated_utc=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        launch_conditioners=_launch_conditioners(results, cables))


def _shown_outcome(row: np.void, suspect: Mapping[int, str]) -> tuple[str, int, str, str]:
    """(serial, attempt, outcome, reason); a SUSPECT record shows as SUSPECT with the check that failed."""
    index = int(row["record_index"])
    if index in suspect:
        return (str(row["serial"]), int(row["attempt"]), "SUSPECT",
                f"stored {row['outcome']}, awaiting retest; {suspect[index]}")
    return str(row["serial"]), int(row["attempt"]), str(row["outcome"]), str(row["reason"])


def _launch_conditioners(results: Any, cables: np.ndarray) -> tuple[str, ...]:
    """Each distinct launch condition of the lot's records, as the certificate words it."""
    seen = set()
    for index in cables["record_index"].tolist():
        for label, value in setup_rows((results.extra(int(index)) or {}).get("cable_setup")):
            if label == "Launch condition":
                seen.add(value)
    return tuple(sorted(seen))


# --------------------------------------------------------------------------- text helpers


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def summary_rows(data: LotReportData) -> list[tuple[str, str]]:
    s = data.stats
    outcomes = ", ".join(f"{name} {count}" for name, count in s.outcomes.items() if count) or "-"
    return [
        ("Lot", data.lot),
        ("Product", "; ".join(data.products)),
        ("Recipe", ", ".join(s.recipe_names)),
        ("Tested", f"{data.first_test_utc[:19].replace('T', ' ')} to {data.last_test_utc[:19].replace('T', ' ')} UTC"),
        ("Stations", ", ".join(data.stations)),
        *([("Launch condition", "; ".join(data.launch_conditioners))] if data.launch_conditioners else []),
        ("Operators", ", ".join(data.operators)),
        ("Cables", f"{s.n_cables} ({s.n_records} test records)"),
        ("Outcomes", outcomes + " (latest attempt per cable)"),
        ("Yield", f"{_pct(s.yield_fraction)}   first-pass yield {_pct(s.first_pass_yield)}"),
        *([("Awaiting retest", f"{len(s.suspect_serials)} SUSPECT (graded before a failed golden check): "
                               + ", ".join(s.suspect_serials))] if s.suspect_serials else []),
        ("IEC 61753-1 grade", f"{s.grade or 'none'} ({s.grade_fiber_type}, IL / {s.grade_connections} "
                              f"connection(s); " + ", ".join(f"{w:g} nm: {g or 'none'}"
                                                           for w, g in s.grade_by_wavelength.items()) + ")"),
    ]


STAT_HEADER = ["λ nm", "pos", "n", "dark", "mean", "σ", "min", "max", "p50", "p95", "p97", "limit", "not PASS", "Cpk"]


def stat_cells(s: ILStatistics) -> list[str]:
    return [f"{s.wavelength_nm:g}", "all" if s.fiber_position is None else str(s.fiber_position), str(s.n),
            str(s.n_no_light), _num(s.mean_db), _num(s.std_db), _num(s.min_db), _num(s.max_db), _num(s.p50_db),
            _num(s.p95_db), _num(s.p97_db), _num(s.limit_db), str(s.n_not_pass),
            "-" if s.cpk is None else f"{s.cpk:.2f}"]


def _stat_rows(stats: LotStatistics) -> list[ILStatistics]:
    rows: list[ILStatistics] = []
    for overall in stats.per_wavelength:
        rows += [s for s in stats.per_position if s.wavelength_nm == overall.wavelength_nm]
        rows.append(overall)
    return rows


# --------------------------------------------------------------------------- figures


def histogram_figure(data: LotReportData, size: tuple[float, float] = A4_PORTRAIT) -> Any:
    fig = new_figure(size)
    wavelengths = list(data.il_by_wavelength)
    fig.suptitle(f"Lot {data.lot}: insertion loss per wavelength (all fibers)", fontsize=12, x=0.06, ha="left")
    for index, wavelength in enumerate(wavelengths or [0.0]):
        ax = fig.add_subplot(max(len(wavelengths), 1), 1, index + 1)
        values = data.il_by_wavelength.get(wavelength, np.zeros(0))
        limits = data.limits_by_wavelength.get(wavelength, ())
        if values.size:
            _histogram(ax, values, min(limits) if limits else None)
        for limit in limits:
            ax.axvline(limit, color="#b00020", linestyle="--", linewidth=1.2)
            ax.annotate(f"limit {limit:.3f} dB", (limit, 1.0), xycoords=("data", "axes fraction"), ha="right",
                        va="top", fontsize=8, color="#b00020", rotation=90)
        stats = next((s for s in data.stats.per_wavelength if s.wavelength_nm == wavelength), None)
        note = (f"n = {values.size}, mean {_num(stats.mean_db)} dB, σ {_num(stats.std_db)} dB, "
                f"p97 {_num(stats.p97_db)} dB, Cpk {'-' if stats.cpk is None else f'{stats.cpk:.2f}'}"
                if stats else "no readings")
        ax.set_title(f"{wavelength:g} nm — {note}", fontsize=9, loc="left")
        ax.set_xlabel("insertion loss (dB)", fontsize=8)
        ax.set_ylabel("fibers (log scale)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(linewidth=0.3)
    fig.subplots_adjust(left=0.1, right=0.95, top=0.92, bottom=0.07, hspace=0.35)
    return fig


def _histogram(ax: Any, values: np.ndarray, limit_db: float | None) -> None:
    """Counts on a log axis, so a single fiber above the limit shows beside hundreds below it;
    the bins above the limit are red and their count is written on the plot."""
    bins = np.histogram_bin_edges(values, bins=min(40, max(8, int(np.sqrt(values.size)) * 2)))
    above = values > limit_db if limit_db is not None else np.zeros(values.size, dtype=bool)
    ax.hist(values[~above], bins=bins, color="#1f77b4", alpha=0.85, label="within limit")
    if above.any():
        ax.hist(values[above], bins=bins, color="#c62828", alpha=0.9, label="above limit")
        ax.annotate(f"{int(above.sum())} above the limit (max {values.max():.3f} dB)", (0.99, 0.70),
                    xycoords="axes fraction", ha="right", fontsize=8, color="#b00020")
    ax.set_yscale("log")
    ax.set_ylim(0.7, None)
    ax.legend(fontsize=7, loc="upper left", frameon=False)


def boxplot_figure(data: LotReportData, size: tuple[float, float] = A4_PORTRAIT) -> Any:
    fig = new_figure(size)
    wavelengths = list(data.il_by_position)
    fig.suptitle(f"Lot {data.lot}: insertion loss per fiber position", fontsize=12, x=0.06, ha="left")
    for index, wavelength in enumerate(wavelengths or [0.0]):
        ax = fig.add_subplot(max(len(wavelengths), 1), 1, index + 1)
        by_position = data.il_by_position.get(wavelength, {})
        positions = list(by_position)
        if positions:
            ax.boxplot([by_position[p] for p in positions], tick_labels=[str(p) for p in positions],
                       widths=0.6, flierprops={"markersize": 3})
        for limit in data.limits_by_wavelength.get(wavelength, ()):
            ax.axhline(limit, color="#b00020", linestyle="--", linewidth=1.2, label=f"limit {limit:.3f} dB")
        if data.limits_by_wavelength.get(wavelength):
            ax.legend(fontsize=7, loc="upper right", frameon=False)
        ax.set_title(f"{wavelength:g} nm", fontsize=9, loc="left")
        ax.set_xlabel("fiber position", fontsize=8)
        ax.set_ylabel("insertion loss (dB)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", linewidth=0.3)
    fig.subplots_adjust(left=0.1, right=0.95, top=0.92, bottom=0.07, hspace=0.35)
    return fig


def _table(ax: Any, header: Sequence[str], body: Sequence[Sequence[str]], font: float = 7.0) -> Any:
    ax.axis("off")
    if not body:
        return None
    table = ax.table(cellText=[list(r) for r in body], colLabels=list(header), loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(font)
    table.scale(1.0, 1.2)
    for (row, _column), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        if row == 0:
            cell.set_facecolor("#dfe6ee")
            cell.set_text_props(weight="bold")
        elif body[row - 1][1] == "all":
            cell.set_facecolor("#f3f3f3")
            cell.set_text_props(weight="bold")
    return table


REASON_WIDTH = 118  # monospace 7 pt characters across the page's text width


def not_passing_lines(data: LotReportData, *, max_lines: int) -> list[str]:
    """Each cable not passing with its reason wrapped under it (never past the right edge)."""
    lines: list[str] = []
    for shown, (serial, attempt, outcome, reason) in enumerate(data.not_passing):
        wrapped = textwrap.wrap(f"{serial}  attempt {attempt}  {outcome}: {reason}", REASON_WIDTH,
                                subsequent_indent="    ", max_lines=3, placeholder=" ...")
        if len(lines) + len(wrapped) > max_lines - 1:
            lines.append(f"... and {len(data.not_passing) - shown} more (bench query --lot {data.lot} "
                         "lists them with their reasons)")
            break
        lines += wrapped
    return lines


def _outcome_bar(fig: Any, outcomes: dict[str, int], y: float) -> None:
    """One segment per outcome, its count written in a legend under the bar (a narrow segment has no room)."""
    from matplotlib.patches import Rectangle

    bar = fig.add_axes((0.06, y, 0.88, 0.03))
    left = 0
    for name, count in outcomes.items():
        if count:
            bar.barh(0, count, left=left, color=VERDICT_COLOURS.get(name, ("#999999", "#000000"))[0])
            left += count
    bar.set_xlim(0, max(left, 1))
    bar.axis("off")
    x = 0.06
    for name, count in outcomes.items():
        if count:
            fig.patches.append(Rectangle((x, y - 0.016), 0.012, 0.009, transform=fig.transFigure,
                                         color=VERDICT_COLOURS.get(name, ("#999999", "#000000"))[0]))
            fig.text(x + 0.016, y - 0.016, f"{name} {count}", fontsize=8, va="bottom")
            x += 0.13


def lot_report_figures(data: LotReportData) -> list[Any]:
    """The report's pages: summary, histograms, box plots, per-position statistics."""
    s = data.stats
    first = new_figure(A4_PORTRAIT)
    first.text(0.06, 0.965, f"Lot report — {data.lot}", fontsize=16, weight="bold", va="top")
    first.text(0.94, 0.965, f"generated {data.generated_utc}", fontsize=7, ha="right", va="top", color="#555555")
    y = text_block(first, 0.06, 0.92, summary_rows(data), label_width=0.18, size=8.5, line=0.019)
    _outcome_bar(first, s.outcomes, y - 0.05)
    first.text(0.06, y - 0.085, "Per-wavelength statistics (dB)", fontsize=10, weight="bold", va="top")
    overall_ax = first.add_axes((0.06, y - 0.105 - 0.03 * (len(s.per_wavelength) + 1), 0.88,
                                 0.03 * (len(s.per_wavelength) + 1)))
    _table(overall_ax, STAT_HEADER, [stat_cells(w) for w in s.per_wavelength])
    top = y - 0.14 - 0.03 * (len(s.per_wavelength) + 1)
    first.text(0.06, top, f"Cables not passing ({len(data.not_passing)})", fontsize=10, weight="bold", va="top")
    room = int((top - 0.025 - 0.05) / 0.0125)  # 7 pt lines that fit above the footer
    lines = not_passing_lines(data, max_lines=room)
    first.text(0.06, top - 0.025, "\n".join(lines) or "none", fontsize=7, va="top", family="monospace")
    first.text(0.06, 0.02, f"results file: {data.store_path}"[:150], fontsize=7, color="#555555")
    figures = [first, histogram_figure(data), boxplot_figure(data)]
    rows = [stat_cells(r) for r in _stat_rows(s)]
    for start in range(0, len(rows), STAT_ROWS_PER_PAGE):
        page = new_figure(A4_PORTRAIT)
        page.text(0.06, 0.965, f"Lot {data.lot}: statistics per fiber position and wavelength (dB)", fontsize=12,
                  weight="bold", va="top")
        chunk = rows[start:start + STAT_ROWS_PER_PAGE]
        ax = page.add_axes((0.06, 0.93 - 0.0195 * (len(chunk) + 1), 0.88, 0.0195 * (len(chunk) + 1)))
        _table(ax, STAT_HEADER, chunk)
        figures.append(page)
    return figures


# --------------------------------------------------------------------------- output


def _png_base64(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr" + (' class="all"' if len(r) > 1 and r[1] == "all" else "") + ">"
                   + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def lot_report_html(data: LotReportData) -> str:
    """A self-contained HTML page (figures embedded as PNG data URIs, every string escaped)."""
    s = data.stats
    summary = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary_rows(data))
    not_passing = (_html_table(["serial", "attempt", "outcome", "reason"],
                               [[a, str(b), c, d] for a, b, c, d in data.not_passing])
                   if data.not_passing else "<p>none</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Lot report {html.escape(data.lot)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }}
th, td {{ border: 1px solid #bbb; padding: 2px 8px; text-align: right; }}
table.summary th, table.summary td {{ text-align: left; }}
thead th {{ background: #dfe6ee; }} tr.all td {{ font-weight: bold; background: #f3f3f3; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>Lot report — {html.escape(data.lot)}</h1>
<p>generated {html.escape(data.generated_utc)} from {html.escape(data.store_path)}</p>
<table class="summary">{summary}</table>
<h2>Per-wavelength statistics (dB)</h2>
{_html_table(STAT_HEADER, [stat_cells(w) for w in s.per_wavelength])}
<h2>Cables not passing</h2>
{not_passing}
<h2>Insertion-loss histograms</h2>
<img alt="IL histograms per wavelength" src="data:image/png;base64,{_png_base64(histogram_figure(data))}">
<h2>Insertion loss per fiber position</h2>
<img alt="IL box plots per fiber position" src="data:image/png;base64,{_png_base64(boxplot_figure(data))}">
<h2>Statistics per fiber position and wavelength (dB)</h2>
{_html_table(STAT_HEADER, [stat_cells(r) for r in _stat_rows(s)])}
</body></html>
"""


def write_lot_report(data: LotReportData, path: str | Path, *, fmt: str | None = None) -> Path:
    """Write the report as PDF or HTML (from `fmt`, else the file extension); never overwrites a file."""
    target = Path(path)
    fmt = (fmt or target.suffix.lstrip(".") or "pdf").lower()
    if fmt == "htm":
        fmt = "html"
    if fmt not in ("pdf", "html"):
        raise BenchError(f"cannot write a '{fmt}' report; name the output .pdf or .html (or give --format)")
    try:
        handle = open(target, "xb")  # noqa: SIM115
    except FileExistsError:
        raise BenchError(f"{target} exists already; choose another --out path or delete the old file") from None
    except OSError as error:
        raise BenchError(f"cannot create {target} ({error.strerror}); "
                         "check the folder exists and is writable") from None
    with handle:
        if fmt == "html":
            handle.write(lot_report_html(data).encode("utf-8"))
        else:
            with pdf_pages(handle, title=f"Lot report {data.lot}", subject=", ".join(data.products)) as pdf:
                for figure in lot_report_figures(data):
                    pdf.savefig(figure)
    return target
