"""The instruments' floor under a cable's cycle time, and the order chosen from it (no timing asserted)."""

from __future__ import annotations

import pytest

from bench.config.station import parse_station
from bench.errors import ConfigError
from procedures.acquisition import AcquisitionSettings, acquire_matrix
from procedures.timing import InstrumentState, InstrumentTimes, plan, schedule_cost

TIMES = InstrumentTimes(averaging_time_s=0.001, switch_settle_s=0.005, wavelength_change_s=0.05,
                        query_round_trip_s=0.0003)
WAVELENGTHS = (1310.0, 1550.0)
PORTS = list(range(1, 13))


def test_bound_counts_the_settle_rules_readings_moves_and_changes() -> None:
    schedule = plan(WAVELENGTHS, PORTS, TIMES)  # unknown state: every first step is a change
    assert schedule.order == "wavelength-outer"
    assert schedule.readings == 2 * 2 * 12  # two agreeing readings per (wavelength, position)
    assert schedule.wavelength_changes == 2 and schedule.switch_moves == 1 + 11 + 11  # serpentine
    first = max(TIMES.wavelength_s, TIMES.move_s)  # change and move of one step overlap
    expected = first + TIMES.wavelength_s + 22 * TIMES.move_s + 48 * TIMES.reading_s
    assert schedule.bound_s == pytest.approx(expected)


def test_queued_readings_cost_one_round_trip_per_position() -> None:
    """A meter that takes the second trigger in the first fetch's message starts the second
    reading as it answers the first: per position two averaging times, one round trip."""
    import dataclasses

    queued = dataclasses.replace(TIMES, queued_readings=True)
    saved_s = plan(WAVELENGTHS, PORTS, TIMES).bound_s - plan(WAVELENGTHS, PORTS, queued).bound_s
    assert saved_s == pytest.approx(2 * 12 * TIMES.query_round_trip_s)  # one round trip at each of 24 steps
    assert queued.position_readings_s == pytest.approx(2 * TIMES.averaging_time_s + TIMES.query_round_trip_s)


def test_a_cable_starts_where_the_bench_is() -> None:
    after = InstrumentState(wavelength_nm=1550.0, launch_port=12, laser_on=True)
    schedule = plan(WAVELENGTHS, PORTS, TIMES, after)
    assert schedule.steps[0] == (1, 11)  # 1550 nm, port 12: no change, no move
    assert schedule.wavelength_changes == 1 and schedule.switch_moves == 22
    assert schedule.bound_s == pytest.approx(TIMES.wavelength_s + 22 * TIMES.move_s + 48 * TIMES.reading_s)


def test_order_follows_the_latency_model() -> None:
    slow_switch = InstrumentTimes(averaging_time_s=0.001, switch_settle_s=0.2, wavelength_change_s=0.001)
    assert plan(WAVELENGTHS, PORTS, slow_switch).order == "switch-outer"
    assert plan(WAVELENGTHS, PORTS, TIMES).order == "wavelength-outer"
    assert plan(WAVELENGTHS, PORTS, InstrumentTimes()).order == "wavelength-outer"  # tie
    forced = plan(WAVELENGTHS, PORTS, TIMES, order="switch-outer")
    assert forced.order == "switch-outer" and forced.bound_s > plan(WAVELENGTHS, PORTS, TIMES).bound_s
    with pytest.raises(ValueError, match="order"):
        plan(WAVELENGTHS, PORTS, TIMES, order="random")


def test_every_step_is_measured_once_in_either_order() -> None:
    for order in ("wavelength-outer", "switch-outer"):
        steps = plan((850.0, 1300.0, 1310.0), PORTS, TIMES, order=order).steps
        assert sorted(steps) == [(w, p) for w in range(3) for p in range(12)]
        cost = schedule_cost(steps, (850.0, 1300.0, 1310.0), PORTS, TIMES)
        assert cost.bound_s == pytest.approx(plan((850.0, 1300.0, 1310.0), PORTS, TIMES, order=order).bound_s)


def test_station_timing_is_configuration() -> None:
    import tomllib

    from bench.sim_launch import example_path

    data = tomllib.loads(example_path("station_demo.toml").read_text())
    data["timing"].update(switch_settle_s=0.005, wavelength_change_s=0.05, query_round_trip_s=0.0003,
                          order="switch-outer")
    timing = parse_station(data).timing
    assert (timing.switch_settle_s, timing.wavelength_change_s, timing.query_round_trip_s, timing.order) == (
        0.005, 0.05, 0.0003, "switch-outer")
    data["timing"]["order"] = "fastest"
    with pytest.raises(ConfigError, match="timing.order"):
        parse_station(data)


