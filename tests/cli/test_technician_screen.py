"""The technician's screen as the terminal shows it (pty + pyte): one cable per screen, one verdict, the next step."""

from __future__ import annotations

from pathlib import Path

import pyte

from bench.operator.terminal import big_text
from tests.cli.conftest import RECIPE, REPO, STATION, bench_command, child_env
from tests.cli.pty_driver import PtyProcess

ROWS, COLS = 40, 100
PASSING, FAILING, LASER_OFF = "MTP12-000001", "MTP12-000002", "MTP12-000003"


def screen_of(term: PtyProcess) -> str:
    """What the terminal displays now: the child's whole output replayed through a VT100 emulator."""
    screen = pyte.Screen(COLS, ROWS)
    pyte.Stream(screen).feed(term.raw)
    return "\n".join(line.rstrip() for line in screen.display)


def verdict_row(word: str) -> str:
    return big_text(word, width=COLS)[2].rstrip()  # the middle row of the block font is distinctive


def test_each_cable_on_a_clean_screen_with_its_verdict_and_next_step(tmp_path: Path) -> None:
    term = PtyProcess(bench_command("run", "--station", STATION, "--recipe", RECIPE, "--store",
                                    str(tmp_path / "bench.h5"), "--operator", "alice", "--lot", "LOT-SCREEN",
                                    "--sim-fail", FAILING, "--sim-laser-off", LASER_OFF),
                      env=child_env(), cwd=str(REPO), rows=ROWS, cols=COLS)
    try:
        term.expect(r"press Enter \(Q to quit\)")
        term.sendline()

        term.expect("serial> ")
        term.sendline(PASSING)
        term.expect(f"Connect cable {PASSING}")
        term.sendline()
        term.expect("serial> ")
        screen = screen_of(term)
        assert verdict_row("PASS") in screen
        assert "NEXT:" not in screen
        assert "1 cable, 1 attempt this session; latest: PASS 1" in screen

        term.sendline(FAILING)
        term.expect(f"Connect cable {FAILING}")
        term.sendline()
        term.expect("serial> ")
        screen = screen_of(term)
        assert verdict_row("FAIL") in screen and verdict_row("PASS") not in screen  # the PASS is gone
        assert PASSING not in screen.split("lot LOT-SCREEN", 1)[1]  # only the header's tally remains of it
        flat = " ".join(screen.split())
        assert "NEXT: Fiber(s)" in flat and "over the limit: clean and inspect both end faces of the cable" in flat
        assert "Then press T to retest it (retest policy last: the last attempt decides)" in flat
        assert "2 cables, 2 attempts this session; latest: FAIL 1, PASS 1" in flat

        term.sendline("t")  # the same cable again: it fails again, and now it is set aside
        term.expect(f"Connect cable {FAILING}")
        term.sendline()
        term.expect("serial> ")
        flat = " ".join(screen_of(term).split())
        assert "not passing again: this cable has failed 2 attempts. Set it aside for quarantine" in flat
        assert "clean and inspect" not in flat
        assert "2 cables, 3 attempts this session; latest: FAIL 1, PASS 1" in flat

        term.sendline(LASER_OFF)  # the source goes off mid-cable: the bench's fault, not the cable's
        term.expect(f"Connect cable {LASER_OFF}")
        term.sendline()
        term.expect("serial> ")
        screen = screen_of(term)
        assert verdict_row("ERROR") in screen and verdict_row("FAIL") not in screen
        flat = " ".join(screen.split())
        assert "NEXT: Not the cable's fault: check that the source is on" in flat
        assert "Then press T to test the same cable again; it is not failed for this" in flat
        assert "3 cables, 4 attempts this session; latest: ERROR 1, FAIL 1, PASS 1" in flat

        term.sendline("q")
        term.expect("Session closed")
        assert term.wait() == 2  # bench.exit_codes: a serial's last attempt is an ERROR
    finally:
        term.close()
