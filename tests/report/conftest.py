"""Fixtures for the certificate and lot-report tests: a lot tested on a station that names its issuer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.operator.line import LineResult
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from tests.cli.conftest import FAILING, LOT, RECIPE, STATION, tested_lot  # noqa: F401 - the shared lot fixture

ISSUER_TABLE = '''
[certificate]
issuer = "Example Optics Ltd., Test Laboratory"
address = ["1 Fiber Way", "Example City"]
contact = "qa@example.invalid"
approved_by = "J. Smith"
approver_title = "Quality Manager"
'''


def station_with_issuer(folder: Path) -> Path:
    """The demo station file with a [certificate] table appended."""
    path = folder / "station_issuer.toml"
    path.write_text(example_path("station_demo.toml").read_text(encoding="utf-8") + ISSUER_TABLE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def issued_lot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[LineResult]]:
    """(store, station file, results): 6 cables (2 seeded to fail) with queued certificates."""
    folder = tmp_path_factory.mktemp("issued")
    station = station_with_issuer(folder)
    serials = [f"MTP12-{n:06d}" for n in range(1, 7)]
    with open_virtual_line_bench(station, RECIPE, operator="line-op", lot=LOT, store=folder / "lot.h5",
                                 certificate_dir=folder / "certificates",
                                 sim=SimOptions(fail_serials=FAILING, seed=7)) as bench:
        bench.take_reference()
        results = [bench.test(serial) for serial in serials]
    return folder / "lot.h5", station, results


__all__ = ["FAILING", "LOT", "RECIPE", "STATION", "issued_lot", "station_with_issuer", "tested_lot"]
