"""Reference measurement: launch powers through the reference cords alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from procedures.acquisition import Progress, acquire_matrix
from procedures.insertion_loss import measure_cable
from procedures.instruments import BenchInstruments
from procedures.results import CableMeasurement, ReferenceMeasurement
from procedures.timing import TimingSettings


class ReferenceProblem(Exception):
    """The reference itself is unusable (dark or ambiguous launch positions)."""


def measure_reference(instruments: BenchInstruments, *, wavelengths_nm: Sequence[float],
                      launch_ports: Sequence[int], method: str, cord_ids: Sequence[str] = (),
                      settings: TimingSettings | None = None,
                      progress: Progress | None = None, dark_below_dbm: float = -60.0) -> ReferenceMeasurement:
    """Measure every launch port at every wavelength with only the reference cords connected.

    The receive channel that carries each launch port's light is found from the
    data (brightest channel), so a reference never depends on a wiring assumption.
    """
    matrix = acquire_matrix(instruments, wavelengths_nm, launch_ports, settings or TimingSettings(),
                            progress)
    power_dbm = matrix.power_dbm
    filled = np.where(np.isnan(power_dbm), -np.inf, power_dbm)
    reference_channel = np.argmax(filled[0], axis=1)
    launch_index = np.arange(len(launch_ports))
    reference_power_dbm = power_dbm[:, launch_index, reference_channel]
    dark = ~(reference_power_dbm > dark_below_dbm)
    if dark.any():
        wavelength_index, launch = np.argwhere(dark)[0]
        if matrix.over_range[wavelength_index, launch].any():  # too much light reads as none: say which
            raise ReferenceProblem(
                f"a detector was over range on launch position {launch + 1} at "
                f"{wavelengths_nm[wavelength_index]:g} nm during the reference: the light is too strong for the "
                "meter's range; set the meter's range (or auto range) or the source power, then re-reference")
        raise ReferenceProblem(
            f"no light on launch position {launch + 1} at {wavelengths_nm[wavelength_index]:g} nm during "
            f"the reference; clean and reconnect the reference cords, then re-reference")
    if len(set(reference_channel.tolist())) != len(reference_channel):
        raise ReferenceProblem("two launch positions lit the same receive channel during the reference; "
                               "check the reference cords' wiring")
    return ReferenceMeasurement(method, tuple(cord_ids), matrix, reference_channel, reference_power_dbm,
                                tuple(instruments.identities()), matrix.finished_utc)


@dataclass(frozen=True)
class GoldenCheck:
    """The golden cable measured against the current reference and compared with what it should read.

    `expected_il_db` is [wavelength, fiber]: the golden cable's certified IL, or
    what it read right after the reference was taken (then this check is that
    baseline and `baseline` is True). The bench has drifted when any
    |measured − expected| exceeds `tolerance_db` or a fiber gives no light.
    """

    serial: str
    measurement: CableMeasurement
    expected_il_db: np.ndarray
    tolerance_db: float
    baseline: bool = False

    @property
    def delta_db(self) -> np.ndarray:
        return self.measurement.insertion_loss_db - self.expected_il_db

    @property
    def worst_delta_db(self) -> float:
        delta = np.abs(self.delta_db)
        return float(np.nanmax(delta)) if np.isfinite(delta).any() else float("nan")

    @property
    def drifted(self) -> bool:
        return bool(np.any(~np.isfinite(self.delta_db)) or np.any(np.abs(self.delta_db) > self.tolerance_db))

    def describe(self, fiber_positions: Sequence[int]) -> str:
        if self.baseline:
            return (f"golden cable {self.serial} measured as the baseline of this reference "
                    f"(mean IL {np.nanmean(self.measurement.insertion_loss_db):.3f} dB)")
        delta = np.where(np.isfinite(self.delta_db), np.abs(self.delta_db), np.inf)
        w, i = np.unravel_index(int(np.argmax(delta)), delta.shape)
        where = f"fiber {fiber_positions[i]} at {self.measurement.wavelengths_nm[w]:g} nm"
        if not np.isfinite(delta[w, i]):
            return f"golden cable {self.serial}: no light on {where}"
        verb = "exceeds" if self.drifted else "within"
        return (f"golden cable {self.serial}: |ΔIL| {delta[w, i]:.3f} dB at {where} {verb} the "
                f"tolerance {self.tolerance_db:.3f} dB")


def check_golden(instruments: BenchInstruments, reference: ReferenceMeasurement, *, serial: str,
                 fiber_positions: Sequence[int], expected_receive_position: Sequence[int],
                 expected_il_db: np.ndarray | None, tolerance_db: float,
                 wavelengths_nm: Sequence[float] | None = None,
                 settings: TimingSettings | None = None) -> GoldenCheck:
    """Measure the connected golden cable; with `expected_il_db` None the reading becomes the baseline."""
    measurement = measure_cable(instruments, reference, fiber_positions, expected_receive_position,
                                wavelengths_nm=wavelengths_nm, settings=settings)
    if expected_il_db is None:
        return GoldenCheck(serial, measurement, measurement.insertion_loss_db.copy(), tolerance_db, baseline=True)
    expected = np.asarray(expected_il_db, dtype=np.float64)
    if expected.shape != measurement.insertion_loss_db.shape:
        raise ValueError(f"golden cable {serial}: expected IL has shape {expected.shape}, the measurement "
                         f"{measurement.insertion_loss_db.shape} (wavelength, fiber)")
    return GoldenCheck(serial, measurement, expected, tolerance_db)
