"""Per-cable insertion loss: IL = reference power − DUT power at the channel the polarity map names."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from procedures.acquisition import AcquisitionSettings, Progress, acquire_matrix
from procedures.instruments import BenchInstruments
from procedures.results import CableMeasurement, ReferenceMeasurement


def insertion_loss_from_matrix(reference: ReferenceMeasurement, dut_power_dbm_matrix: np.ndarray,
                               expected_receive_position: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                               np.ndarray]:
    """(reference_power_dbm, dut_power_dbm, insertion_loss_db), each [wavelength, fiber].

    Fiber p's light is expected at end-B position q = expected_receive_position[p];
    that position's detector is the one that carried launch q in the reference.
    """
    fiber_count = expected_receive_position.size
    fiber_index = np.arange(fiber_count)
    receive_channel = reference.reference_channel[expected_receive_position - 1]
    reference_power_dbm = reference.reference_power_dbm[:, :fiber_count]
    dut_power_dbm = dut_power_dbm_matrix[:, fiber_index, receive_channel]
    return reference_power_dbm, dut_power_dbm, reference_power_dbm - dut_power_dbm


def measure_cable(instruments: BenchInstruments, reference: ReferenceMeasurement,
                  expected_receive_position: Sequence[int], *,
                  settings: AcquisitionSettings | None = None,
                  progress: Progress | None = None) -> CableMeasurement:
    """Measure one cable at the reference's wavelengths over its first N launch positions."""
    expected = np.asarray(expected_receive_position, dtype=np.int64)
    fiber_count = expected.size
    launch_ports = reference.matrix.launch_ports[:fiber_count]
    matrix = acquire_matrix(instruments, reference.matrix.wavelengths_nm, launch_ports,
                            settings or AcquisitionSettings(), progress)
    reference_power_dbm, dut_power_dbm, insertion_loss_db = insertion_loss_from_matrix(
        reference, matrix.power_dbm, expected)
    problems = []
    if not matrix.settled.all():
        wavelength_index, launch_index = np.argwhere(~matrix.settled)[0]
        problems.append(f"reading never settled at launch position {launch_index + 1}, "
                        f"{matrix.wavelengths_nm[wavelength_index]:g} nm")
    if matrix.over_range.any():
        problems.append("a detector was over range")
    return CableMeasurement(matrix, expected, reference_power_dbm, dut_power_dbm, insertion_loss_db,
                            tuple(problems))
