"""SIGKILL a writer at random moments, many times; every committed cable must survive."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import numpy as np
from test_store_safety import spawn_writer, stop

from bench.store import ResultStore, load_results, verify_store
from bench.store.superblock import consistency_flags

KILLS = 18
SEED = 20240501


def _run_and_kill(path, run: int, delay_s: float, during_open: bool) -> list[tuple[int, str]]:
    """Start a writer, SIGKILL it after delay_s (counted from 'ready' unless during_open)."""
    proc = spawn_writer(path, f"R{run}")
    committed: list[tuple[int, str]] = []
    ready = threading.Event()

    def read_lines() -> None:
        for line in proc.stdout:
            if line.strip() == "ready":
                ready.set()
            elif line.endswith("\n"):  # a line cut by the kill was not reported
                index, serial = line.split()
                committed.append((int(index), serial))

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    if not during_open:
        assert ready.wait(30), f"writer run {run} did not open the store: {proc.stderr.read()}"
    time.sleep(delay_s)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=30)
    errors = proc.stderr.read()
    stop(proc)
    assert proc.returncode == -signal.SIGKILL, errors
    return committed


def test_sigkill_at_random_moments_loses_no_committed_cable(tmp_path):
    path = tmp_path / "results.h5"
    rng = random.Random(SEED)
    reported: list[tuple[int, str]] = []
    flags_seen = 0
    for run in range(KILLS):
        # One kill in four lands while the writer is still opening / recovering.
        during_open = run % 4 == 3
        delay = rng.uniform(0.0, 0.5) if during_open else rng.uniform(0.0, 0.25)
        reported += _run_and_kill(path, run, delay, during_open)
        if os.path.exists(path) and consistency_flags(str(path)):
            flags_seen += 1
    assert flags_seen > KILLS // 2, "the kills should mostly leave a file that plain HDF5 refuses"

    # The next writer opens by itself (no h5clear) and carries on.
    with ResultStore(path) as store:
        final_index = store.append_cable(__import__("store_fakes").fake_cable(serial="FINAL"))

    res = load_results(path)
    by_index = dict(zip(res.cables["record_index"].tolist(), res.cables["serial"].tolist(), strict=True))
    assert len(reported) > KILLS, "the writers should have committed cables between kills"
    for index, serial in reported:
        assert by_index.get(index) == serial, f"committed cable {serial} (record {index}) is missing"
    assert by_index[final_index] == "FINAL"
    # No partial record: indices contiguous, every cable has all its fibers, and everything verifies.
    assert np.array_equal(res.cables["record_index"], np.arange(len(res.cables)))
    counts = np.bincount(res.fibers["record_index"], minlength=len(res.cables))
    assert np.all(counts == 24)
    assert len(set(by_index.values())) == len(by_index), "a cable was stored twice"
    report = verify_store(path)
    assert report.ok, report.bad
    assert report.n_records == len(res.cables)
    assert not list(tmp_path.glob("*.damaged-*")), "recovery should not have needed the copy fallback"
