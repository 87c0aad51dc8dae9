"""A results store filled from the virtual bench over three days, the dashboard served on 127.0.0.1,
and headless Chromium (Debian's, through Playwright) to look at it.

Day 1 (TREND lot, its own product MTP12-TREND): 30 calm cables, then 10 whose position 5 creeps up
at 1310 nm while staying under the limit (a worn polishing fixture). Day 2 (LOT-A): 6 cables, one
seeded to fail. Day 3 (LOT-B, "today"): 10 cables, two seeded to fail, one of them retested after a
fix and passing, and a record with a hostile serial and lot. Every day
starts with a reference and a golden-cable check. The truth the tests compare pages with is what
the sessions returned (`FilledStore.outcomes`) and the store read back by `bench.store`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.config.recipe import Recipe, load_recipe, parse_recipe
from bench.config.station import StationConfig, load_station
from bench.config.tomlio import read_toml
from bench.dashboard import Hdf5Source, create_app
from bench.run.golden import verify_golden
from bench.run.session import TestSession
from bench.run.station import open_station
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results
from procedures.operator import CONNECT, Prompt
from sim_instruments.physics import SimulatedCable, make_cable, make_golden_cable
from sim_instruments.virtual_bench import VirtualBench

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SEED = 2207
DAY1, DAY2, DAY3 = dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)
TREND_POSITION, TREND_WAVELENGTH = 5, 1310.0
TREND_PRODUCT = "MTP12-TREND"
CALM_CABLES, CREEPING_CABLES = 30, 10
HOSTILE_SERIAL = "<script>alert(1)</script>"
HOSTILE_LOT = '<img src=x onerror="alert(2)">'


class FakeClock:
    """Each call is 20 s after the previous one, from 08:00 UTC of the day set last."""

    def __init__(self) -> None:
        self.now = dt.datetime.combine(DAY1, dt.time(8), tzinfo=dt.UTC)

    def start_day(self, day: dt.date) -> None:
        self.now = dt.datetime.combine(day, dt.time(8), tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=20)
        return self.now


@dataclass
class Tested:
    day: dt.date
    lot: str
    serial: str
    attempt: int
    outcome: str
    station_name: str
    recipe_name: str


@dataclass
class FilledStore:
    path: Path
    station: StationConfig
    recipe: Recipe
    outcomes: list[Tested] = field(default_factory=list)
    golden_checks: int = 0
    suspect_serials: list[str] = field(default_factory=list)
    references: int = 0
    trend_serials: list[str] = field(default_factory=list)


class Hands:
    """The technician: connects the cable the session asks for."""

    def __init__(self, bench: VirtualBench, cables: dict[str, SimulatedCable]) -> None:
        self.bench, self.cables = bench, cables

    def prompt(self, prompt: Prompt) -> None:
        if prompt.action == CONNECT:
            self.bench.load_dut(self.cables.get(prompt.serial))


def _trend_lot(recipe: Recipe) -> list[SimulatedCable]:
    options: dict[str, Any] = {"fiber_count": recipe.fiber_count, "polarity": recipe.polarity,
                               "wavelengths_nm": recipe.wavelengths_nm, "seed": SEED}
    cables = [make_cable(f"MTP12-1{k:05d}", **options) for k in range(CALM_CABLES + CREEPING_CABLES)]
    for k, cable in enumerate(cables):
        for wavelength, il_db in cable.insertion_loss_db.items():
            # A steady process: every position wanders a little, without runs or trends.
            il_db[:] = 0.30 + 0.02 * np.sin(k + np.arange(len(il_db)) + wavelength)
        creep = 0.04 * max(0, k - CALM_CABLES + 1)  # +0.04 dB per creeping cable, at most 0.70 dB
        cable.insertion_loss_db[TREND_WAVELENGTH][TREND_POSITION - 1] += creep
    return cables


def _trend_recipe(station: StationConfig) -> Recipe:
    data = read_toml(example_path("recipe_demo.toml"))
    data["recipe"]["name"] = TREND_PRODUCT
    return parse_recipe(data, "<trend recipe>", station_wavelengths_nm=station.wavelengths_nm,
                        station_fiber_capacity=station.fiber_capacity)


def _run_day(session: TestSession, bench: VirtualBench, filled: FilledStore, clock: FakeClock, day: dt.date,
             cables: list[SimulatedCable]) -> None:
    clock.start_day(day)
    golden = make_golden_cable("GOLD-0001", fiber_count=12, polarity="B",
                               wavelengths_nm=session.recipe.wavelengths_nm)
    bench.load_dut(None)
    session.take_reference()
    filled.references += 1
    verify_golden(session, Hands(bench, {golden.serial: golden}), accept_baseline=filled.golden_checks == 0)
    filled.golden_checks += 1
    for cable in cables:
        if session.health.check_due():  # the station's golden cadence, as a line flow keeps it
            verify_golden(session, Hands(bench, {golden.serial: golden}))
            filled.golden_checks += 1
        bench.load_dut(cable)
        outcome = session.test_cable(cable.serial)
        filled.outcomes.append(Tested(day, session.lot, cable.serial, outcome.record.attempt, outcome.outcome,
                                      outcome.record.station_name, outcome.record.recipe_name))
    # End of the shift: the source has sagged a little; the golden cable sees it, within tolerance.
    bench.set_source_drift(-0.04)
    verify_golden(session, Hands(bench, {golden.serial: golden}))
    filled.golden_checks += 1
    bench.set_source_drift(0.0)
    bench.load_dut(None)


def _fixed(cable: SimulatedCable) -> SimulatedCable:
    """The same cable after re-termination: every fiber back at a good IL."""
    return dataclasses.replace(cable, insertion_loss_db={w: np.full_like(v, 0.3) for w, v in
                                                         cable.insertion_loss_db.items()}, seeded_to_fail=False)


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    station = load_station(example_path("station_32.toml"))
    recipe = load_recipe(example_path("recipe_demo.toml"), station_wavelengths_nm=station.wavelengths_nm,
                         station_fiber_capacity=station.fiber_capacity)
    path = tmp_path_factory.mktemp("dashboard") / "bench.h5"
    filled = FilledStore(path, station, recipe)
    options: dict[str, Any] = {"fiber_count": recipe.fiber_count, "polarity": recipe.polarity,
                               "wavelengths_nm": recipe.wavelengths_nm, "seed": SEED}
    trend = _trend_lot(recipe)
    filled.trend_serials = [c.serial for c in trend]
    lot_a = [make_cable(f"MTP12-2{k:05d}", fail=k == 2, **options) for k in range(6)]
    lot_b = [make_cable(f"MTP12-3{k:05d}", fail=k in (3, 7), **options) for k in range(10)]
    clock = FakeClock()
    with VirtualBench(station, seed=SEED) as bench, open_station(station, addresses=bench.addresses) as opened, \
            ResultStore(path, fsync=False) as store:
        for day, lot, product, cables in ((DAY1, "TREND", _trend_recipe(station), trend),
                                          (DAY2, "LOT-A", recipe, lot_a),
                                          (DAY3, "LOT-B", recipe, lot_b + [_fixed(lot_b[3])])):
            session = TestSession(opened, product, store, operator="dash", lot=lot, clock=clock)
            _run_day(session, bench, filled, clock, day, cables)
        hostile = load_results(path, serial=lot_b[0].serial)
        record = hostile.cable_record(int(hostile.cables["record_index"][0]))
        store.append_cable(dataclasses.replace(record, serial=HOSTILE_SERIAL, lot=HOSTILE_LOT, attempt=1,
                                               reason=f"{HOSTILE_SERIAL} {HOSTILE_LOT}"))
        filled.outcomes.append(Tested(DAY3, HOSTILE_LOT, HOSTILE_SERIAL, 1, record.outcome, record.station_name,
                                      record.recipe_name))
        # One SUSPECT mark, as a failed golden check appends it (bench.run.drift), on a LOT-A cable.
        marked = load_results(path, serial=lot_a[4].serial)
        store.annotate([int(marked.cables["record_index"][0])], kind="SUSPECT", reason=SUSPECT_REASON)
        filled.suspect_serials = [lot_a[4].serial]
    return filled


SUSPECT_REASON = "graded since the last passing golden check; the check after it failed"


class ServedApp:
    """A Starlette app served by uvicorn on a free port of 127.0.0.1, in a thread of this process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> ServedApp:
        self.thread.start()
        while not self.server.started:  # uvicorn says when it listens; nothing is timed here
            if not self.thread.is_alive():
                raise RuntimeError("the dashboard server stopped while starting")
            self.thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join()
        self.socket.close()


