"""The one physical model every simulated instrument reads from.

Light path: source (wavelength, on/off, drift) → switch output port → launch
fan-out leg (its own loss) → DUT cable (per-fiber true IL, wiring from its
polarity and faults) → receive position → meter channel (noise, floor,
crosstalk). With no DUT loaded the launch cord meets the meter directly: that
is the 1-cord reference configuration.

The simulated cables' `insertion_loss_db` is the ground truth that the
toolkit's measured IL is tested against.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

# Polarity templates, position p (1-based) at end A → position at end B.
# The toolkit has its own copy as data (procedures/polarity_maps.toml); the
# simulator keeps an independent one so that a mistake in either is caught.


def polarity_wiring(fiber_count: int, polarity: str) -> np.ndarray:
    positions = np.arange(1, fiber_count + 1)
    if polarity == "A":
        return positions.copy()
    if polarity == "B":
        return fiber_count + 1 - positions
    if polarity == "C":
        return np.where(positions % 2 == 1, positions + 1, positions - 1)
    raise ValueError(f"unknown polarity {polarity!r}")


@dataclass
class SimulatedCable:
    """A DUT with known truth: per-fiber IL per wavelength and its wiring."""

    serial: str
    fiber_count: int
    polarity: str
    insertion_loss_db: dict[float, np.ndarray]  # wavelength → [fiber] (position at end A)
    wiring: np.ndarray  # [fiber] → 1-based position at end B
    dark_positions: frozenset[int] = frozenset()
    seeded_to_fail: bool = False

    def true_il_db(self, wavelength_nm: float) -> np.ndarray:
        return self.insertion_loss_db[float(wavelength_nm)]


def serial_seed(serial: str, seed: int) -> int:
    # zlib.crc32 is stable across processes (str hash is salted).
    return (zlib.crc32(serial.encode("utf-8")) ^ (seed * 0x9E3779B1)) & 0xFFFFFFFF


def make_cable(serial: str, *, fiber_count: int = 12, polarity: str = "B",
               wavelengths_nm: Sequence[float] = (1310.0, 1550.0), seed: int = 0,
               fail: bool = False, typical_il_db: float = 0.30, spread_il_db: float = 0.07,
               max_good_il_db: float = 0.55) -> SimulatedCable:
    """A cable whose good fibers lie well below a 0.75 dB limit and whose
    seeded failures lie well above it, so grading is decided by the physics,
    not by measurement noise."""
    rng = np.random.default_rng(serial_seed(serial, seed))
    base_il_db = np.clip(rng.normal(typical_il_db, spread_il_db, fiber_count), 0.08, max_good_il_db)
    insertion_loss_db: dict[float, np.ndarray] = {}
    for index, wavelength_nm in enumerate(wavelengths_nm):
        # Connector loss is nearly flat in wavelength; a few hundredths differ.
        offset_db = rng.normal(0.0, 0.02, fiber_count) if index else np.zeros(fiber_count)
        insertion_loss_db[float(wavelength_nm)] = np.clip(base_il_db + offset_db, 0.05, max_good_il_db)
    if fail:
        bad_fibers = rng.choice(fiber_count, size=int(rng.integers(1, 3)), replace=False)
        for wavelength_nm in insertion_loss_db:
            insertion_loss_db[wavelength_nm][bad_fibers] = rng.uniform(1.1, 1.8, bad_fibers.size)
    return SimulatedCable(serial, fiber_count, polarity, insertion_loss_db,
                          polarity_wiring(fiber_count, polarity), seeded_to_fail=fail)


def make_lot(count: int, *, prefix: str = "MTP12-", first_number: int = 1, failing: Iterable[int] = (),
             **cable_options: object) -> list[SimulatedCable]:
    failing_set = set(failing)
    return [make_cable(f"{prefix}{first_number + index:06d}", fail=index in failing_set, **cable_options)
            for index in range(count)]


@dataclass
class SourceState:
    wavelength_nm: float = 1310.0
    output_on: bool = False
    power_dbm: dict[float, float] = field(default_factory=lambda: {850.0: -3.0, 1300.0: -3.2, 1310.0: -2.0,
                                                                   1490.0: -2.3, 1550.0: -2.5, 1625.0: -2.8})
    drift_db: float = 0.0  # added to the output power: a drifted bench


@dataclass
class MeterChannel:
    meter: str
    slot: int
    receive_position: int | None  # None: detector not connected to the fixture
    wavelength_nm: float = 1550.0
    averaging_time_s: float = 0.001


class PhysicalModel:
    """Shared state of the simulated bench; every simulated instrument reads it under one lock."""

    def __init__(self, *, port_count: int, launch_positions: Sequence[int] | None = None,
                 seed: int = 0, noise_db_at_1ms: float = 0.003, floor_dbm: float = -80.0,
                 crosstalk_db: float = -65.0, launch_loss_db: Sequence[float] | None = None) -> None:
        self.lock = threading.RLock()
        self.rng = np.random.default_rng(seed)
        self.source = SourceState()
        self.switch_port = 1
        self.port_count = port_count
        # Switch port s feeds fixture launch position launch_positions[s-1].
        self.launch_positions = list(launch_positions or range(1, port_count + 1))
        self.launch_loss_db = np.asarray(
            launch_loss_db if launch_loss_db is not None
            else np.random.default_rng(seed + 1).uniform(0.1, 0.3, port_count))
        self.channels: dict[tuple[str, int], MeterChannel] = {}
        self.dut: SimulatedCable | None = None
        self.noise_db_at_1ms = noise_db_at_1ms
        self.floor_dbm = floor_dbm
        self.crosstalk_db = crosstalk_db
        # Calibration error of a meter set to the wrong wavelength: a real
        # detector's responsivity changes with wavelength.
        self.responsivity_error_db_per_nm = 0.002

    def add_meter(self, meter: str, receive_positions: Sequence[int | None]) -> None:
        with self.lock:
            for slot, position in enumerate(receive_positions, start=1):
                self.channels[(meter, slot)] = MeterChannel(meter, slot, position)

    def load_dut(self, cable: SimulatedCable | None) -> None:
        with self.lock:
            self.dut = cable

    # -- optics -------------------------------------------------------------
    def _received_dbm_by_position(self) -> dict[int, float]:
        """Power arriving at each receive position with the current state (no noise)."""
        source = self.source
        if not source.output_on:
            return {}
        launch_position = self.launch_positions[self.switch_port - 1]
        launched_dbm = (source.power_dbm[source.wavelength_nm] + source.drift_db
                        - self.launch_loss_db[self.switch_port - 1])
        if self.dut is None:
            return {launch_position: launched_dbm}
        cable = self.dut
        if launch_position > cable.fiber_count or launch_position in cable.dark_positions:
            return {}
        fiber_index = launch_position - 1
        true_il_db = float(cable.true_il_db(source.wavelength_nm)[fiber_index])
        return {int(cable.wiring[fiber_index]): launched_dbm - true_il_db}

    def read_meter_w(self, meter: str) -> np.ndarray:
        """Every slot of `meter`, in W, as its detectors see the light now."""
        with self.lock:
            arriving = self._received_dbm_by_position()
            brightest_dbm = max(arriving.values(), default=None)
            slots = sorted(slot for (name, slot) in self.channels if name == meter)
            power_w = np.empty(len(slots))
            for index, slot in enumerate(slots):
                channel = self.channels[(meter, slot)]
                if channel.receive_position in arriving:
                    level_dbm = arriving[channel.receive_position]
                elif brightest_dbm is not None and channel.receive_position is not None:
                    level_dbm = brightest_dbm + self.crosstalk_db
                else:
                    level_dbm = self.floor_dbm
                level_dbm -= self.responsivity_error_db_per_nm * abs(
                    channel.wavelength_nm - self.source.wavelength_nm)
                noise_db = self.noise_db_at_1ms / np.sqrt(max(channel.averaging_time_s, 1e-4) / 1e-3)
                level_dbm += self.rng.normal(0.0, noise_db)
                floor_noise_w = abs(self.rng.normal(0.0, 10 ** (self.floor_dbm / 10) * 1e-3))
                power_w[index] = 10 ** (level_dbm / 10) * 1e-3 + floor_noise_w
            return power_w
