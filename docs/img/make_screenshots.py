"""Regenerate the screenshots in docs/img/ (run from the repository root, in the venv):

    python docs/img/make_screenshots.py              # all of them
    python docs/img/make_screenshots.py dashboard    # or only one kind: terminal, dashboard

(The certificate and lot-report samples: examples/render_samples.py.)

terminal_pass_fail.png  `bench run` in a real terminal (tmux, 100x48) after a PASS and then a FAIL
dashboard-*.png         the dashboard's pages as tests/dashboard draws them in headless Chromium
                        (`pytest --docs-img docs/img`; a plain test run writes them to a temporary
                        directory and leaves the tree clean)

The terminal is captured with `tmux capture-pane -e` (text plus colours) and
drawn with matplotlib in a monospace font, so what you see is what the
technician's terminal showed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bench.sim_launch import example_path  # noqa: E402

STATION, RECIPE = str(example_path("station_demo.toml")), str(example_path("recipe_demo.toml"))


# ------------------------------------------------------------------ terminal capture

BASIC = ["#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5"]
BRIGHT = ["#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"]
FG, BG = "#d4d4d4", "#1e1e1e"
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _apply_sgr(code: int, fg: str, bg: str, bold: bool) -> tuple[str, str, bool]:
    """The (fg, bg, bold) state after one SGR parameter."""
    if code == 0:
        return FG, BG, False
    if code in (1, 2, 22):
        return fg, bg, code == 1
    if code in (39, 49):
        return (FG, bg, bold) if code == 39 else (fg, BG, bold)
    for base, palette, is_fg in ((30, BASIC, True), (90, BRIGHT, True), (40, BASIC, False), (100, BRIGHT, False)):
        if base <= code <= base + 7:
            return (palette[code - base], bg, bold) if is_fg else (fg, palette[code - base], bold)
    return fg, bg, bold


def parse_ansi(lines: list[str]) -> list[list[tuple[str, str, str, bool]]]:
    """Each line as cells (char, fg, bg, bold)."""
    fg, bg, bold = FG, BG, False
    grid = []
    for line in lines:
        cells: list[tuple[str, str, str, bool]] = []
        pos = 0
        for match in SGR.finditer(line + "\x1b[9999m"):
            cells.extend((ch, fg, bg, bold) for ch in line[pos:match.start()])
            pos = match.end()
            for code in (int(c) if c else 0 for c in match.group(1).split(";")):
                fg, bg, bold = _apply_sgr(code, fg, bg, bold)
        grid.append(cells)
    return grid


def render_terminal(lines: list[str], out: Path, cols: int = 100) -> None:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    grid = parse_ansi(lines)
    char_w, char_h = 0.6021 * 10 / 72, 0.17  # inches per cell: DejaVu Sans Mono advance at 10 pt
    fig = Figure(figsize=((cols + 3) * char_w, (len(grid) + 1.6) * char_h), facecolor=BG)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1.5, cols + 1.5)
    ax.set_ylim(len(grid) + 0.8, -0.8)
    ax.axis("off")
    ax.set_facecolor(BG)
    for row, cells in enumerate(grid):
        for col, (_ch, _fg, bg, _bold) in enumerate(cells):
            if bg != BG:
                ax.add_patch(Rectangle((col, row - 0.5), 1.02, 1.02, facecolor=bg, edgecolor="none"))
        col = 0
        while col < len(cells):  # draw runs of same style as one text
            ch, fg, bg, bold = cells[col]
            end = col
            while end < len(cells) and cells[end][1:] == (fg, bg, bold):
                end += 1
            text = "".join(c[0] for c in cells[col:end])
            if text.strip():
                ax.text(col, row, text, family="DejaVu Sans Mono", fontsize=10, color=fg, va="center",
                        ha="left", weight="bold" if bold else "normal")
            col = end
    fig.savefig(out, dpi=100, facecolor=BG)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_for(session: str, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in tmux("capture-pane", "-p", "-t", session, "-S", "-200"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {text!r}")


def terminal_png(work: Path) -> Path:
    session = "bench-shot"
    command = (f"cd {REPO} && {sys.executable} -m bench.cli run --station {STATION} --recipe {RECIPE} "
               f"--store {work / 'run.h5'} --sim-fail MTP12-004712 --sim-seed 11 --sim-latency 0.005")
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "48", "-e", "TERM=xterm-256color", command)
    try:
        for wait, keys in (("Operator:", "j.doe"), ("Lot:", "LOT-2026-041"), ("(Q to quit)", ""),
                           ("serial>", "MTP12-004711"), ("Connect cable", ""),
                           ("latest: PASS 1", "MTP12-004712"), ("Connect cable MTP12-004712", "")):
            wait_for(session, wait)
            tmux("send-keys", "-t", session, "-l", keys)
            tmux("send-keys", "-t", session, "Enter")
        wait_for(session, "FAIL 1, PASS 1")
        time.sleep(0.3)
        lines = tmux("capture-pane", "-p", "-e", "-N", "-t", session).splitlines()
        tmux("send-keys", "-t", session, "-l", "q")
        tmux("send-keys", "-t", session, "Enter")
        time.sleep(0.5)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    out = HERE / "terminal_pass_fail.png"
    render_terminal(lines, out)
    return out


# ------------------------------------------------------------------ dashboard pages

DASHBOARD_TESTS = ["tests/dashboard/test_pages.py", "tests/dashboard/test_security.py"]


def dashboard_pngs() -> list[Path]:
    """The tests that check each page also draw it; `--docs-img` points their screenshots here."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DASHBOARD_TESTS,
               "--docs-img", str(HERE)]
    if subprocess.run(command, cwd=REPO).returncode != 0:
        sys.exit("the dashboard tests failed; the screenshots in docs/img/ may be partly rewritten")
    return sorted(HERE.glob("dashboard-*.png"))


def terminal_pngs() -> list[Path]:
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed for the terminal screenshot; install it (apt-get install tmux)")
    with tempfile.TemporaryDirectory() as folder:
        return [terminal_png(Path(folder))]


KINDS = {"terminal": terminal_pngs, "dashboard": dashboard_pngs}


def main(argv: list[str]) -> None:
    unknown = [kind for kind in argv if kind not in KINDS]
    if unknown:
        sys.exit(f"unknown screenshot kind {', '.join(unknown)}; choose from {', '.join(KINDS)} (none: all)")
    for kind in argv or list(KINDS):
        for path in KINDS[kind]():
            print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
