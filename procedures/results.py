"""Result objects the procedures return: data first, no printing, no files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.capabilities import InstrumentIdentity


@dataclass(frozen=True)
class PowerMatrix:
    """Received power for every wavelength × launch position × receive channel."""

    wavelengths_nm: tuple[float, ...]
    launch_ports: tuple[int, ...]
    power_w: np.ndarray  # [wavelength, launch, receive], NaN where over range
    over_range: np.ndarray  # same shape, bool
    settle_time_s: np.ndarray  # [wavelength, launch]: time from switch move to a settled reading
    settled: np.ndarray  # [wavelength, launch]: False if the reading never settled within the timeout
    started_utc: dt.datetime
    finished_utc: dt.datetime
    # Achieved acquisition time against the instruments' floor (procedures.timing.CycleTiming).
    timing: Any = None

    @property
    def power_dbm(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            power_dbm = 10.0 * np.log10(self.power_w / 1e-3)
        return np.where(self.power_w > 0, power_dbm, np.nan)


@dataclass(frozen=True)
class ReferenceMeasurement:
    """Launch powers measured with the reference cords only."""

    method: str
    cord_ids: tuple[str, ...]
    matrix: PowerMatrix
    reference_channel: np.ndarray  # [launch] → 0-based receive channel that carried its light
    reference_power_dbm: np.ndarray  # [wavelength, launch]
    instruments: tuple[InstrumentIdentity, ...]
    taken_utc: dt.datetime


@dataclass(frozen=True)
class CableMeasurement:
    """One cable: the full matrix and the IL derived from it along the expected polarity."""

    matrix: PowerMatrix
    expected_receive_position: np.ndarray  # [fiber] → 1-based end-B position from the polarity map
    reference_power_dbm: np.ndarray  # [wavelength, fiber]
    dut_power_dbm: np.ndarray  # [wavelength, fiber] at the expected receive channel
    insertion_loss_db: np.ndarray  # [wavelength, fiber], NaN where no light
    problems: tuple[str, ...] = field(default=())

    @property
    def wavelengths_nm(self) -> tuple[float, ...]:
        return self.matrix.wavelengths_nm
