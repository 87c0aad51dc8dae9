"""Soak: 2,000 cables with random faults; no leaked sockets or file handles, flat memory.

Not in the default suite (`-m "not soak"` in pyproject's addopts). Run it with:

    python -m pytest -m soak tests/faults -s

SOAK_CABLES (default 2000) changes the count. It prints the figures it checks.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import time
import tracemalloc
from pathlib import Path

import pytest

from bench.run.station import open_station
from sim_instruments.faults import Fault
from sim_instruments.physics import make_cable
from sim_instruments.virtual_bench import VirtualBench
from tests.faults.conftest import SEED, fault_station_config, make_line

CABLES = int(os.environ.get("SOAK_CABLES", "2000"))
FAULT_RATE = 0.2  # one cable in five gets a fault
# Cheap faults only (a persistent timeout costs a timeout per recovery): the soak is about leaks.
FAULTS = [
    ("meter1", dict(kind="reset", phase="reading")),
    ("meter2", dict(kind="reset", phase="configure")),
    ("switch", dict(kind="reset", phase="switch", times=None)),
    ("meter1", dict(kind="garbage", phase="reading")),
    ("switch", dict(kind="garbage", phase="switch")),
    ("meter2", dict(kind="truncated", phase="reading")),
    ("source", dict(kind="scpi_error", phase="configure")),
    ("meter1", dict(kind="overrange", phase="reading", times=None)),
    ("meter1", dict(kind="laser_off", phase="reading", after=5)),
    ("switch", dict(kind="switch_stuck", phase="switch", after=3)),
    ("meter2", dict(kind="timeout", phase="reading")),
]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.soak
def test_soak_random_faults(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    config = fault_station_config(timeout_s=0.2, settle_timeout_s=0.1)
    gc.collect()
    fds_before, sockets_before = open_fds(), open_sockets()
    started = time.monotonic()
    outcomes: dict[str, int] = {}
    with VirtualBench(config, seed=SEED) as bench, open_station(config, addresses=bench.addresses) as station:
        line = make_line(bench, station, tmp_path / "soak.h5")
        line.session.recoveries_per_cable = 3
        bench.load_dut(None)
        line.session.take_reference()
        cables = [make_cable(f"MTP12-{n:06d}", seed=SEED) for n in range(1, 51)]
        fds_warm = sockets_warm = rss_warm = 0
        tracemalloc.start()
        snapshot_warm = None
        for index in range(CABLES):
            if index == 100:  # after warm-up: caches, pools and the store's chunks are allocated
                gc.collect()
                fds_warm, sockets_warm, rss_warm = open_fds(), open_sockets(), rss_kib()
                snapshot_warm = tracemalloc.take_snapshot()
            if line.session.reference_problem():
                bench.clear_faults()
                bench.load_dut(None)
                line.session.take_reference()
            if rng.random() < FAULT_RATE:
                where, options = rng.choice(FAULTS)
                bench.inject(where, Fault(**options))
            cable = cables[index % len(cables)]
            bench.load_dut(cable)
            outcome = line.session.test_cable(cable.serial)
            bench.clear_faults()
            assert outcome.outcome in ("PASS", "ERROR"), outcome.record.reason  # never FAIL: no cable is bad
            outcomes[outcome.outcome] = outcomes.get(outcome.outcome, 0) + 1
        gc.collect()
        snapshot_end = tracemalloc.take_snapshot()
        fds_end, sockets_end, rss_end = open_fds(), open_sockets(), rss_kib()
        tracemalloc.stop()
        line.store.close()
    gc.collect()
    fds_after, sockets_after = open_fds(), open_sockets()
    elapsed_s = time.monotonic() - started
    assert snapshot_warm is not None
    growth = sum(stat.size_diff for stat in snapshot_end.compare_to(snapshot_warm, "filename"))
    for stat in snapshot_end.compare_to(snapshot_warm, "lineno")[:5]:  # where any growth comes from
        print(f"  heap growth {stat.size_diff / 1024:+.0f} KiB ({stat.count_diff:+d} objects) at {stat.traceback}")
    print(f"\nsoak: {CABLES} cables in {elapsed_s:.1f} s, outcomes {outcomes}; "
          f"fds {fds_before} before / {fds_warm} warm / {fds_end} end / {fds_after} after; "
          f"sockets {sockets_before} / {sockets_warm} / {sockets_end} / {sockets_after}; "
          f"RSS {rss_warm} KiB warm → {rss_end} KiB end; traced Python heap growth {growth / 1024:.0f} KiB; "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB")
    assert fds_end == fds_warm and sockets_end == sockets_warm  # no leak while running
    assert fds_after == fds_before and sockets_after == sockets_before  # everything closed at the end
    assert growth < 2 * 1024 * 1024  # flat: < 2 MiB of Python objects over 1,900 cables
    assert rss_end - rss_warm < 24 * 1024  # measured +13.6 MB over 1,900 cables (docs/reliability.md)
    assert outcomes.get("ERROR", 0) > 0 and outcomes.get("PASS", 0) > CABLES // 2
