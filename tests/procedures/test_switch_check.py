"""`procedures.sanity.check_switch` after a cable: when it moves the switch to look again, and what it concludes.

The matrix is built from the channel each launch position lit ([wavelength][launch], −1: dark); the
bench replays, for the port the switch is at, the channel that port lights now.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from drivers.capabilities import PowerReadings
from procedures.instruments import BenchInstruments
from procedures.results import PowerMatrix
from procedures.sanity import brightest_channels, check_switch
from procedures.timing import TimingSettings

CHANNELS = 8
PORTS = (11, 12, 13, 14, 15)  # launch index i is on switch port PORTS[i]
LIT_W, DARK_W = 1e-3, 1e-13


def lit_at(channel: int) -> np.ndarray:
    power_w = np.full(CHANNELS, DARK_W)
    if channel >= 0:
        power_w[channel] = LIT_W
    return power_w


class Switch:
    def __init__(self) -> None:
        self.port: int | None = None
        self.moves: list[int] = []

    def select(self, port: int) -> None:
        self.port = port
        self.moves.append(port)


class Meter:
    """Reads the channel the switch's port lights now."""

    channel_count = CHANNELS

    def __init__(self, switch: Switch, lights_now: dict[int, int]) -> None:
        self.switch, self.lights_now = switch, lights_now

    def read_all(self) -> PowerReadings:
        return PowerReadings(lit_at(self.lights_now[self.switch.port]), np.zeros(CHANNELS, dtype=bool))


def check(measured: list[list[int]], lights_now: dict[int, int] | None = None):
    """(the fault found or None, the ports the switch was sent to look at again)."""
    ports = PORTS[:len(measured[0])]
    power_w = np.array([[lit_at(channel) for channel in row] for row in measured])
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    matrix = PowerMatrix(tuple(1310.0 + 240 * w for w in range(len(measured))), ports, power_w,
                         np.zeros(power_w.shape, dtype=bool), np.zeros(power_w.shape[:2]),
                         np.ones(power_w.shape[:2], dtype=bool), now, now)
    switch = Switch()
    meter = Meter(switch, lights_now or dict(zip(ports, measured[0], strict=True)))
    bench = BenchInstruments(source=None, switch=switch, meter=meter)  # type: ignore[arg-type]
    brightest = brightest_channels(matrix.power_dbm, -60.0)
    fault = check_switch(bench, matrix, TimingSettings(), brightest)
    # Each look is a move away and a move back: the second of each pair is the port looked at.
    return fault, switch.moves[1::2]


@pytest.mark.parametrize("measured", [
    [[0, 1, 2, 3, -1], [0, 1, 2, 3, -1]],  # each lit position on a channel of its own, one dark (an open fiber)
    [[0, -1, 2], [0, 1, 2]],  # dark at one wavelength only: not the switch
])
def test_positions_on_channels_of_their_own_leave_the_switch_alone(measured) -> None:
    assert check(measured) == (None, [])


def test_two_positions_on_one_channel_are_looked_at_again_after_a_position_of_its_own() -> None:
    fault, looked_at = check([[0, 0, 2, 3, 4], [0, 0, 2, 3, 4]])
    assert looked_at == [PORTS[2], PORTS[0], PORTS[1]]  # a probe with its own channel, then each suspect
    assert fault is None  # the switch repeats the measurement: the cable is miswired and is graded


def test_a_probe_that_now_lights_another_channel_is_a_stuck_switch() -> None:
    measured = [[0, 0, 2, 3, 4], [0, 0, 2, 3, 4]]
    fault, looked_at = check(measured, lights_now={PORTS[0]: 0, PORTS[1]: 0, PORTS[2]: 0, PORTS[3]: 0,
                                                   PORTS[4]: 0})
    assert fault is not None and fault.kind == "switch" and "stuck" in fault.detail
    assert looked_at == [PORTS[2]]


def test_three_positions_on_one_channel_with_none_of_its_own_is_a_stuck_switch_without_moving() -> None:
    fault, looked_at = check([[5, 5, 5], [5, 5, 5]])
    assert fault is not None and fault.kind == "switch" and "3 or more" in fault.detail
    assert looked_at == []


def test_light_that_changes_channel_with_wavelength_is_a_missed_move() -> None:
    fault, looked_at = check([[0, 1, 2, 3, 4], [0, 1, 3, 2, 4]])
    assert looked_at[0] == PORTS[0] and looked_at[1] == PORTS[2]  # the probe, then the first suspect
    assert fault is not None and fault.kind == "switch" and f"switch port {PORTS[2]}" in fault.detail
    assert "missed a move" in fault.detail
