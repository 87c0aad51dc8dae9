"""`bench lot-stats`: parsing, table and JSON output, errors; through the real store when it exists."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from lot_sim import simulate_lot

from bench import cli_grading
from bench.errors import StoreError
from bench.recipe import load_recipe

DEMO = Path(__file__).resolve().parents[2] / "bench" / "examples" / "recipe_demo.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench")
    cli_grading.add_subcommands(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture
def fake_store(monkeypatch):
    fibers, cables = simulate_lot(load_recipe(DEMO), 20, (0.30, 0.20), (0.08, 0.06), lot="LOT-7").tables()
    calls = []

    def load(path, lot):
        calls.append((path, lot))
        if lot != "LOT-7":
            return SimpleNamespace(fibers=fibers[:0], cables=cables[:0])
        return SimpleNamespace(fibers=fibers, cables=cables)

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
