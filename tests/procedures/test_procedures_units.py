"""Unit tests of the procedure logic that needs no bench: polarity classification, plans, config."""

from __future__ import annotations

import numpy as np
import pytest

from bench.config.station import parse_station
from bench.errors import ConfigError
from bench.run.session_records import clip_text
from procedures.durability import DurabilityPlan
from procedures.polarity import classify_polarity, expected_receive_positions, fiber_positions
from procedures.repeatability import RepeatabilitySettings, summarize
from sim_instruments.physics import polarity_wiring


def matrix_for(fiber_count: int, wiring: np.ndarray, *, dark=(), leaks=()) -> np.ndarray:
    """power_dbm[fiber, channel] with channel c = end-B position c+1 (32 channels)."""
    power = np.full((fiber_count, 32), -80.0)
    for i, position in enumerate(fiber_positions(fiber_count)):
        if position not in dark:
            power[i, wiring[i] - 1] = -3.0
    for fiber_index, into, level in leaks:
        power[fiber_index, into - 1] = -3.0 + level
    return power


CHANNELS = np.arange(1, 33)


@pytest.mark.parametrize(("fiber_count", "polarity"), [(8, "A"), (8, "B"), (8, "C"), (12, "B"), (16, "C"),
                                                       (24, "B"), (24, "B-row-keeping"), (32, "B-row-keeping")])
def test_templates_from_data_match_the_simulators_independent_wiring(fiber_count, polarity) -> None:
    wiring = polarity_wiring(fiber_count, polarity)
    assert np.array_equal(wiring, expected_receive_positions(fiber_count, polarity))
    result = classify_polarity(matrix_for(fiber_count, wiring), CHANNELS, fiber_count=fiber_count)
    assert result.polarity_found == polarity and result.ok and result.isolation_margin_db > 30  # 77 dB against 40


def test_crossed_misrouted_dark_and_leak_are_named() -> None:
    wiring = polarity_wiring(12, "B").copy()
    wiring[[2, 3]] = wiring[[3, 2]]  # fibers 3 and 4 crossed
    wiring[7] = 1  # fiber 8 lands on position 1 (fiber 12's place)
    result = classify_polarity(matrix_for(12, wiring, dark=(6,), leaks=[(9, 5, -15.0)]), CHANNELS,
                               fiber_count=12, expected="B", isolation_threshold_db=20.0)
    assert result.polarity_found == "miswired" and result.compared_with == "B"
    assert result.crossed_pairs == ((3, 4),)
    assert result.misrouted == ((8, 1),)
    assert result.dark_positions == (6,)
    assert result.leaks == ((10, 5, 15.0),) and result.low_isolation_positions == (10,)
    assert result.isolation_margin_db == pytest.approx(-5.0)
    text = result.describe()
    assert "crossed 3<->4" in text and "misrouted 8->1" in text and "dark [6]" in text and "leaking 10->5" in text
    assert result.as_dict()["crossed_pairs"] == [[3, 4]]


def test_without_expectation_faults_are_named_against_the_nearest_template() -> None:
    wiring = polarity_wiring(24, "B-row-keeping").copy()
    wiring[[0, 1]] = wiring[[1, 0]]
    result = classify_polarity(matrix_for(24, wiring), CHANNELS, fiber_count=24)
    assert result.polarity_found == "miswired" and result.compared_with == "B-row-keeping"
    assert result.crossed_pairs == ((1, 2),)


def test_durability_plan_checkpoints_and_limits() -> None:
    assert DurabilityPlan(cycles=1000, log_every=100).checkpoints() == [0, *range(100, 1001, 100)]
    assert DurabilityPlan(cycles=25, log_every=10).checkpoints() == [0, 10, 20, 25]
    with pytest.raises(ValueError):
        DurabilityPlan(cycles=1001)
    with pytest.raises(ValueError):
        RepeatabilitySettings(matings=1)


def test_repeatability_statistics() -> None:
    il = np.array([[[0.30, 0.20]], [[0.34, 0.20]], [[0.32, 0.23]]])  # [mating, wavelength, fiber]
    result = summarize("S", RepeatabilitySettings(matings=3, max_range_db=0.035), (1, 2), (1310.0,), il)
    assert np.allclose(result.mean_db, [[0.32, 0.21]])
    assert np.allclose(result.sigma_db, [[0.02, np.std([0.2, 0.2, 0.23], ddof=1)]])
    assert np.allclose(result.range_db, [[0.04, 0.03]])
    assert result.problems() == ["fiber 1 at 1310 nm: range 0.040 dB > 0.035 dB"]


def _station(extra: str) -> dict:
    import tomllib

    from bench.sim_launch import example_path

    data = tomllib.loads(example_path("station_demo.toml").read_text())
    data.update(tomllib.loads(extra))
    return data