def test_matrix_records_achieved_against_bound_and_the_next_run_starts_in_place(station) -> None:
    settings = AcquisitionSettings(switch_settle_s=0.005, wavelength_change_s=0.05, query_round_trip_s=0.0003)
    first = acquire_matrix(station.instruments, WAVELENGTHS, PORTS, settings)
    second = acquire_matrix(station.instruments, WAVELENGTHS, PORTS, settings)
    assert first.timing.wavelength_changes == 2 and second.timing.wavelength_changes == 1
    assert second.timing.switch_moves == 22 and second.timing.readings >= second.timing.readings_minimum == 48
    assert second.timing.achieved_s > 0 and second.timing.bound_s > 0
    assert second.settled.all()
    # The same data in either order: each (wavelength, position) measured once.
    assert abs(first.power_dbm - second.power_dbm)[~(abs(first.power_dbm) > 55)].max() < 0.05


def test_session_records_cycle_time_against_bound(station, demo_recipe, virtual_bench, store_path) -> None:
    from bench.run.session import TestSession
    from bench.store import ResultStore
    from sim_instruments.physics import make_cable

    with ResultStore(str(store_path)) as store:
        session = TestSession(station, demo_recipe, store, operator="t", lot="L")
        session.take_reference()
        virtual_bench.load_dut(make_cable("MTP12-000001"))
        extra = session.test_cable("MTP12-000001").record.extra
    assert extra["order"] == "wavelength-outer" and extra["readings_minimum"] == 48
    assert extra["bound_s"] > 0 and extra["bound_ratio"] == pytest.approx(extra["cycle_time_s"] / extra["bound_s"],
                                                                           rel=0.05)


def test_the_next_move_is_under_way_while_a_position_is_stored_and_reported(station) -> None:
    """Once a position's readings agree, the next move is sent before the reading is stored and
    reported: that work overlaps the switch's settle instead of adding to it."""
    switch = station.instruments.switch
    settings = AcquisitionSettings(switch_settle_s=0.005, wavelength_change_s=0.05, query_round_trip_s=0.0003)
    acquire_matrix(station.instruments, WAVELENGTHS, PORTS, settings)  # the bench is now somewhere known
    under_way: list[int | None] = []
    matrix = acquire_matrix(station.instruments, WAVELENGTHS, PORTS, settings,
                            progress=lambda *_: under_way.append(switch.move_under_way))
    # 2 sweeps of 12 ports: every step but the last of each sweep has its next move under way.
    assert len(under_way) == 24 and sum(target is not None for target in under_way) == 22
    assert under_way[11] is None and under_way[23] is None
    assert under_way[0] == 2  # the first run ended on port 1: the second starts there (serpentine)
    assert matrix.settled.all() and matrix.timing.switch_moves == 22


def test_an_abort_while_a_move_is_under_way_leaves_the_switch_link_in_step(station) -> None:
    switch = station.instruments.switch
    settings = AcquisitionSettings(switch_settle_s=0.005, wavelength_change_s=0.05, query_round_trip_s=0.0003)

    def stop_at_the_fourth_position(wavelength_index: int, launch_index: int, *_: int) -> None:
        if launch_index == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        acquire_matrix(station.instruments, WAVELENGTHS, PORTS, settings, progress=stop_at_the_fourth_position)
    # The move to the fifth port was under way: its reply was read, so the next query gets its own.
    assert switch.move_under_way is None
    assert switch.position() == 5
    again = acquire_matrix(station.instruments, WAVELENGTHS, PORTS, settings)
    assert again.settled.all()


def test_reply_wait_is_configuration_with_clear_errors() -> None:
    import tomllib

    from bench.sim_launch import example_path

    data = tomllib.loads(example_path("station_demo.toml").read_text())
    assert parse_station(data).timing.reply_wait == "near-due"
    data["timing"]["reply_wait"] = "spin"
    with pytest.raises(ConfigError, match=r"timing\.reply_wait.*near-due, sleep, poll"):
        parse_station(data)
    del data["timing"]["reply_wait"]
    data["timing"]["poll_replies"] = True  # the earlier name: told what to write instead
    with pytest.raises(ConfigError, match=r"timing\.poll_replies.*reply_wait = \"poll\""):
        parse_station(data)


