"""Repeatability (gauge) study: one cable re-mated N times, IL per fiber each time.

Between matings the operator is prompted to unmate, clean and re-mate; the
spread of the readings is the mating repeatability of the cable on this
bench (the bench's own noise is far smaller). Mean, sample σ (ddof = 1) and
range are reported per wavelength and fiber.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from procedures.insertion_loss import measure_cable
from procedures.instruments import BenchInstruments
from procedures.operator import CONNECT, REMATE, Operator, Prompt
from procedures.results import CableMeasurement, ReferenceMeasurement
from procedures.timing import TimingSettings

# Called with (mating number 1..N, its measurement) as soon as it is measured.
MatingCallback = Callable[[int, CableMeasurement], None]


@dataclass(frozen=True)
class RepeatabilitySettings:
    matings: int = 10
    clean_between: bool = True
    max_sigma_db: float | None = None  # optional acceptance on σ per fiber
    max_range_db: float | None = None  # optional acceptance on range per fiber

    def __post_init__(self) -> None:
        if self.matings < 2:
            raise ValueError(f"a repeatability study needs at least 2 matings, not {self.matings}")


@dataclass(frozen=True)
class RepeatabilityResult:
    serial: str
    settings: RepeatabilitySettings
    fiber_positions: tuple[int, ...]
    wavelengths_nm: tuple[float, ...]
    insertion_loss_db: np.ndarray  # [mating, wavelength, fiber]
    measurements: tuple[CableMeasurement, ...]

    @property
    def matings(self) -> int:
        return int(self.insertion_loss_db.shape[0])

    @property
    def mean_db(self) -> np.ndarray:
        return np.mean(self.insertion_loss_db, axis=0)

    @property
    def sigma_db(self) -> np.ndarray:
        return np.std(self.insertion_loss_db, axis=0, ddof=1)

    @property
    def range_db(self) -> np.ndarray:
        return np.ptp(self.insertion_loss_db, axis=0)

    def problems(self) -> list[str]:
        """One sentence per fiber/wavelength outside the optional σ or range limits, or without light."""
        found = []
        for w, wavelength in enumerate(self.wavelengths_nm):
            for i, position in enumerate(self.fiber_positions):
                where = f"fiber {position} at {wavelength:g} nm"
                if not np.all(np.isfinite(self.insertion_loss_db[:, w, i])):
                    found.append(f"{where}: no light in some matings")
                    continue
                sigma, spread = self.sigma_db[w, i], self.range_db[w, i]
                if self.settings.max_sigma_db is not None and sigma > self.settings.max_sigma_db:
                    found.append(f"{where}: σ {sigma:.3f} dB > {self.settings.max_sigma_db:.3f} dB")
                if self.settings.max_range_db is not None and spread > self.settings.max_range_db:
                    found.append(f"{where}: range {spread:.3f} dB > {self.settings.max_range_db:.3f} dB")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()


def run_repeatability(instruments: BenchInstruments, reference: ReferenceMeasurement, operator: Operator, *,
                      serial: str, fiber_positions: Sequence[int], expected_receive_position: Sequence[int],
                      settings: RepeatabilitySettings, wavelengths_nm: Sequence[float] | None = None,
                      acquisition: TimingSettings | None = None, first_mating: int = 1,
                      on_mating: MatingCallback | None = None) -> RepeatabilityResult:
    """Prompt, measure, repeat `settings.matings` times (from `first_mating`, for a resumed study)."""
    measurements = []
    for mating in range(first_mating, settings.matings + 1):
        if mating == 1:
            operator.prompt(Prompt(CONNECT, f"Connect cable {serial} (mating 1 of {settings.matings})",
                                   serial=serial))
        else:
            clean = "clean both end faces, " if settings.clean_between else ""
            operator.prompt(Prompt(REMATE, f"Unmate cable {serial}, {clean}mate it again "
                                   f"(mating {mating} of {settings.matings})", serial=serial))
        measurement = measure_cable(instruments, reference, fiber_positions, expected_receive_position,
                                    wavelengths_nm=wavelengths_nm, settings=acquisition)
        measurements.append(measurement)
        if on_mating is not None:
            on_mating(mating, measurement)
    il = np.stack([m.insertion_loss_db for m in measurements]) if measurements else np.zeros((0, 0, 0))
    wavelengths = measurements[0].wavelengths_nm if measurements else tuple(wavelengths_nm or ())
    return RepeatabilityResult(serial, settings, tuple(int(p) for p in fiber_positions), tuple(wavelengths),
                               il, tuple(measurements))


def summarize(serial: str, settings: RepeatabilitySettings, fiber_positions: Sequence[int],
              wavelengths_nm: Sequence[float], insertion_loss_db: np.ndarray) -> RepeatabilityResult:
    """A result from IL already measured (e.g. matings read back from the store after a resume)."""
    return RepeatabilityResult(serial, settings, tuple(int(p) for p in fiber_positions),
                               tuple(float(w) for w in wavelengths_nm), np.asarray(insertion_loss_db, float), ())