def test_station_golden_and_retest_settings_are_validated() -> None:
    data = _station('[retest]\npolicy = "best"\n')
    data["reference"]["golden"] = {"serial": "G1", "fiber_count": 8, "tolerance_db": 0.05,
                                   "expected_il_db": {"1310": [0.1] * 8}}
    config = parse_station(data)
    assert config.retest_policy == "best"
    assert config.reference.golden.expected_il_db == {1310.0: (0.1,) * 8}
    data["reference"]["golden"]["expected_il_db"] = {"1310": [0.1] * 7}
    with pytest.raises(ConfigError, match="8 numbers"):
        parse_station(data)
    with pytest.raises(ConfigError, match="retest.policy"):
        parse_station(_station('[retest]\npolicy = "first"\n'))


def test_clip_text_fits_the_store_field() -> None:
    text = "ΔIL " * 100
    clipped = clip_text(text, 128)
    assert len(clipped.encode()) <= 128 and clipped.endswith("…")
    assert clip_text("short", 128) == "short"


def _logged_meter(exchanges: list, name: str, log: list[str]) -> object:
    """An N774x on a protocol fake whose writes and reads go into one log shared by several."""
    from drivers.keysight_n774x import KeysightN774x
    from tests.protocol import ProtocolResource

    resource = ProtocolResource([("*IDN?", "Keysight Technologies,N7745A,MY1,V1"), *exchanges], name=name)
    meter = KeysightN774x(resource, name=name)
    write, read, query = resource.write, resource.read, resource.query
    resource.write = lambda command: (log.append(f"{name} > {command}"), write(command))[1]  # type: ignore[method-assign]
    resource.read = lambda: (log.append(f"{name} <"), read())[1]  # type: ignore[method-assign]
    resource.query = lambda command: (log.append(f"{name} > {command} <"), query(command))[1]  # type: ignore[method-assign]
    return meter


def test_error_queues_are_read_in_one_round_trip_and_an_error_is_drained_whole() -> None:
    from procedures.sanity import drain_error_queues

    log: list[str] = []
    no_error = ("SYST:ERR?", '+0,"No error"')
    first = _logged_meter([("SYST:ERR?", '-222,"Data out of range"'), ("SYST:ERR?", '-113,"Undefined header"'),
                           no_error], "TCPIP::A::SOCKET", log)
    second = _logged_meter([no_error], "TCPIP::B::SOCKET", log)
    faults = drain_error_queues([first, second])
    assert log[:2] == ["TCPIP::A::SOCKET > SYST:ERR?", "TCPIP::B::SOCKET > SYST:ERR?"]  # both asked first
    assert len(faults) == 1 and "TCPIP::A::SOCKET" in faults[0].detail
    assert "-222" in faults[0].detail and "-113" in faults[0].detail  # the whole queue, in order
    assert all(resource.position == len(resource.exchanges)
               for resource in (first.resource, second.resource))  # type: ignore[attr-defined]


def test_instruments_sharing_an_address_are_asked_one_after_the_other() -> None:
    from procedures.sanity import drain_error_queues

    log: list[str] = []
    no_error = ("SYST:ERR?", '+0,"No error"')
    source_side = _logged_meter([no_error], "GPIB0::20::INSTR", log)
    sensor_side = _logged_meter([no_error], "GPIB0::20::INSTR", log)
    assert drain_error_queues([source_side, sensor_side]) == []
    # One output queue behind one address: each reply is read before the next query goes out.
    assert log == ["GPIB0::20::INSTR > SYST:ERR? <"] * 2


def test_error_queries_sent_ahead_are_read_back_when_the_work_between_fails() -> None:
    from procedures.sanity import ErrorQueueQueries

    log: list[str] = []
    no_error = ("SYST:ERR?", '+0,"No error"')
    first = _logged_meter([("SYST:ERR?", '-222,"Data out of range"'), no_error], "TCPIP::A::SOCKET", log)
    second = _logged_meter([no_error], "TCPIP::B::SOCKET", log)
    queries = ErrorQueueQueries([first, second])
    assert log == ["TCPIP::A::SOCKET > SYST:ERR?", "TCPIP::B::SOCKET > SYST:ERR?"]  # sent, nothing read yet
    queries.abandon()  # e.g. grading raised: the replies owed are read so each link stays in step
    assert log[2:] == ["TCPIP::A::SOCKET <", "TCPIP::A::SOCKET > SYST:ERR? <", "TCPIP::B::SOCKET <"]
    assert all(resource.position == len(resource.exchanges)
               for resource in (first.resource, second.resource))  # type: ignore[attr-defined]