@pytest.mark.parametrize("reply_wait", ["near-due", "sleep", "poll"])
def test_reply_wait_modes_read_the_same_light(reply_wait: str) -> None:
    """`[timing] reply_wait`: how the host waits for replies; the numbers do not change.

    "near-due" sleeps until just before a reply is due (a switch settle here, known from the
    station's timing), then leaves the rest to the library's read; "sleep" and "poll" leave
    the whole wait to the library. Each instrument's sleeps are recorded (and still slept);
    how long exactly is pinned on a fake clock in tests/drivers."""
    import time as time_module
    import tomllib

    from bench.run.station import open_station
    from bench.sim_launch import example_path
    from sim_instruments.scpi_server import Latency
    from sim_instruments.virtual_bench import LatencyModel, VirtualBench

    slept: list[float] = []

    def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        time_module.sleep(seconds)

    data = tomllib.loads(example_path("station_demo.toml").read_text())
    settle_s = 0.004
    data["timing"].update(reply_wait=reply_wait, switch_settle_s=settle_s, query_round_trip_s=0.0)
    config = parse_station(data)
    latency = LatencyModel(meter=Latency(), source=Latency(), switch=Latency(switch_settle_s=settle_s))
    matrices, found = [], []
    for wait in (reply_wait, "sleep"):
        with VirtualBench(config, seed=5, latency=latency) as bench, \
                open_station(config, addresses=bench.addresses) as station:
            assert all(instrument.reply_wait == wait for instrument in station.opened)
            assert station.instruments.switch.switch_settle_s == settle_s
            for instrument in station.opened:
                instrument.sleep = recording_sleep
            slept.clear()
            matrices.append(acquire_matrix(station.instruments, WAVELENGTHS, PORTS, AcquisitionSettings()))
            if wait == reply_wait:
                found = list(slept)
        config = parse_station({**data, "timing": {**data["timing"], "reply_wait": "sleep"}})
    if reply_wait == "near-due":  # slept, never past a move's settle (the longest wait here)
        assert found and max(found) <= settle_s
    else:
        assert found == []
    chosen, slept_matrix = matrices
    assert chosen.settled.all() and slept_matrix.settled.all()
    lit = chosen.power_dbm > -55
    assert lit.sum() == 24 and abs(chosen.power_dbm - slept_matrix.power_dbm)[lit].max() < 0.05


class _OnLink:
    """A fake instrument on a link of its own (or a shared one): what `acquire_matrix` overlaps."""

    def __init__(self, link: str, on_call) -> None:
        self.links = frozenset({link})
        self.on_call = on_call

    def identities(self) -> list:
        return []


class _Source(_OnLink):
    wavelengths_nm = WAVELENGTHS

    def set_output(self, enabled: bool) -> None:
        pass

    def set_wavelength(self, wavelength_nm: float) -> None:
        self.on_call("source")


class _Switch(_OnLink):
    port_count = len(PORTS)

    def select(self, launch_position: int) -> None:
        self.on_call("switch")


class _Meter(_OnLink):
    channel_count = 1

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None:
        self.on_call("meter")

    def read_all(self):
        import numpy as np

        from drivers.capabilities import PowerReadings

        return PowerReadings(np.array([1e-3]), np.array([False]))


def _bench(links: tuple[str, str, str], source_call, switch_call, meter_call):
    from procedures.instruments import BenchInstruments

    return BenchInstruments(source=_Source(links[0], source_call), switch=_Switch(links[1], switch_call),
                            meter=_Meter(links[2], meter_call))


def test_a_wavelength_step_commands_instruments_on_separate_links_at_the_same_time() -> None:
    """The source's wavelength change and the meters' reconfiguration of one step run at once:
    here each waits for the other, which only works if they do."""
    import threading

    both_running = threading.Barrier(2, timeout=2.0)  # breaks (and raises) unless both run at once
    threads: dict[str, int] = {}

    def waits_for_the_other(name: str) -> None:
        threads[name] = threading.get_ident()
        both_running.wait()

    bench = _bench(("source", "switch", "meter"), waits_for_the_other, lambda _name: None, waits_for_the_other)
    matrix = acquire_matrix(bench, WAVELENGTHS, PORTS[:2], AcquisitionSettings())
    assert matrix.settled.all()
    assert threads["source"] != threads["meter"] and threading.get_ident() in threads.values()


def test_instruments_sharing_a_link_are_commanded_one_after_the_other_and_errors_come_back() -> None:
    import threading

    calls: list[tuple[str, int]] = []

    def record(name: str) -> None:
        calls.append((name, threading.get_ident()))

    shared = _bench(("mainframe", "switch", "mainframe"), record, record, record)  # source and sensors in one 816x
    acquire_matrix(shared, WAVELENGTHS[:1], PORTS[:1], AcquisitionSettings())
    assert [name for name, _thread in calls] == ["source", "meter", "switch"]
    assert {thread for _name, thread in calls} == {threading.get_ident()}

    def refuses(_name: str) -> None:
        raise RuntimeError("switch refused the move")

    separate = _bench(("source", "switch", "meter"), lambda _name: None, refuses, lambda _name: None)
    with pytest.raises(RuntimeError, match="refused"):  # raised on a helper thread, reported here
        acquire_matrix(separate, WAVELENGTHS, PORTS[:2], AcquisitionSettings())
