"""Each instrument fault × the phase it strikes in: the record's outcome, the store, the next cable.

Every case runs the same line: reference, a clean cable (an earlier record),
the fault on the next cable, then the fault cleared and one more cable. The
faulty cable is ERROR with its cause and an operator instruction, or — when a
safe retry recovered it — PASS with the true IL and the recovery in the record;
never a FAIL and never a PASS built on a wrong reading. The cable after it
PASSes with the true IL, and every earlier record is intact in the store.
docs/reliability.md has the same matrix as a table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.run.session import ReferenceRequired
from bench.run.station import open_station
from drivers.errors import InstrumentError, WrongInstrumentError
from procedures.reference import ReferenceProblem
from sim_instruments.faults import Fault
from sim_instruments.virtual_bench import VirtualBench
from tests.faults.conftest import SEED, Line, fault_station_config, make_line

# Which instrument each phase strikes in these tests (configure: a meter's wavelength change).
WHERE = {"configure": "meter1", "switch": "switch", "reading": "meter2"}
LINK_FAULTS = ("reset", "timeout", "garbage", "truncated")

# (fault kind, phase, instrument, times, extra Fault options, expected outcome of the faulty cable)
CABLE_CASES: list[tuple[str, str, str, int | None, dict, str]] = []
for _kind in LINK_FAULTS:
    for _phase, _where in WHERE.items():
        CABLE_CASES.append((_kind, _phase, _where, 1, {}, "PASS"))  # one glitch: recovered
        CABLE_CASES.append((_kind, _phase, _where, None, {}, "ERROR"))  # persistent: the budget runs out
CABLE_CASES += [
    ("reset", "configure", "source", 1, {}, "PASS"),
    ("timeout", "configure", "source", None, {}, "ERROR"),
    ("garbage", "switch", "switch", 2, {}, "PASS"),  # two glitches in one operation: still within budget
    # Mid-cable, on a move sent ahead and confirmed at the next step (`end_select`).
    *[(kind, "switch", "switch", 1, {"after": 7}, "PASS") for kind in LINK_FAULTS],
    ("scpi_error", "switch", "switch", 1, {"after": 7}, "ERROR"),
    ("scpi_error", "configure", "meter1", 1, {}, "ERROR"),
    ("scpi_error", "configure", "source", 1, {}, "ERROR"),
    ("scpi_error", "switch", "switch", 1, {}, "ERROR"),
    ("scpi_error", "reading", "meter2", 1, {"scpi_error": (-231, "Data questionable")}, "ERROR"),
    ("overrange", "reading", "meter1", 1, {"channel": 3}, "PASS"),  # one bad reading: re-read by the settle rule
    # The second reading of the first position, where channel 3 is dark: re-read, never paired with dark.
    ("overrange", "reading", "meter1", 1, {"channel": 3, "after": 1}, "PASS"),
    ("overrange", "reading", "meter1", None, {"channel": 3}, "ERROR"),
    ("underrange", "reading", "meter2", 1, {"channel": 2}, "PASS"),
    ("underrange", "reading", "meter2", None, {"channel": 2}, "ERROR"),
    ("unsettled", "reading", "meter1", 2, {}, "PASS"),
    ("unsettled", "reading", "meter1", None, {"amount_db": 0.3}, "ERROR"),
    ("laser_off", "configure", "source", 1, {}, "ERROR"),  # off at the wavelength change: all dark
    ("laser_off", "reading", "meter1", 1, {"after": 9}, "ERROR"),  # off half-way: source reports off
    ("unstable_source", "reading", "meter1", None, {"amount_db": 0.3}, "ERROR"),
    ("switch_stuck", "switch", "switch", None, {}, "ERROR"),  # stuck for good
    ("switch_stuck", "switch", "switch", 1, {"after": 4}, "ERROR"),  # one move missed
    ("switch_stuck", "switch", "switch", 1, {"after": 11}, "ERROR"),  # the last move missed
]


def _id(case: tuple) -> str:
    kind, phase, where, times, options, expected = case
    return f"{kind}-{phase}-{where}-x{'inf' if times is None else times}" + (
        f"-after{options['after']}" if "after" in options else "") + f"-{expected}"


@pytest.mark.parametrize("case", CABLE_CASES, ids=[_id(c) for c in CABLE_CASES])
def test_fault_on_a_cable(line: Line, case: tuple) -> None:
    kind, phase, where, times, options, expected = case
    line.reference()
    earlier = line.test()
    assert earlier.outcome == "PASS"

    fault = line.bench.inject(where, Fault(kind, phase=phase, times=times, **options))
    faulty = line.test()
    line.bench.clear_faults()
    assert fault.strikes >= 1, "the fault never struck: the case tests nothing"

    record = faulty.record
    assert record.outcome == expected, record.reason
    if expected == "ERROR":
        assert record.reason and "Operator:" in record.reason  # the cause and what to do
    else:
        line.assert_true_il(faulty)
        if kind in LINK_FAULTS:
            assert record.extra["recoveries"], "a recovered link fault is reported in the record"

    after = line.test()  # the station is usable for the next cable
    assert after.outcome == "PASS", after.record.reason
    line.assert_true_il(after)
    line.assert_store_intact()


REFERENCE_CASES: list[tuple[str, str, int | None, dict, str]] = [
    *[(kind, "meter2", 1, {}, "ok") for kind in LINK_FAULTS],
    *[(kind, "meter2", None, {}, "refused") for kind in ("reset", "timeout", "garbage", "truncated")],
    ("scpi_error", "meter2", 1, {}, "refused"),
    ("overrange", "meter1", None, {}, "refused"),
    ("unsettled", "meter1", None, {}, "refused"),
    ("laser_off", "meter1", 1, {}, "refused"),
    ("unstable_source", "meter1", None, {}, "refused"),
    ("switch_stuck", "switch", None, {"match": ":ROUT"}, "refused"),
]


@pytest.mark.parametrize("case", REFERENCE_CASES,
                         ids=[f"{c[0]}-{c[1]}-x{'inf' if c[2] is None else c[2]}-{c[4]}" for c in REFERENCE_CASES])
def test_fault_during_the_reference(line: Line, case: tuple) -> None:
    kind, where, times, options, expected = case
    line.reference()
    earlier = line.test()
    options = {"phase": "reference", **options}
    fault = line.bench.inject(where, Fault(kind, times=times, **options))
    if expected == "ok":
        line.reference()
    else:
        with pytest.raises((InstrumentError, ReferenceProblem)) as raised:
            line.reference()
        assert str(raised.value)
    line.bench.clear_faults()
    assert fault.strikes >= 1
    assert earlier.outcome == "PASS"
    line.assert_store_intact()  # the refused reference stored nothing, the earlier cable is intact
    if expected == "refused":
        line.reference()  # the fault is gone: a new reference is taken on the same station
    after = line.test()
    assert after.outcome == "PASS", after.record.reason
    line.assert_true_il(after)
    line.assert_store_intact()


@pytest.mark.parametrize("phase", ["configure", "switch", "reading"])
def test_instrument_replaced_is_refused_until_the_station_is_reopened(tmp_path: Path, phase: str) -> None:
    config = fault_station_config()
    where = {"configure": "source", "switch": "switch", "reading": "meter1"}[phase]
    with VirtualBench(config, seed=SEED) as bench:
        same_model = bench.instruments[where].idn.split(",")
        same_model[2] = "SWAPPED01"  # another unit of the same model: its calibration is not this one's
        station = open_station(config, addresses=bench.addresses)
        line = make_line(bench, station, tmp_path / "swap.h5")
        try:
            line.reference()
            assert line.test().outcome == "PASS"
            bench.inject(where, Fault("idn_change", phase=phase, new_idn=",".join(same_model)))
            swapped = line.test()
            assert swapped.outcome == "ERROR"
            assert "replaced" in swapped.record.reason and "SWAPPED01" in swapped.record.reason
            assert "reopen the station" in swapped.record.reason
            with pytest.raises(ReferenceRequired, match="replaced"):
                line.test()  # refused before any measurement: nothing stored
            line.assert_store_intact()
        finally:
            line.store.close()
            station.close()
        # The operator reopens the station: the new unit is identified, a new reference is taken.
        with open_station(config, addresses=bench.addresses) as reopened:
            again = make_line(bench, reopened, tmp_path / "swap2.h5")
            try:
                again.reference()
                after = again.test()
                assert after.outcome == "PASS"
                assert any(row["serial_number"] == "SWAPPED01" for row in after.record.instruments)
            finally:
                again.store.close()


def test_another_model_at_the_address_is_refused_at_opening(tmp_path: Path) -> None:
    config = fault_station_config()
    with VirtualBench(config, seed=SEED) as bench:
        bench.instruments["source"].idn = "Agilent Technologies,8163B,MY12345678,V5.25(72637)"
        with pytest.raises(WrongInstrumentError, match="8164B"):
            open_station(config, addresses=bench.addresses)


def test_budget_is_per_cable_and_bounded(line: Line) -> None:
    """Many glitches on one cable exhaust the per-cable budget (ERROR); the next cable starts afresh."""
    line.reference()
    line.session.retry_budget.limit = 2
    line.bench.inject("switch", Fault("reset", phase="switch", times=3, after=1))
    faulty = line.test()
    line.bench.clear_faults()
    assert faulty.outcome == "ERROR"
    assert len(faulty.record.extra["recoveries"]) == 2
    after = line.test()
    assert after.outcome == "PASS" and "recoveries" not in after.record.extra


def test_a_dark_fiber_is_still_a_fail_not_an_error(line: Line) -> None:
    """The all-dark rule must not turn a cable fault into an instrument fault."""
    from sim_instruments.physics import make_cable, with_dark_fibers

    line.reference()
    broken = with_dark_fibers(make_cable("MTP12-900001", seed=SEED), 3)
    outcome = line.test(broken)
    assert outcome.outcome == "FAIL", outcome.record.reason


def test_a_miswired_cable_survives_the_switch_check_as_a_fail(line: Line) -> None:
    """Two fibers on one end-B position trigger the switch self-test, which clears the switch: FAIL."""
    from sim_instruments.physics import make_cable, with_rerouted_fiber

    line.reference()
    miswired = with_rerouted_fiber(make_cable("MTP12-900002", seed=SEED), 2, 12)
    outcome = line.test(miswired)
    assert outcome.outcome == "FAIL", outcome.record.reason
    assert "switch" not in outcome.record.reason


def test_nothing_connected_is_an_error_not_a_fail(line: Line) -> None:
    from sim_instruments.physics import make_cable

    line.reference()
    cable = make_cable("MTP12-900003", seed=SEED)
    cable.unmate()
    outcome = line.test(cable)
    assert outcome.outcome == "ERROR" and "no light on any receive channel" in outcome.record.reason


def test_serial_switch_faults_are_recovered_or_refused(tmp_path: Path) -> None:
    """The DiCon MEMS on a pseudo-terminal: a lost reply is recovered; a stuck mirror is caught by read-back."""
    from bench.config.station import parse_station
    from bench.config.tomlio import read_toml
    from bench.sim_launch import example_path

    data = read_toml(example_path("station_mixed.toml"))
    for entry in data["instruments"]:
        if entry["role"] == "switch":
            entry["timeout_s"] = 0.3  # a lost reply costs 0.3 s, not the example's 2 s
    config = parse_station(data, "<mixed, short switch timeout>")
    with VirtualBench(config, seed=SEED) as bench, open_station(config, addresses=bench.addresses) as station:
        switch = next(entry.name for entry in config.instruments if entry.role == "switch")
        driver = next(instrument for instrument in station.opened if instrument.name == switch)
        assert driver.timeout_s == 0.3
        driver.select(1)
        bench.inject(switch, Fault("timeout", match=r"^I1\?", times=1))
        driver.select(2)  # the read-back reply is lost once: reconnect, move again, confirmed
        assert driver.position() == 2 and driver.retry_budget.history
        bench.inject(switch, Fault("switch_stuck", phase="switch", times=None))
        with pytest.raises(InstrumentError, match="reports output 2"):
            driver.select(3)
        bench.clear_faults()
        driver.select(3)
        assert driver.position() == 3
