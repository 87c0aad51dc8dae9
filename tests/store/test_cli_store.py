"""`bench verify / export / query` through argparse, as bench.cli.main wires them."""

from __future__ import annotations

import argparse
import json

import h5py
import pytest
from store_fakes import fake_cable

from bench.cli import store as cli_store
from bench.store import ResultStore


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    cli_store.add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as s:
        for i in range(3):
            s.append_cable(fake_cable(serial=f"SN{i}", lot="L1", seed=i, outcome="FAIL" if i == 2 else None))
    return str(path)


def test_verify_ok_then_tampered(store, capsys):
    assert run(["verify", store]) == 0
    assert "OK" in capsys.readouterr().out
    with h5py.File(store, "r+") as f:
        row = f["fibers"][3]
        row["insertion_loss_db"] = 0.0
        f["fibers"][3] = row
    assert run(["verify", store, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["bad"][0]["serial"] == "SN0"


def test_verify_missing_file_is_an_error(tmp_path, capsys):
    assert run(["verify", str(tmp_path / "nope.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_query_table_and_json(store, capsys):
    assert run(["query", store, "--outcome", "FAIL"]) == 0
    out = capsys.readouterr().out
    assert "SN2" in out and "SN0" not in out and "FAIL 1" in out
    assert run(["query", store, "--lot", "L1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["serial"] for c in doc["cables"]] == ["SN0", "SN1", "SN2"]


def test_export_csv_and_json(store, tmp_path, capsys):
    assert run(["export", store, "--csv", str(tmp_path / "o.csv"), "--serial", "SN1"]) == 0
    assert (tmp_path / "o.csv").read_text().count("\n") == 25
    assert run(["export", store, "--json", str(tmp_path / "o.json"), "--since", "2024-01-01"]) == 0
    assert len(json.loads((tmp_path / "o.json").read_text())["cables"]) == 3


def test_export_needs_a_target(store):
    with pytest.raises(SystemExit):
        run(["export", store])
