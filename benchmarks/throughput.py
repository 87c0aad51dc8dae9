"""Throughput benchmark: cycle time against the instruments' floor, and the toolkit's own overhead.

    python benchmarks/throughput.py [--repeats 7] [--json]

For a 12-fiber cable (station_demo.toml, 1310/1550 nm) and a 24-fiber cable
(station_32.toml, 850/1300 nm):

(a) on the latency model (the data-sheet times below, the same numbers in the
    station's [timing] and in the simulated instruments): cycle time per cable
    (TestSession.test_cable: measurement, polarity, grading; the store write is
    reported apart) and acquisition time, against the bound
    `procedures.timing` computes for the order it chose; once as a station is
    configured by default (`[timing] reply_wait = "near-due"`), once each with
    `reply_wait = "sleep"` and `"poll"`, and the hand-written loop of (b),
    taking turns on one simulated bench;
(b) on a zero-latency bench: toolkit time per fiber reading (measure_cable)
    against a minimal hand-written pyvisa loop that sends the same SCPI
    transactions, measured side by side in the same run; the simulator's command
    counters show both sent the same number of commands;
(c) readings per second through the full stack (TestSession.test_cable
    including the HDF5 store append) on the zero-latency bench.

The simulated instruments run in a separate process, as real ones run on their
own hardware: in-process, their Python threads would share the toolkit's
interpreter lock and their CPU time would be charged to the toolkit.
Figures are medians over --repeats cables after one warm-up cable.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvisa

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, parse_station
from bench.run.session import TestSession
from bench.run.station import open_station
from bench.sim_launch import example_path
from bench.store import ResultStore
from drivers.factory import open_resource
from procedures.insertion_loss import measure_cable
from procedures.polarity import expected_receive_positions, fiber_positions
from procedures.reference import measure_reference

# Data-sheet style times [verify per model]: N7734A-class MEMS switch settle, 816x
# source wavelength change, LAN query round trip, N774x averaging time per reading.
DATA_SHEET_TIMING = {"averaging_time_s": 0.001, "switch_settle_s": 0.005, "wavelength_change_s": 0.05,
                     "query_round_trip_s": 0.0003}
ZERO_LATENCY_AVERAGING_S = 1e-5  # the simulated N774x's shortest averaging time: (b) measures software
# The station's [timing] for the zero-latency bench: it says what the simulator does (nothing to wait
# for), or the drivers would sleep out data-sheet settle and change times the simulator does not take.
ZERO_LATENCY_TIMING = {**DATA_SHEET_TIMING, "averaging_time_s": ZERO_LATENCY_AVERAGING_S, "switch_settle_s": 0.0,
                       "wavelength_change_s": 0.0, "query_round_trip_s": 0.0}

# The simulated instruments poll rather than sleep (their process keeps a core busy), so that a
# thread waking up does not add to every reply: --sleeping-simulator measures the other way.
SIMULATOR = {"busy_poll": True}

CASES = (("12-fiber", "station_demo.toml", "recipe_demo.toml", "MTP12-000001"),
         ("24-fiber", "station_32.toml", "recipe_mm24_trunk.toml", "MTP24-OM4-0001-00001"))


def station_with_timing(station_file: str, timing: dict[str, float]) -> StationConfig:
    data = tomllib.loads(example_path(station_file).read_text())
    data["timing"] = {**data.get("timing", {}), **timing}
    data.get("reference", {}).pop("golden", None)  # the golden-cable check is not part of a cable's cycle
    return parse_station(data, station_file)


# -- the simulated instruments, in their own process -------------------------------------------
def _serve(station_file: str, timing: dict[str, float], realistic: bool, averaging_s: float,
           fiber_count: int, polarity: str, wavelengths: tuple[float, ...], connection: Any,
           busy_poll: bool = True) -> None:
    from sim_instruments.physics import make_cable
    from sim_instruments.scpi_server import Latency
    from sim_instruments.virtual_bench import LatencyModel, VirtualBench

    config = station_with_timing(station_file, timing)
    rtt = timing["query_round_trip_s"] if realistic else 0.0
    latency = (LatencyModel(meter=Latency(query_round_trip_s=rtt),
                            source=Latency(query_round_trip_s=rtt, wavelength_change_s=timing["wavelength_change_s"]),
                            switch=Latency(query_round_trip_s=rtt, switch_settle_s=timing["switch_settle_s"]))
               if realistic else LatencyModel.zero())
    with VirtualBench(config, seed=7, latency=latency, busy_poll=busy_poll) as bench:
        with bench.model.lock:  # unused detector slots integrate as long as the used ones
            for channel in bench.model.channels.values():
                channel.averaging_time_s = averaging_s
        connection.send(bench.addresses)
        while True:
            command = connection.recv()
            if command == "reference":
                bench.load_dut(None)
            elif command == "cable":
                bench.load_dut(make_cable("MTP-000001", fiber_count=fiber_count, polarity=polarity,
                                          wavelengths_nm=wavelengths, seed=3))
            elif command == "commands":
                connection.send(sum(instrument.commands_seen for instrument in bench.instruments.values()))
                continue
            elif command == "stop":
                connection.send("ok")
                return
            connection.send("ok")


@dataclass
class SimProcess:
    process: Any
    connection: Any
    addresses: dict[str, str]

    def ask(self, command: str) -> Any:
        self.connection.send(command)
        return self.connection.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(timeout=10)


def start_sim(station_file: str, timing: dict[str, float], recipe: Recipe, *, realistic: bool,
              averaging_s: float) -> SimProcess:
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=_serve, daemon=True, args=(
        station_file, timing, realistic, averaging_s, recipe.fiber_count, recipe.polarity,
        tuple(recipe.wavelengths_nm), there, SIMULATOR["busy_poll"]))
    process.start()
    return SimProcess(process, here, here.recv())


def load(station_file: str, recipe_file: str, timing: dict[str, float]) -> tuple[StationConfig, Recipe]:
    config = station_with_timing(station_file, timing)
    recipe = load_recipe(example_path(recipe_file), station_wavelengths_nm=config.wavelengths_nm,
                         station_fiber_capacity=config.fiber_capacity)
    return config, recipe


# -- (a) and (c): the full stack ------------------------------------------------------------------
def _session_rounds(config: StationConfig, recipe: Recipe, serial: str, sim: SimProcess, cables: int,
                    rows: list[dict[str, Any]], walls: list[float]) -> None:
    """A fresh station and session (reference, one warm-up cable), then `cables` cables."""
    with tempfile.TemporaryDirectory() as directory, \
            open_station(config, addresses=sim.addresses) as station, \
            ResultStore(str(Path(directory) / "bench.h5")) as store:
        session = TestSession(station, recipe, store, operator="bench", lot="THROUGHPUT")
        sim.ask("reference")
        session.take_reference()
        sim.ask("cable")
        for attempt in range(cables + 1):
            started = time.perf_counter()
            outcome = session.test_cable(serial)
            if attempt:  # the first cable is the warm-up
                walls.append(time.perf_counter() - started)
                rows.append(outcome.record.extra)


def _summary(rows: list[dict[str, Any]], walls: list[float]) -> dict[str, Any]:
    median = lambda key: statistics.median(float(row[key]) for row in rows)  # noqa: E731
    return {"bound_s": median("bound_s"), "cycle_s": median("cycle_time_s"), "acquisition_s": median("acquisition_s"),
            "with_store_s": statistics.median(walls), "readings": median("readings"),
            "readings_minimum": median("readings_minimum"), "order": rows[0]["order"],
            "switch_moves": median("switch_moves"), "wavelength_changes": median("wavelength_changes"),
            "cables": len(rows)}


def run_sessions(station_file: str, recipe_file: str, serial: str, timing: dict[str, float], *,
                 realistic: bool, repeats: int) -> dict[str, Any]:
    config, recipe = load(station_file, recipe_file, timing)
    sim = start_sim(station_file, timing, recipe, realistic=realistic, averaging_s=timing["averaging_time_s"])
    rows: list[dict[str, Any]] = []
    walls: list[float] = []
    try:
        _session_rounds(config, recipe, serial, sim, repeats, rows, walls)
    finally:
        sim.stop()
    return _summary(rows, walls)


LATENCY_ROUNDS = 3
# Besides the default (reply_wait = "near-due"), the other ways to wait for a reply, taking turns with it.
REPLY_WAIT_VARIANTS = ("sleep", "poll")


def run_latency(station_file: str, recipe_file: str, serial: str, repeats: int) -> dict[str, Any]:
    """(a): the toolkit as configured by default, with the other `reply_wait` settings, and the
    hand-written loop, taking turns on one simulated bench so that all of them see the same machine."""
    config, recipe = load(station_file, recipe_file, DATA_SHEET_TIMING)
    variants = {"default": config}
    for reply_wait in REPLY_WAIT_VARIANTS:
        variants[reply_wait] = load(station_file, recipe_file, {**DATA_SHEET_TIMING, "reply_wait": reply_wait})[0]
    sim = start_sim(station_file, DATA_SHEET_TIMING, recipe, realistic=True,
                    averaging_s=DATA_SHEET_TIMING["averaging_time_s"])
    cables = max(2, -(-repeats // LATENCY_ROUNDS))
    found: dict[str, tuple[list[dict[str, Any]], list[float]]] = {variant: ([], []) for variant in variants}
    hand: list[float] = []
    try:
        for _ in range(LATENCY_ROUNDS):
            for variant, variant_config in variants.items():
                _session_rounds(variant_config, recipe, serial, sim, cables, *found[variant])
            hand.extend(hand_loop_readings(config, recipe, sim, cables)[3])
    finally:
        sim.stop()
    return {**{variant: _summary(*found[variant]) for variant in variants}, "hand_cycle_s": statistics.median(hand)}


# -- (b): toolkit vs a hand-written pyvisa loop ---------------------------------------------------
def toolkit_readings(config: StationConfig, recipe: Recipe, sim: SimProcess, repeats: int) -> tuple[float, float]:
    """Median seconds per fiber reading through measure_cable; commands the instruments saw per reading."""
    with open_station(config, addresses=sim.addresses) as station:
        settings = TestSession(station, recipe, None, operator="bench", lot="-").settings
        sim.ask("reference")
        reference = measure_reference(station.instruments, wavelengths_nm=recipe.wavelengths_nm,
                                      launch_ports=config.launch_ports, method="1-cord", settings=settings)
        sim.ask("cable")
        positions = fiber_positions(recipe.fiber_count)
        expected = expected_receive_positions(recipe.fiber_count, recipe.polarity)
        per_reading, commands = [], []
        for attempt in range(repeats + 1):
            before = sim.ask("commands")
            started = time.perf_counter()
            measurement = measure_cable(station.instruments, reference, positions, expected,
                                        wavelengths_nm=recipe.wavelengths_nm, settings=settings)
            elapsed = time.perf_counter() - started
            if attempt:
                per_reading.append(elapsed / measurement.matrix.timing.readings)
                commands.append((sim.ask("commands") - before) / measurement.matrix.timing.readings)
    return statistics.median(per_reading), statistics.median(commands)


def _setting(link: Any, command: str) -> None:
    """A setting and its error query in one write: sent apart, TCP's Nagle algorithm would hold the
    query until the instrument's delayed ACK of the setting (~40 ms)."""
    link.write_raw(f"{command}\nSYST:ERR?\n".encode("ascii"))
    link.read()


