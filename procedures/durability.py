"""Mating durability (IEC 61300-2-2 style): many mate/unmate cycles, IL logged at intervals.

The first measurement (cycle 0, before any cycle) is the baseline; every
logged checkpoint is graded on ΔIL = IL(cycle) − IL(baseline) per fiber and
wavelength: |ΔIL| ≤ `max_delta_il_db` passes. A fiber without light fails.
The study is resumable: pass the checkpoints already stored as `previous`
and it continues from the next cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from procedures.insertion_loss import measure_cable
from procedures.instruments import BenchInstruments
from procedures.operator import CONNECT, MATE_CYCLES, Operator, Prompt
from procedures.results import CableMeasurement, ReferenceMeasurement
from procedures.timing import TimingSettings

MAX_CYCLES = 1000


@dataclass(frozen=True)
class DurabilityPlan:
    cycles: int = 500
    log_every: int = 50  # IL is measured after every `log_every` cycles, and after the last one
    max_delta_il_db: float = 0.3

    def __post_init__(self) -> None:
        if not 1 <= self.cycles <= MAX_CYCLES:
            raise ValueError(f"cycles must be 1..{MAX_CYCLES}, not {self.cycles}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be ≥ 1, not {self.log_every}")
        if not self.max_delta_il_db > 0:
            raise ValueError("max_delta_il_db must be positive")

    def checkpoints(self) -> list[int]:
        """Cycle counts at which IL is measured: 0 (baseline), every log_every, and the last."""
        marks = list(range(0, self.cycles, self.log_every))
        return [*marks, self.cycles]


@dataclass(frozen=True)
class DurabilityCheckpoint:
    cycle: int
    insertion_loss_db: np.ndarray  # [wavelength, fiber]
    delta_il_db: np.ndarray  # [wavelength, fiber] versus the baseline (cycle 0)
    max_delta_il_db: float
    measurement: CableMeasurement | None = None  # None when read back from the store

    @property
    def failing(self) -> np.ndarray:
        """[wavelength, fiber] True where |ΔIL| exceeds the limit or there is no light."""
        return ~np.isfinite(self.delta_il_db) | (np.abs(self.delta_il_db) > self.max_delta_il_db)

    @property
    def ok(self) -> bool:
        return not self.failing.any()


# Called with each new checkpoint as soon as it is measured (the caller stores it).
CheckpointCallback = Callable[[DurabilityCheckpoint], None]


class DurabilityVerdict(StrEnum):
    """A durability study's verdict. Its PASS and FAIL are the bench's `Outcome` values (the study's
    summary record stores them as its outcome); INCOMPLETE is the study's own: cycles remain, so
    nothing is stored as a verdict yet. Procedures may not import bench, hence this small enum."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCOMPLETE = "INCOMPLETE"


@dataclass(frozen=True)
class DurabilityResult:
    serial: str
    plan: DurabilityPlan
    fiber_positions: tuple[int, ...]
    wavelengths_nm: tuple[float, ...]
    checkpoints: tuple[DurabilityCheckpoint, ...]  # previous (resumed) and new, in cycle order

    @property
    def completed(self) -> bool:
        return bool(self.checkpoints) and self.checkpoints[-1].cycle == self.plan.cycles

    @property
    def max_abs_delta_db(self) -> float:
        deltas = np.array([np.abs(c.delta_il_db) for c in self.checkpoints])
        return float(np.nanmax(deltas)) if deltas.size and np.isfinite(deltas).any() else float("nan")

    @property
    def verdict(self) -> DurabilityVerdict:
        if any(not c.ok for c in self.checkpoints):
            return DurabilityVerdict.FAIL
        return DurabilityVerdict.PASS if self.completed else DurabilityVerdict.INCOMPLETE

    def failing_positions(self) -> list[int]:
        failing = np.zeros(len(self.fiber_positions), dtype=bool)
        for checkpoint in self.checkpoints:
            failing |= checkpoint.failing.any(axis=0)
        return [p for p, bad in zip(self.fiber_positions, failing, strict=True) if bad]

    def describe(self) -> str:
        done = self.checkpoints[-1].cycle if self.checkpoints else 0
        text = (f"{done} of {self.plan.cycles} cycles; max |ΔIL| {self.max_abs_delta_db:.3f} dB "
                f"(limit {self.plan.max_delta_il_db:.3f} dB)")
        failing = self.failing_positions()
        if failing:
            first = next(c for c in self.checkpoints if not c.ok)
            text += f"; fibers {failing} exceed it, first at cycle {first.cycle}"
        return text


def run_durability(instruments: BenchInstruments, reference: ReferenceMeasurement, operator: Operator, *,
                   serial: str, fiber_positions: Sequence[int], expected_receive_position: Sequence[int],
                   plan: DurabilityPlan, wavelengths_nm: Sequence[float] | None = None,
                   acquisition: TimingSettings | None = None,
                   previous: Sequence[DurabilityCheckpoint] = (),
                   on_checkpoint: CheckpointCallback | None = None,
                   stop_after_cycle: int | None = None) -> DurabilityResult:
    """Run (or resume) the cycles of `plan`; `stop_after_cycle` ends early on purpose (a shift change).

    The operator (or mating machine) gets one MATE_CYCLES prompt per interval;
    the cable is expected mated when it returns.
    """
    checkpoints = sorted(previous, key=lambda c: c.cycle)
    baseline = checkpoints[0].insertion_loss_db if checkpoints else None
    done = checkpoints[-1].cycle if checkpoints else None
    for cycle in plan.checkpoints():
        if done is not None and cycle <= done:
            continue
        if stop_after_cycle is not None and cycle > stop_after_cycle:
            break
        if cycle == 0:
            operator.prompt(Prompt(CONNECT, f"Connect cable {serial} for the durability baseline", serial=serial))
        else:
            start = done or 0
            operator.prompt(Prompt(MATE_CYCLES, f"Perform {cycle - start} mate/unmate cycles on {serial} "
                                   f"(cycles {start + 1}-{cycle} of {plan.cycles}), leave it mated",
                                   count=cycle - start, serial=serial))
        measurement = measure_cable(instruments, reference, fiber_positions, expected_receive_position,
                                    wavelengths_nm=wavelengths_nm, settings=acquisition)
        il = measurement.insertion_loss_db
        if baseline is None:
            baseline = il.copy()
        checkpoint = DurabilityCheckpoint(cycle, il, il - baseline, plan.max_delta_il_db, measurement)
        checkpoints.append(checkpoint)
        done = cycle
        if on_checkpoint is not None:
            on_checkpoint(checkpoint)
    wavelengths = tuple(wavelengths_nm or reference.matrix.wavelengths_nm)
    return DurabilityResult(serial, plan, tuple(int(p) for p in fiber_positions), tuple(float(w) for w in wavelengths),
                            tuple(checkpoints))
