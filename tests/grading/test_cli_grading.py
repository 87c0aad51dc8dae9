"""`bench lot-stats`: parsing, table and JSON output, errors; through the real store when it exists."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from lot_sim import simulate_lot

from bench.cli import grading as cli_grading
from bench.config.recipe import load_recipe
from bench.config.station import load_station
from bench.errors import StoreError
from bench.grading.uncertainty import with_budget

DEMO = Path(__file__).resolve().parents[2] / "bench" / "examples" / "recipe_demo.toml"


def _demo_recipe():
    """The demo recipe with the U the demo station's uncertainty budget gives it."""
    return with_budget(load_station(DEMO.with_name("station_demo.toml")), load_recipe(DEMO))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench")
    cli_grading.add_subcommands(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture
def fake_store(monkeypatch):
    fibers, cables = simulate_lot(_demo_recipe(), 20, (0.30, 0.20), (0.08, 0.06), lot="LOT-7").tables()
    calls = []

    def load(path, lot):
        calls.append((path, lot))
        if lot != "LOT-7":
            return SimpleNamespace(fibers=fibers[:0], cables=cables[:0], suspect={})
        return SimpleNamespace(fibers=fibers, cables=cables, suspect={})

    monkeypatch.setattr(cli_grading, "_load_results", load)
    return calls


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def test_lot_stats_prints_the_table_and_grade(fake_store, capsys):
    assert _run(["lot-stats", "results.h5", "--lot", "LOT-7"]) == 0
    out = capsys.readouterr().out
    assert fake_store == [("results.h5", "LOT-7")]
    assert "Lot LOT-7" in out and "Yield: 100.0 %" in out
    assert "IEC 61753-1 grade (SM, IL / 1 connection(s)): D" in out


def test_lot_stats_json(fake_store, capsys):
    assert _run(["lot-stats", "results.h5", "--lot", "LOT-7", "--json", "--connections", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lot"] == "LOT-7" and data["n_cables"] == 20
    assert data["iec_61753_1"]["connections_per_reading"] == 2
    assert {row["wavelength_nm"] for row in data["per_wavelength"]} == {1310.0, 1550.0}


def test_unknown_lot_is_an_error(fake_store, capsys):
    assert _run(["lot-stats", "results.h5", "--lot", "LOT-8"]) == 2
    assert "no records for lot 'LOT-8'" in capsys.readouterr().err


def test_store_errors_become_exit_code_2(monkeypatch, capsys):
    def refuse(path, lot):
        raise StoreError("results.h5 has a newer schema")

    monkeypatch.setattr(cli_grading, "_load_results", refuse)
    assert _run(["lot-stats", "results.h5", "--lot", "X"]) == 2
    assert "newer schema" in capsys.readouterr().err


def test_lot_is_required():
    with pytest.raises(SystemExit):
        _parser().parse_args(["lot-stats", "results.h5"])


def test_missing_file_is_an_error(tmp_path, capsys):
    store = pytest.importorskip("bench.store")
    if not hasattr(store, "load_results"):
        pytest.skip("bench.store.load_results not there yet")
    assert _run(["lot-stats", str(tmp_path / "nope.h5"), "--lot", "X"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# ---------------------------------------------------------------- through the real HDF5 store


def _store_lot(path: Path, recipe, lot: str, n_cables: int, seed: int) -> None:
    store_module = pytest.importorskip("bench.store")
    from bench.grading.cable import grade_cable
    from bench.records import CableRecord, FiberResult

    rng = np.random.default_rng(seed)
    n_wl, n_fibers = len(recipe.wavelengths_nm), recipe.fiber_count
    with store_module.ResultStore(path, fsync=False) as store:
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
    store = pytest.importorskip("bench.store")
    if not hasattr(store, "ResultStore"):
        pytest.skip("bench.store.ResultStore not there yet")
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
