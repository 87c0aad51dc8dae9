"""Reference measurement: launch powers through the reference cords alone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from procedures.acquisition import AcquisitionSettings, Progress, acquire_matrix
from procedures.instruments import BenchInstruments
from procedures.results import ReferenceMeasurement


class ReferenceProblem(Exception):
    """The reference itself is unusable (dark or ambiguous launch positions)."""


def measure_reference(instruments: BenchInstruments, *, wavelengths_nm: Sequence[float],
                      launch_ports: Sequence[int], method: str, cord_ids: Sequence[str] = (),
                      settings: AcquisitionSettings | None = None,
                      progress: Progress | None = None, dark_below_dbm: float = -60.0) -> ReferenceMeasurement:
    """Measure every launch port at every wavelength with only the reference cords connected.

    The receive channel that carries each launch port's light is found from the
    data (brightest channel), so a reference never depends on a wiring assumption.
    """
    matrix = acquire_matrix(instruments, wavelengths_nm, launch_ports, settings or AcquisitionSettings(),
                            progress)
    power_dbm = matrix.power_dbm
    filled = np.where(np.isnan(power_dbm), -np.inf, power_dbm)
    reference_channel = np.argmax(filled[0], axis=1)
    launch_index = np.arange(len(launch_ports))
    reference_power_dbm = power_dbm[:, launch_index, reference_channel]
    dark = ~(reference_power_dbm > dark_below_dbm)
    if dark.any():
        wavelength_index, launch = np.argwhere(dark)[0]
        raise ReferenceProblem(
            f"no light on launch position {launch + 1} at {wavelengths_nm[wavelength_index]:g} nm during "
            f"the reference; clean and reconnect the reference cords, then re-reference")
    if len(set(reference_channel.tolist())) != len(reference_channel):
        raise ReferenceProblem("two launch positions lit the same receive channel during the reference; "
                               "check the reference cords' wiring")
    return ReferenceMeasurement(method, tuple(cord_ids), matrix, reference_channel, reference_power_dbm,
                                tuple(instruments.identities()), matrix.finished_utc)
