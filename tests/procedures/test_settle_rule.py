"""The settle rule through `procedures.acquisition.settled_read`, on a meter that replays given readings.

Two consecutive readings must agree on every channel that carries signal; faint and dark channels
do not hold it up; a position is unsettled only after a disagreement was read again; and a channel
the meter flags over range is neither a power nor dark: it agrees only with over range.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from drivers.capabilities import PowerReadings
from procedures.acquisition import settled_read
from procedures.instruments import BenchInstruments
from procedures.timing import TimingSettings

OVER = "over range"  # a channel the meter flags over range (NaN in power_w, True in over_range)
LIT_DBM, DARK_DBM = -3.0, -100.0  # settle_floor_dbm is −60 dBm


def watts(dbm: float) -> float:
    return 10 ** (dbm / 10) * 1e-3


def reading_dbm(*channels: float | str) -> PowerReadings:
    over = np.array([value == OVER for value in channels])
    power_w = np.array([np.nan if value == OVER else watts(float(value)) for value in channels])
    return PowerReadings(power_w, over)


def reading_w(*power_w: float) -> PowerReadings:
    return PowerReadings(np.array(power_w), np.zeros(len(power_w), dtype=bool))


class ReplayMeter:
    """A meter (`read_all` only) whose readings are the given ones in turn; the last one repeats."""

    def __init__(self, readings: Sequence[PowerReadings]) -> None:
        self.readings = list(readings)
        self.channel_count = self.readings[0].power_w.size
        self.taken = 0

    def read_all(self) -> PowerReadings:
        reading = self.readings[min(self.taken, len(self.readings) - 1)]
        self.taken += 1
        return reading


def settle(readings: Sequence[PowerReadings], settings: TimingSettings | None = None,
           clock: Callable[[], float] = lambda: 0.0) -> tuple[PowerReadings, bool, int]:
    """(the reading kept, settled, readings taken)."""
    meter = ReplayMeter(readings)
    bench = BenchInstruments(source=None, switch=None, meter=meter)  # type: ignore[arg-type]  # only the meter reads
    kept, _elapsed_s, ok = settled_read(bench, settings or TimingSettings(), clock)
    return kept, ok, meter.taken


@pytest.mark.parametrize(("readings_dbm", "settled", "taken"), [
    ([-3.0, -3.02, -3.021], True, 3),  # one noisy pair after a slow first reading: read again, settled
    ([-3.0, -3.1, -3.2, -3.3], False, 3),  # still moving on the third: unsettled
])
def test_a_position_is_unsettled_only_after_a_disagreement_was_read_again(
        readings_dbm: list[float], settled: bool, taken: int) -> None:
    ticks = itertools.chain([0.0], itertools.repeat(10.0))  # the first reading took past the 2 s timeout
    _kept, ok, count = settle([reading_dbm(value) for value in readings_dbm], TimingSettings(settle_timeout_s=2.0),
                              lambda: next(ticks))
    assert (ok, count) == (settled, taken)


def test_settling_ignores_dark_faint_and_unread_channels_and_holds_the_tolerance_exactly() -> None:
    settings = TimingSettings(settle_tolerance_db=0.01, settle_floor_dbm=-60.0)
    bright_w, faint_w, dark_w = 1e-3, 1e-3 * 10 ** (-3.5), 1e-13  # 0 dBm, 35 dB under it, −100 dBm
    before = reading_w(bright_w, faint_w, dark_w, np.nan, 2e-4)  # NaN, not flagged: a channel not read
    # Exactly the tolerance on the bright channel still agrees; the faint and dark ones may change freely.
    within = reading_w(bright_w * 10 ** (0.01 / 10), faint_w * 3, dark_w * 50, np.nan, 2e-4)
    assert settle([before, within], settings)[1:] == (True, 2)
    for changed in (reading_w(bright_w * 10 ** (0.0101 / 10), faint_w, dark_w, np.nan, 2e-4),  # beyond it
                    reading_w(bright_w * 10 ** (-0.0101 / 10), faint_w, dark_w, np.nan, 2e-4),  # below it
                    reading_w(bright_w, faint_w, dark_w, np.nan, dark_w)):  # a channel lost its light
        kept, ok, taken = settle([before, changed], settings)  # the changed reading then repeats
        assert (ok, taken) == (True, 3) and kept is changed
    assert settle([reading_w(*[dark_w] * 5)] * 2, settings)[1:] == (True, 2)  # all dark: settled, and dark


# Channel 0 is lit, channel 1 dark, unless the meter flags it over range.
@pytest.mark.parametrize(("readings", "taken"), [
    ([(LIT_DBM, DARK_DBM), (LIT_DBM, OVER), (LIT_DBM, DARK_DBM)], 4),  # the second of a dark pair
    ([(LIT_DBM, OVER), (LIT_DBM, DARK_DBM)], 3),  # the first of a dark pair
    ([(OVER, DARK_DBM), (LIT_DBM, DARK_DBM)], 3),  # the first of a lit pair
    ([(LIT_DBM, DARK_DBM), (OVER, DARK_DBM), (LIT_DBM, DARK_DBM)], 4),  # the second of a lit pair
])
def test_one_over_range_reading_is_read_again_never_kept_as_dark_or_as_a_power(readings: list, taken: int) -> None:
    kept, ok, count = settle([reading_dbm(*channels) for channels in readings])
    # Two clean readings had to agree after the over-range one: it was paired with neither.
    assert (ok, count) == (True, taken)
    assert not kept.over_range.any()
    np.testing.assert_allclose(kept.power_dbm, [LIT_DBM, DARK_DBM])


@pytest.mark.parametrize("channels", [(LIT_DBM, OVER), (OVER, DARK_DBM), (OVER, OVER)])
def test_over_range_in_both_readings_settles_as_over_range(channels: tuple) -> None:
    kept, ok, count = settle([reading_dbm(*channels)] * 2)
    assert (ok, count) == (True, 2)
    flagged = [value == OVER for value in channels]
    assert kept.over_range.tolist() == flagged  # reported as over range (the cable is then ERROR)
    assert np.isnan(kept.power_w[flagged]).all()  # and never a number


def test_over_range_that_comes_and_goes_never_settles() -> None:
    ticks = itertools.count()  # one second per look at the clock; settle_timeout_s is 2 s
    kept, ok, count = settle([reading_dbm(LIT_DBM, OVER), reading_dbm(LIT_DBM, DARK_DBM)] * 10,
                             TimingSettings(settle_timeout_s=2.0), lambda: float(next(ticks)))
    assert not ok and count >= 3
