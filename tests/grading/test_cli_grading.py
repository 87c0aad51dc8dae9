"""`bench lot-stats`: parsing, table and JSON output, errors; through a real HDF5 store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.cli import grading as cli_grading
from bench.config.recipe import load_recipe
from bench.config.station import load_station
from bench.grading.uncertainty import with_budget
from bench.store import ResultStore, load_results

DEMO = Path(__file__).resolve().parents[2] / "bench" / "examples" / "recipe_demo.toml"


def _demo_recipe():
    """The demo recipe with the U the demo station's uncertainty budget gives it."""
    return with_budget(load_station(DEMO.with_name("station_demo.toml")), load_recipe(DEMO))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench")
    cli_grading.add_subcommands(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture
def stored_lot(tmp_path: Path) -> Path:
    """A real store: LOT-7 (20 cables, IL ~ N(0.30, 0.08) dB) and 3 cables of another lot."""
    path = tmp_path / "results.h5"
    recipe = _demo_recipe()
    _store_lot(path, recipe, "LOT-7", 20, seed=7)
    _store_lot(path, recipe, "LOT-OTHER", 3, seed=8)
    return path


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def test_lot_stats_prints_the_table_and_grade(stored_lot, capsys):
    assert _run(["lot-stats", str(stored_lot), "--lot", "LOT-7"]) == 0
    out = capsys.readouterr().out
    lot = load_results(stored_lot, lot="LOT-7")
    outcomes = lot.cables["outcome"].tolist()
    assert "Lot LOT-7" in out and "Cables: 20" in out
    assert f"Yield: {100 * outcomes.count('PASS') / len(outcomes):.1f} %" in out
    # IEC 61753-1 SM grades by IL per connection: C needs mean ≤ 0.25 dB, D mean ≤ 0.50 dB and 97 % ≤ 1.00 dB.
    il_db = lot.fibers["insertion_loss_db"]
    assert 0.25 < il_db.mean() <= 0.50 and np.percentile(il_db, 97) <= 1.00
    assert "IEC 61753-1 grade (SM, IL / 1 connection(s)): D" in out


def test_lot_stats_json(stored_lot, capsys):
    assert _run(["lot-stats", str(stored_lot), "--lot", "LOT-7", "--json", "--connections", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lot"] == "LOT-7" and data["n_cables"] == 20  # the other lot's 3 are not counted
    assert data["iec_61753_1"]["connections_per_reading"] == 2
    assert {row["wavelength_nm"] for row in data["per_wavelength"]} == {1310.0, 1550.0}


def test_unknown_lot_is_an_error(stored_lot, capsys):
    assert _run(["lot-stats", str(stored_lot), "--lot", "LOT-8"]) == 2
    assert "no records for lot 'LOT-8'" in capsys.readouterr().err


def test_store_errors_become_exit_code_2(stored_lot, capsys):
    with h5py.File(stored_lot, "a") as f:  # as a newer version of the software would leave it
        f.attrs["schema_version"] = int(f.attrs["schema_version"]) + 1
    assert _run(["lot-stats", str(stored_lot), "--lot", "LOT-7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {stored_lot}") and "newer" in err


def test_lot_is_required():
    with pytest.raises(SystemExit):
        _parser().parse_args(["lot-stats", "results.h5"])


def test_missing_file_is_an_error(tmp_path, capsys):
    assert _run(["lot-stats", str(tmp_path / "nope.h5"), "--lot", "X"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# ---------------------------------------------------------------- through the real HDF5 store


def _store_lot(path: Path, recipe, lot: str, n_cables: int, seed: int) -> None:
    from bench.grading.cable import grade_cable
    from bench.records import CableRecord, FiberResult

    rng = np.random.default_rng(seed)
    n_wl, n_fibers = len(recipe.wavelengths_nm), recipe.fiber_count
    with ResultStore(path, fsync=False) as store:
        for k in range(n_cables):
            il = rng.normal(0.30, 0.08, size=(n_wl, n_fibers))
            verdict = grade_cable(recipe, il, recipe.wavelengths_nm)
            fibers = tuple(
                FiberResult(
                    f.fiber_position,
                    f.wavelength_nm,
                    f.fiber_position,
                    f.fiber_position,
                    -3.0,
                    -3.0 - f.insertion_loss_db,
                    f.insertion_loss_db,
                    f.limit_db,
                    f.margin_db,
                    f.verdict,
                    f.reason,
                )
                for f in verdict.fibers
            )
            rule = recipe.decision_rule
            store.append_cable(
                CableRecord(
                    serial=f"SN-{lot}-{k:04d}",
                    lot=lot,
                    attempt=1,
                    recipe_name=recipe.name,
                    recipe_snapshot=recipe.as_dict(),
                    station_name="test",
                    operator="pytest",
                    software_version="0",
                    started_utc="2026-01-05T10:00:00Z",
                    finished_utc="2026-01-05T10:01:00Z",
                    outcome=verdict.verdict,
                    reason=verdict.reason[:250],
                    decision_rule=rule.kind,
                    uncertainty_db=rule.uncertainty_db,
                    coverage_factor=rule.coverage_factor,
                    reference_id="ref-1",
                    polarity_found=recipe.polarity,
                    instruments=(),
                    wavelengths_nm=recipe.wavelengths_nm,
                    power_matrix_dbm=np.zeros((n_wl, n_fibers, n_fibers)),
                    fibers=fibers,
                )
            )


def test_lot_stats_reads_the_real_store(tmp_path, capsys):
    path = tmp_path / "results.h5"
    _store_lot(path, _demo_recipe(), "LOT-A", 12, seed=1)
    mm = with_budget(load_station(DEMO.with_name("station_mm24.toml")),
                     load_recipe(DEMO.with_name("recipe_mm24_trunk.toml")))
    _store_lot(path, mm, "LOT-MM", 5, seed=2)

    assert _run(["lot-stats", str(path), "--lot", "LOT-A", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_cables"] == 12
    assert data["iec_61753_1"]["fiber_type"] == "SM"
    assert data["per_wavelength"][0]["n"] == 12 * 12

    # the fiber type comes from the stored recipe: an MM lot is not graded against SM grades
    assert _run(["lot-stats", str(path), "--lot", "LOT-MM"]) == 0
    out = capsys.readouterr().out
    assert "Lot LOT-MM" in out and "Cables: 5" in out
    assert "IEC 61753-1 grade (MM, IL / 1 connection(s)): none" in out

    assert _run(["lot-stats", str(path), "--lot", "LOT-Z"]) == 2