def hand_loop_readings(config: StationConfig, recipe: Recipe, sim: SimProcess,
                       repeats: int) -> tuple[float, float, float, list[float]]:
    """The same SCPI transactions written out by hand with pyvisa: no drivers, no procedure.
    Median seconds per reading, commands per reading, seconds per cable; every cable's seconds."""
    manager = pyvisa.ResourceManager("@py")
    names = {entry.role: entry.name for entry in config.instruments if entry.role != "meter"}
    # The meters carrying the cable's positions, as the toolkit reads them (MeterGroup.read_only).
    carrying = {config.receive_channels[p - 1][0] for p in fiber_positions(recipe.fiber_count)}
    meters = [entry for entry in config.instruments if entry.role == "meter" and entry.name in carrying]
    source = open_resource(manager, sim.addresses[names["source"]], 5.0)
    switch = open_resource(manager, sim.addresses[names["switch"]], 5.0)
    meter_links = [open_resource(manager, sim.addresses[entry.name], 5.0) for entry in meters]
    for link in (source, switch, *meter_links):
        link.read_termination = link.write_termination = "\n"
    meter_slots = [list(entry.options.get("slots", range(1, 9))) for entry in meters]
    source_slot = int(config.instrument("source")[0].options.get("slot", 1))
    # Per meter, what the toolkit sends for a position's readings: the first trigger, and the fetch
    # with the second trigger behind it in its program message; the second fetch alone; then
    # trigger and fetch.
    triggers = [";".join(f":INIT{slot}:IMM" for slot in slots) for slots in meter_slots]
    fetch = "FETC:POW:ALL:CSV?"
    messages = [(f"{trigger}\n{fetch};{trigger}\n".encode("ascii"), f"{fetch}\n".encode("ascii"),
                 f"{trigger}\n{fetch}\n".encode("ascii")) for trigger in triggers]
    ports = [config.launch_ports[p - 1] for p in fiber_positions(recipe.fiber_count)]
    wavelengths = list(recipe.wavelengths_nm)
    tolerance = 10 ** (config.timing.settle_tolerance_db / 10)
    floor_w = 1e-9  # -60 dBm
    per_reading, commands, per_cable = [], [], []
    try:
        for link, slots in zip(meter_links, meter_slots, strict=True):  # once, like the toolkit's cache
            for slot in slots:
                averaging = f"{config.timing.averaging_time_s * 1e3:g}ms"
                for command in (f"INIT{slot}:CONT 0", f"SENS{slot}:POW:ATIM {averaging}"):
                    _setting(link, command)
        _setting(source, f":SOUR{source_slot}:CHAN1:POW:STAT 1")
        sim.ask("cable")
        at_wavelength, at_port = None, None
        for attempt in range(repeats + 1):
            before = sim.ask("commands")
            started = time.perf_counter()
            readings = 0
            for block, wavelength in enumerate(wavelengths[::-1] if attempt % 2 else wavelengths):
                if wavelength != at_wavelength:  # state kept, as the drivers' caches do
                    _setting(source, f":SOUR{source_slot}:WAV {wavelength:g}NM")
                    for link, slots in zip(meter_links, meter_slots, strict=True):
                        for slot in slots:
                            _setting(link, f"SENS{slot}:POW:WAV {wavelength:g}nm")
                    at_wavelength = wavelength
                for port in (ports if block % 2 == 0 else ports[::-1]):
                    if port != at_port:
                        _setting(switch, f":ROUT1 A,{port}")
                        at_port = port
                    previous: list[float] | None = None
                    here = 0
                    while True:
                        # Every slot triggered in one program message, sent with the fetch in one
                        # write (public pyvisa cannot set TCP_NODELAY on a pyvisa-py socket).
                        for link, message in zip(meter_links, messages, strict=True):
                            link.write_raw(message[min(here, 2)])
                        here += 1
                        current = [float(v) for link in meter_links for v in link.read().strip('"').split(",")]
                        readings += 1
                        if previous is not None:
                            lit = [(a, b) for a, b in zip(previous, current, strict=True)
                                   if a > floor_w and b > floor_w]
                            top = max((b for _, b in lit), default=0.0)
                            if all(b < top * 1e-3 or 1 / tolerance <= b / a <= tolerance for a, b in lit):
                                break
                        previous = current
            elapsed = time.perf_counter() - started
            if attempt:
                per_reading.append(elapsed / readings)
                per_cable.append(elapsed)
                commands.append((sim.ask("commands") - before) / readings)
    finally:
        for link in (source, switch, *meter_links):
            link.close()
    return statistics.median(per_reading), statistics.median(commands), statistics.median(per_cable), per_cable


