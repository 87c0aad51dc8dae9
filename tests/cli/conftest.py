"""Fixtures for the CLI, line and report tests: the shipped demo station and recipe, a small tested lot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.operator.line import LineResult
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench

REPO = Path(__file__).resolve().parents[2]
STATION = str(example_path("station_demo.toml"))
RECIPE = str(example_path("recipe_demo.toml"))
LOT = "LOT-CLI-1"
FAILING = ("MTP12-000003", "MTP12-000006")


def child_env() -> dict[str, str]:
    """Environment for `python -m bench.cli` children: the repo importable, no colour surprises."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TERM", "xterm")
    env.pop("NO_COLOR", None)
    return env


def bench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *args]


@pytest.fixture(scope="module")
def tested_lot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LineResult]]:
    """A store holding one lot of 8 cables (2 seeded to fail), tested through the line API."""
    folder = tmp_path_factory.mktemp("lot")
    store = folder / "lot.h5"
    serials = [f"MTP12-{n:06d}" for n in range(1, 9)]
    with open_virtual_line_bench(STATION, RECIPE, operator="line-op", lot=LOT, store=store,
                                 sim=SimOptions(fail_serials=FAILING, seed=7)) as bench:
        bench.take_reference()
        results = [bench.test(serial) for serial in serials]
    return store, results
