"""CSV and JSON export of query results (same filters as load_results)."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from bench.store.reader import CABLE_COLUMNS, FIBER_COLUMNS, LoadedResults, load_results

# Cable columns repeated on every CSV row so one flat file answers "which
# cable, which test, which station" without a join.
CSV_CABLE_COLUMNS = (
    "serial", "lot", "attempt", "kind", "recipe_name", "station_name", "operator", "software_version",
    "started_utc", "finished_utc", "outcome", "decision_rule", "uncertainty_db", "coverage_factor",
    "reference_id", "polarity_found", "sha256",
)  # fmt: skip
CSV_FIBER_COLUMNS = tuple(c for c in FIBER_COLUMNS if c not in ("serial", "lot"))


def _plain(value: Any) -> Any:
    """Python value for JSON: numpy scalars unwrapped, NaN/inf as null (strict JSON has none)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_nested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_nested(v) for v in value]
    return _plain(value)


def export_csv(path: str | os.PathLike[str], out_path: str | os.PathLike[str], **filters: Any) -> int:
    """One CSV row per fiber x wavelength with its cable's provenance, one bare row per attempt
    without fibers (ABORTED); returns the row count.

    Floats are written with full precision (repr); NaN stays "nan" so a value
    below the meter floor is not mistaken for zero.
    """
    return write_csv(load_results(path, **filters), out_path)


def write_csv(res: LoadedResults, out_path: str | os.PathLike[str]) -> int:
    """export_csv for results already loaded (the CLI warns about res.unreadable itself)."""
    by_index = {int(r): k for k, r in enumerate(res.cables["record_index"])}
    suspect = res.suspect  # SUSPECT marks appended after the record (bench.store.annotations)
    header = ["record_index", *CSV_CABLE_COLUMNS, *CSV_FIBER_COLUMNS[1:], "suspect"]
    with open(out_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        cable_values = [res.cables[c].tolist() for c in CSV_CABLE_COLUMNS]
        fiber_values = [res.fibers[c].tolist() for c in CSV_FIBER_COLUMNS]
        for k in range(len(res.fibers)):
            cable_pos = by_index[fiber_values[0][k]]
            writer.writerow(
                [fiber_values[0][k], *(col[cable_pos] for col in cable_values), *(col[k] for col in fiber_values[1:]),
                 suspect.get(fiber_values[0][k], "")]
            )
        # An attempt without fiber rows (ABORTED, or an ERROR before any reading) is still an attempt:
        # one row with its cable columns and the fiber columns empty.
        with_fibers = set(fiber_values[0])
        bare = [(index, pos) for index, pos in by_index.items() if index not in with_fibers]
        for index, cable_pos in bare:
            writer.writerow([index, *(col[cable_pos] for col in cable_values), *([""] * (len(CSV_FIBER_COLUMNS) - 1))])
    return len(res.fibers) + len(bare)


def cable_documents(res: LoadedResults, with_power_matrix: bool = True) -> Iterable[dict[str, Any]]:
    """One JSON-ready dict per cable: every column, fibers, blobs and (optionally) the power matrix."""
    fiber_lists: dict[int, list[dict[str, Any]]] = {}
    fiber_columns = [c for c in FIBER_COLUMNS if c not in ("record_index", "serial", "lot")]
    columns = {c: res.fibers[c].tolist() for c in fiber_columns}
    for k, index in enumerate(res.fibers["record_index"].tolist()):
        fiber_lists.setdefault(index, []).append({c: _plain(columns[c][k]) for c in fiber_columns})
    notes: dict[int, list[dict[str, Any]]] = {}
    for note in res.annotations:
        notes.setdefault(note.record_index, []).append(note.as_dict())
    suspect = res.suspect
    for row in res.cables:
        index = int(row["record_index"])
        doc = {c: _plain(row[c]) for c in CABLE_COLUMNS}
        doc["suspect"] = suspect.get(index)  # None, or why (bench.store.annotations)
        doc["annotations"] = notes.get(index, [])
        doc["wavelengths_nm"] = res.wavelengths_nm(index)
        doc["recipe_snapshot"] = _plain_nested(res.recipe_snapshot(index))
        doc["instruments"] = _plain_nested(res.instruments(index))
        doc["extra"] = _plain_nested(res.extra(index))
        doc["causes"] = [c.as_dict() for c in res.causes(index)]
        doc["fibers"] = fiber_lists.get(index, [])
        if with_power_matrix:
            doc["power_matrix_dbm"] = _plain_nested(res.power_matrix(index).tolist())
        yield doc


def export_json(path: str | os.PathLike[str], out_path: str | os.PathLike[str], **filters: Any) -> int:
    """A JSON document {"store", "filters", "cables": [...]}; returns the number of cables.

    NaN/inf (below the meter floor) become null, since strict JSON has no NaN.
    """
    return write_json(load_results(path, **filters), out_path, filters)


def write_json(res: LoadedResults, out_path: str | os.PathLike[str], filters: dict[str, Any]) -> int:
    """export_json for results already loaded; records that could not be read are listed under
    "unreadable", so the export itself says it is incomplete."""
    with open(out_path, "w", encoding="utf-8") as fh:
        header = {"store": res.path, "filters": {k: _plain(v) if not isinstance(v, list | tuple) else list(v)
                                                 for k, v in filters.items() if v is not None},
                  "unreadable": [u.as_dict() for u in res.unreadable]}
        fh.write(json.dumps(header)[:-1] + ', "cables": [\n')
        for k, doc in enumerate(cable_documents(res)):
            fh.write((",\n" if k else "") + json.dumps(doc, ensure_ascii=False, allow_nan=False))
        fh.write("\n]}\n")
    return len(res.cables)