def run_overhead(station_file: str, recipe_file: str, repeats: int) -> dict[str, float]:
    timing = ZERO_LATENCY_TIMING
    config, recipe = load(station_file, recipe_file, timing)
    sim = start_sim(station_file, timing, recipe, realistic=False, averaging_s=ZERO_LATENCY_AVERAGING_S)
    try:
        # Interleaved, so both see the same machine load.
        toolkit, hand, toolkit_commands, hand_commands = [], [], 0, 0
        for _ in range(5):  # the 12-fiber ratio swings by ±15 % between single rounds on a 2-core VM
            seconds, toolkit_commands = toolkit_readings(config, recipe, sim, max(2, repeats // 3))
            toolkit.append(seconds)
            seconds, hand_commands, _cable, _cables = hand_loop_readings(config, recipe, sim, max(2, repeats // 3))
            hand.append(seconds)
    finally:
        sim.stop()
    return {"toolkit_s": statistics.median(toolkit), "hand_s": statistics.median(hand),
            "toolkit_commands": toolkit_commands, "hand_commands": hand_commands}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="cables measured per figure (median)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--sleeping-simulator", action="store_true",
                        help="simulated instruments sleep between events instead of polling")
    args = parser.parse_args(argv)
    SIMULATOR["busy_poll"] = not args.sleeping_simulator
    results: dict[str, Any] = {}
    for label, station_file, recipe_file, serial in CASES:
        latency = run_latency(station_file, recipe_file, serial, args.repeats)
        results[label] = {
            "latency": latency["default"],
            **{f"latency_{variant}": latency[variant] for variant in REPLY_WAIT_VARIANTS},
            "hand_cycle_s": latency["hand_cycle_s"],
            "overhead": run_overhead(station_file, recipe_file, args.repeats),
            "full_stack": run_sessions(station_file, recipe_file, serial, ZERO_LATENCY_TIMING, realistic=False,
                                       repeats=args.repeats)}
    print(f"latency model: averaging {DATA_SHEET_TIMING['averaging_time_s'] * 1e3:g} ms, switch settle "
          f"{DATA_SHEET_TIMING['switch_settle_s'] * 1e3:g} ms, wavelength change "
          f"{DATA_SHEET_TIMING['wavelength_change_s'] * 1e3:g} ms, query round trip "
          f"{DATA_SHEET_TIMING['query_round_trip_s'] * 1e3:g} ms; medians of {args.repeats} cables (a: "
          f"{LATENCY_ROUNDS} rounds of {max(2, -(-args.repeats // LATENCY_ROUNDS))}, taking turns), 2 wavelengths; "
          f"simulator {'sleeping' if args.sleeping_simulator else 'polling'}")
    print()
    print("(a) cycle time vs the instruments' floor (latency model)")
    print(f"{'cable':<15} {'order':<17} {'moves':>5} {'λ chg':>5} {'reads':>6} {'bound ms':>9} {'acq ms':>8} "
          f"{'acq/bd':>6} {'cycle ms':>9} {'cyc/bd':>6} {'+store ms':>9} {'hand ms':>8} {'hand/bd':>7}")
    for label, result in results.items():
        for key, suffix in (("latency", ""), *((f"latency_{v}", f" {v}") for v in REPLY_WAIT_VARIANTS)):
            a = result[key]
            hand = (f"{result['hand_cycle_s'] * 1e3:>8.1f} {result['hand_cycle_s'] / a['bound_s']:>7.3f}"
                    if key == "latency" else f"{'':>8} {'':>7}")
            print(f"{label + suffix:<15} {a['order']:<17} {a['switch_moves']:>5.0f} {a['wavelength_changes']:>5.0f} "
                  f"{a['readings']:>6.0f} {a['bound_s'] * 1e3:>9.1f} {a['acquisition_s'] * 1e3:>8.1f} "
                  f"{a['acquisition_s'] / a['bound_s']:>6.3f} {a['cycle_s'] * 1e3:>9.1f} "
                  f"{a['cycle_s'] / a['bound_s']:>6.3f} {a['with_store_s'] * 1e3:>9.1f} {hand}")
    print("rows: the station as configured by default ([timing] reply_wait = \"near-due\"), then with "
          + " and ".join(f'reply_wait = "{v}"' for v in REPLY_WAIT_VARIANTS) + "; the hand loop sleeps in pyvisa-py")
    print()
    print(f"(b) zero-latency bench, averaging {ZERO_LATENCY_AVERAGING_S * 1e6:g} µs: time per fiber reading")
    print(f"{'cable':<9} {'toolkit µs':>10} {'hand µs':>8} {'ratio':>6} {'cmds/reading toolkit':>20} {'hand':>5}")
    for label, result in results.items():
        b = result["overhead"]
        print(f"{label:<9} {b['toolkit_s'] * 1e6:>10.0f} {b['hand_s'] * 1e6:>8.0f} "
              f"{b['toolkit_s'] / b['hand_s']:>6.2f} "
              f"{b['toolkit_commands']:>20.2f} {b['hand_commands']:>5.2f}")
    print()
    print("(c) full stack (session, grading, polarity, HDF5 store) on the zero-latency bench")
    print(f"{'cable':<9} {'readings':>8} {'ms/cable':>9} {'readings/s':>10}")
    for label, result in results.items():
        c = result["full_stack"]
        print(f"{label:<9} {c['readings']:>8.0f} {c['with_store_s'] * 1e3:>9.1f} "
              f"{c['readings'] / c['with_store_s']:>10.0f}")
    if args.json:
        print(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
