"""The measurement loop shared by every procedure: light each launch port, read all channels."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from drivers.capabilities import PowerReadings
from procedures.instruments import BenchInstruments
from procedures.results import PowerMatrix, utc_now

# Called after each launch position with (wavelength index, launch index, totals).
Progress = Callable[[int, int, int, int], None]

# Channels this far below the brightest one carry no signal; their relative
# noise is large and must not hold up settling.
_SETTLE_IGNORE_BELOW_DB = 30.0


@dataclass(frozen=True)
class AcquisitionSettings:
    averaging_time_s: float = 0.001
    settle_tolerance_db: float = 0.01
    settle_timeout_s: float = 2.0
    laser_on_settle_s: float = 0.0
    # Readings below this carry no light (a dark fiber, an unlit channel): their
    # noise is all the meter's, so they never hold up settling.
    settle_floor_dbm: float = -60.0


def _significant_dbm(readings: PowerReadings, floor_dbm: float = -60.0) -> np.ndarray:
    power_dbm = readings.power_dbm
    power_dbm = np.where(power_dbm >= floor_dbm, power_dbm, np.nan)
    if np.all(np.isnan(power_dbm)):
        return power_dbm
    brightest_dbm = np.nanmax(power_dbm)
    return np.where(power_dbm >= brightest_dbm - _SETTLE_IGNORE_BELOW_DB, power_dbm, np.nan)


def settled_read(instruments: BenchInstruments, settings: AcquisitionSettings,
                 clock: Callable[[], float] = time.monotonic) -> tuple[PowerReadings, float, bool]:
    """Read until two consecutive readings agree within tolerance, or the timeout.

    Returns the last reading, the time spent, and whether it settled. No sleep:
    each reading already costs one averaging time on the instrument.
    """
    started = clock()
    previous = instruments.meter.read_all()
    while True:
        current = instruments.meter.read_all()
        before = _significant_dbm(previous, settings.settle_floor_dbm)
        after = _significant_dbm(current, settings.settle_floor_dbm)
        comparable = ~np.isnan(before) & ~np.isnan(after)
        same_lit = np.array_equal(np.isnan(before), np.isnan(after))
        if same_lit and (not comparable.any()
                         or np.max(np.abs(after[comparable] - before[comparable])) <= settings.settle_tolerance_db):
            return current, clock() - started, True
        if clock() - started > settings.settle_timeout_s:
            return current, clock() - started, False
        previous = current


def acquire_matrix(instruments: BenchInstruments, wavelengths_nm: Sequence[float],
                   launch_ports: Sequence[int], settings: AcquisitionSettings,
                   progress: Progress | None = None) -> PowerMatrix:
    """Power at every receive channel for each wavelength and launch port (wavelength-outer:
    a wavelength change costs far more than a MEMS switch move)."""
    started_utc = utc_now()
    n_wavelengths, n_launch = len(wavelengths_nm), len(launch_ports)
    n_receive = instruments.meter.channel_count
    power_w = np.full((n_wavelengths, n_launch, n_receive), np.nan)
    over_range = np.zeros((n_wavelengths, n_launch, n_receive), dtype=bool)
    settle_time_s = np.zeros((n_wavelengths, n_launch))
    settled = np.zeros((n_wavelengths, n_launch), dtype=bool)
    instruments.source.set_output(True)
    if settings.laser_on_settle_s:
        time.sleep(settings.laser_on_settle_s)  # the source's specified warm-up, not a guess
    for wavelength_index, wavelength_nm in enumerate(wavelengths_nm):
        instruments.source.set_wavelength(wavelength_nm)
        instruments.meter.configure(wavelength_nm, settings.averaging_time_s)
        for launch_index, launch_port in enumerate(launch_ports):
            instruments.switch.select(launch_port)
            readings, elapsed_s, ok = settled_read(instruments, settings)
            power_w[wavelength_index, launch_index] = readings.power_w
            over_range[wavelength_index, launch_index] = readings.over_range
            settle_time_s[wavelength_index, launch_index] = elapsed_s
            settled[wavelength_index, launch_index] = ok
            if progress is not None:
                progress(wavelength_index, launch_index, n_wavelengths, n_launch)
    return PowerMatrix(tuple(float(w) for w in wavelengths_nm), tuple(launch_ports), power_w, over_range,
                       settle_time_s, settled, started_utc, utc_now())
