"""Per-cable insertion loss: IL = reference power − DUT power at the channel the polarity map names."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from procedures.acquisition import Progress, acquire_matrix
from procedures.instruments import BenchInstruments
from procedures.results import CableMeasurement, ReferenceMeasurement
from procedures.timing import TimingSettings


def insertion_loss_from_matrix(reference: ReferenceMeasurement, wavelength_rows: Sequence[int],
                               dut_power_dbm_matrix: np.ndarray, fiber_positions: np.ndarray,
                               expected_receive_position: np.ndarray, dark_below_dbm: float = -60.0
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference_power_dbm, dut_power_dbm, insertion_loss_db), each [wavelength, fiber].

    A DUT reading below `dark_below_dbm` is no light (an open fiber, or light that
    went elsewhere): its IL is NaN, never a large number read off the meter floor.

    Fiber at end-A position p was launched with the reference's launch p; its light
    is expected at end-B position q, whose detector is the one that carried launch q
    in the reference (1-cord: the meter sees the launch cord directly).
    """
    fiber_index = np.arange(fiber_positions.size)
    receive_channel = reference.reference_channel[expected_receive_position - 1]
    reference_power_dbm = reference.reference_power_dbm[np.asarray(wavelength_rows)][:, fiber_positions - 1]
    dut_power_dbm = dut_power_dbm_matrix[:, fiber_index, receive_channel]
    insertion_loss_db = np.where(dut_power_dbm >= dark_below_dbm, reference_power_dbm - dut_power_dbm, np.nan)
    return reference_power_dbm, dut_power_dbm, insertion_loss_db


def measure_cable(instruments: BenchInstruments, reference: ReferenceMeasurement,
                  fiber_positions: Sequence[int], expected_receive_position: Sequence[int], *,
                  wavelengths_nm: Sequence[float] | None = None,
                  settings: TimingSettings | None = None,
                  progress: Progress | None = None) -> CableMeasurement:
    """Measure one cable: launch each fiber's position, read every channel, derive IL."""
    positions = np.asarray(fiber_positions, dtype=np.int64)
    expected = np.asarray(expected_receive_position, dtype=np.int64)
    wavelengths = tuple(wavelengths_nm or reference.matrix.wavelengths_nm)
    missing = [w for w in wavelengths if w not in reference.matrix.wavelengths_nm]
    if missing:
        raise ValueError(f"the reference has no {missing[0]:g} nm; re-reference at the recipe's wavelengths")
    wavelength_rows = [reference.matrix.wavelengths_nm.index(w) for w in wavelengths]
    launch_ports = [reference.matrix.launch_ports[p - 1] for p in positions]
    # Every polarity maps a cable's fibers onto its own ferrule positions (a harness: onto its
    # end-B connectors' positions): the light can only reach the channels that saw them in the reference.
    receive_channels = sorted({int(reference.reference_channel[p - 1]) for p in (*positions, *expected)})
    matrix = acquire_matrix(instruments, wavelengths, launch_ports, settings or TimingSettings(), progress,
                            receive_channels=receive_channels)
    reference_power_dbm, dut_power_dbm, insertion_loss_db = insertion_loss_from_matrix(
        reference, wavelength_rows, matrix.power_dbm, positions, expected)
    problems = []
    if not matrix.settled.all():
        wavelength_index, launch_index = np.argwhere(~matrix.settled)[0]
        problems.append(f"reading never settled at fiber position {positions[launch_index]}, "
                        f"{matrix.wavelengths_nm[wavelength_index]:g} nm")
    if matrix.over_range.any():
        problems.append("a detector was over range")
    return CableMeasurement(matrix, expected, reference_power_dbm, dut_power_dbm, insertion_loss_db,
                            tuple(problems))