def noon(day: dt.date) -> FakeClock:
    clock = FakeClock()
    clock.now = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    return clock


@pytest.fixture(scope="session")
def dashboard_url(filled_store: FilledStore) -> Iterator[str]:
    # A fixed description keeps the screenshots' footer free of the temporary path.
    source = Hdf5Source(filled_store.path, description="HDF5 store bench.h5 (virtual bench, three days)")
    app = create_app(source, refresh_s=3600, clock=noon(DAY3))
    with ServedApp(app) as served:
        yield served.url


@pytest.fixture
def store_copy(filled_store: FilledStore, tmp_path: Path) -> Path:
    target = tmp_path / "copy.h5"
    shutil.copyfile(filled_store.path, target)
    return target


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        # CI installs it (.ci/install-chromium); a developer without it is told how, never skipped over.
        raise RuntimeError(f"{CHROMIUM} is missing; run `bash .ci/install-chromium` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []  # every alert() a page manages to run lands here
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def screenshot_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary directory, so a test run leaves the tree clean; `--docs-img DIR` writes DIR instead."""
    chosen = request.config.getoption("--docs-img")
    if chosen is None:
        return tmp_path_factory.mktemp("screenshots")
    folder = Path(chosen)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Callable[[Any, str], Path]:
    """Saves the full page as dashboard-<name>.png and checks a whole page, as wide as the viewport, was drawn."""

    def take(page: Any, name: str) -> Path:
        target = screenshot_dir / f"dashboard-{name}.png"
        page.screenshot(path=str(target), full_page=True)
        data = target.read_bytes()
        assert data[:8] == PNG_SIGNATURE, f"{target} is not a PNG"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width == page.viewport_size["width"] and height >= page.viewport_size["height"], (width, height)
        return target

    return take
