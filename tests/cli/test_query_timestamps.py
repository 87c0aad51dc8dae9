"""`bench query` prints each record's full start stamp, as stored (two attempts in one second stay apart)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli.main import main
from bench.store import load_results


def test_query_prints_full_timestamps(tested_lot: tuple[Path, list], capsys: pytest.CaptureFixture[str]) -> None:
    store, _ = tested_lot
    assert main(["query", str(store)]) == 0
    out = capsys.readouterr().out
    stamps = [str(s) for s in load_results(store).cables["started_utc"]]
    assert stamps and all("." in stamp for stamp in stamps)  # stored with microseconds
    for stamp in stamps:
        assert stamp in out
