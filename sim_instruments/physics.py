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

import copy
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

# Polarity templates, position p (1-based) at end A → position at end B.
# The toolkit has its own copy as data (procedures/polarity_maps.toml); the
# simulator keeps an independent one so that a mistake in either is caught.


# Positions per ferrule row of the multi-row MPO/MTP ferrules: 2x12, 2x16, 4x12, 5x12, 6x12
# (IEC 61754-7 ferrule layouts; row 1 holds positions 1..width).
ROW_WIDTH = {24: 12, 32: 16, 48: 12, 60: 12, 72: 12}


def ferrule_positions(fiber_count: int) -> np.ndarray:
    """End-A ferrule positions carrying a fiber: an 8-fiber MPO uses 1-4 and 9-12 of a
    12-position ferrule; every other count fills 1..N."""
    if fiber_count == 8:
        return np.array([1, 2, 3, 4, 9, 10, 11, 12])
    return np.arange(1, fiber_count + 1)


def polarity_wiring(fiber_count: int, polarity: str) -> np.ndarray:
    """End-B ferrule position of each fiber (in `ferrule_positions` order)."""
    positions = ferrule_positions(fiber_count)
    width = 12 if fiber_count == 8 else fiber_count  # positions across the ferrule
    if polarity == "A":
        return positions.copy()
    if polarity == "B":
        return width + 1 - positions
    if polarity == "C":
        return np.where(positions % 2 == 1, positions + 1, positions - 1)
    if polarity == "B-row-keeping" and fiber_count in ROW_WIDTH:
        row_width = ROW_WIDTH[fiber_count]
        row = (positions - 1) // row_width
        return row * row_width + (row_width + 1 - (positions - row * row_width))
    raise ValueError(f"unknown polarity {polarity!r} for {fiber_count} fibers")


@dataclass
class SimulatedCable:
    """A DUT with known truth: per-fiber IL per wavelength and its wiring.

    Arrays indexed [fiber] follow `positions` (end-A ferrule positions). Beyond the
    nominal IL the cable can carry wiring faults (`wiring` differs from its
    polarity, `dark_positions`, `leaks`), dirty or damaged connectors (`dirt`),
    connector wear per mating and a mating-to-mating random variation; `mate()`
    and `unmate()` are the operator's hands. The defaults add nothing, so a
    plain cable's truth is exactly `insertion_loss_db`.
    """

    serial: str
    fiber_count: int
    polarity: str
    insertion_loss_db: dict[float, np.ndarray]  # wavelength → [fiber] (position at end A)
    wiring: np.ndarray  # [fiber] → 1-based position at end B
    dark_positions: frozenset[int] = frozenset()
    seeded_to_fail: bool = False
    positions: np.ndarray | None = None  # end-A ferrule positions; None: 1..fiber_count
    # end-A position → ((end-B position, level relative to the fiber's own light, dB), ...)
    leaks: dict[int, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    dirt: dict[int, tuple[float, float]] = field(default_factory=dict)  # position → (mean, σ) extra dB
    mating_sigma_db: float = 0.0  # random IL change from one mating to the next
    wear_db_per_mating: float = 0.0  # IL rises slowly with matings (connector wear)
    matings: int = 0  # mate() calls so far
    mated: bool = True
    seed: int = 0
    _mating_offset_db: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.positions is None:
            self.positions = ferrule_positions(self.fiber_count) if self.fiber_count == 8 \
                else np.arange(1, self.fiber_count + 1)
        self.positions = np.asarray(self.positions, dtype=np.int64)
        self.wiring = np.asarray(self.wiring, dtype=np.int64)

    def fiber_index(self, position: int) -> int | None:
        hits = np.flatnonzero(self.positions == position)
        return int(hits[0]) if hits.size else None

    def true_il_db(self, wavelength_nm: float) -> np.ndarray:
        """Nominal IL plus whatever the matings, wear and dirt add right now."""
        il = self.insertion_loss_db.get(float(wavelength_nm))
        if il is None:  # light at a wavelength the cable was not drawn for: interpolate, clamped at the ends
            modelled_nm = sorted(self.insertion_loss_db)
            table = np.vstack([self.insertion_loss_db[w] for w in modelled_nm])
            il = np.array([np.interp(float(wavelength_nm), modelled_nm, table[:, fiber])
                           for fiber in range(table.shape[1])])
        if not (self.dirt or self.mating_sigma_db or self.wear_db_per_mating):
            return il
        il = il + self.wear_db_per_mating * self.matings
        if self._mating_offset_db is None:
            self._draw_mating()
        assert self._mating_offset_db is not None
        return il + self._mating_offset_db

    def _draw_mating(self) -> None:
        rng = np.random.default_rng(serial_seed(f"{self.serial}#mating{self.matings}", self.seed))
        offset = rng.normal(0.0, self.mating_sigma_db, self.positions.size) if self.mating_sigma_db \
            else np.zeros(self.positions.size)
        offset = np.abs(offset) * 0.5 + offset * 0.5  # mating rarely improves on a perfect fit
        for position, (mean_db, sigma_db) in self.dirt.items():
            index = self.fiber_index(position)
            if index is not None:
                offset[index] += max(0.0, rng.normal(mean_db, sigma_db))
        self._mating_offset_db = offset

    # -- the operator's hands ---------------------------------------------------
    def unmate(self) -> None:
        """Disconnect the cable from the fixture: no light passes until mate()."""
        self.mated = False

    def mate(self) -> None:
        """Connect again: one more mating (wear), a new random fit (seeded)."""
        self.matings += 1
        self.mated = True
        self._draw_mating()

    def clean(self) -> None:
        """Clean both end faces: dirt is gone from the next mating on."""
        self.dirt = {}


def _copy(cable: SimulatedCable, suffix: str = "") -> SimulatedCable:
    twin = copy.deepcopy(cable)
    if suffix:
        twin.serial = cable.serial + suffix
    return twin


def with_crossed_fibers(cable: SimulatedCable, position_a: int, position_b: int) -> SimulatedCable:
    """Two fibers swapped: end-A positions a and b arrive at each other's end-B position."""
    twin = _copy(cable)
    i, j = twin.fiber_index(position_a), twin.fiber_index(position_b)
    if i is None or j is None:
        raise ValueError(f"positions {position_a}, {position_b} do not both carry a fiber")
    twin.wiring[[i, j]] = twin.wiring[[j, i]]
    return twin


def with_rerouted_fiber(cable: SimulatedCable, position: int, to_position: int) -> SimulatedCable:
    """One fiber lands on a wrong end-B position (two fibers then share it)."""
    twin = _copy(cable)
    index = twin.fiber_index(position)
    if index is None:
        raise ValueError(f"position {position} carries no fiber")
    twin.wiring[index] = to_position
    return twin


def with_dark_fibers(cable: SimulatedCable, *positions: int) -> SimulatedCable:
    """Open (broken) fibers: no light arrives anywhere."""
    twin = _copy(cable)
    twin.dark_positions = frozenset(twin.dark_positions | set(positions))
    return twin


def with_leak(cable: SimulatedCable, position: int, into_position: int, level_db: float = -15.0) -> SimulatedCable:
    """Crosstalk: part of the light of end-A `position` also reaches end-B `into_position`."""
    twin = _copy(cable)
    twin.leaks = {**twin.leaks, position: (*twin.leaks.get(position, ()), (into_position, level_db))}
    return twin


def with_dirt(cable: SimulatedCable, positions: Iterable[int], extra_db: float = 0.5,
              sigma_db: float = 0.1) -> SimulatedCable:
    """Dirty or damaged end face: extra loss on `positions`, different at every mating."""
    twin = _copy(cable)
    twin.dirt = {**twin.dirt, **{int(p): (extra_db, sigma_db) for p in positions}}
    twin._mating_offset_db = None
    return twin


def with_mating_behaviour(cable: SimulatedCable, *, sigma_db: float = 0.02, wear_db_per_mating: float = 0.0,
                          seed: int = 0) -> SimulatedCable:
    """Mating-to-mating IL variation (seeded) and wear per mating, for gauge and durability studies."""
    twin = _copy(cable)
    twin.mating_sigma_db, twin.wear_db_per_mating, twin.seed = sigma_db, wear_db_per_mating, seed
    twin._mating_offset_db = None
    return twin


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
                          polarity_wiring(fiber_count, polarity), seeded_to_fail=fail,
                          positions=ferrule_positions(fiber_count))


def make_harness(serial: str, fiber_paths: Sequence[tuple[int, int]], *,
                 wavelengths_nm: Sequence[float] = (1310.0, 1550.0), seed: int = 0,
                 fail: bool = False) -> SimulatedCable:
    """A harness (several connectors per end) as the fixture sees it once it is plugged in.

    Fiber i enters at fixture launch position fiber_paths[i][0] and leaves at fixture receive
    position fiber_paths[i][1]: the caller works these out from the harness drawing and from
    the ports the operator plugged each connector into. Loss is drawn as for a trunk.
    """
    cable = make_cable(serial, fiber_count=len(fiber_paths), polarity="A", wavelengths_nm=wavelengths_nm,
                       seed=seed, fail=fail)
    cable.polarity = "harness"
    cable.positions = np.array([launch for launch, _ in fiber_paths], dtype=np.int64)
    cable.wiring = np.array([receive for _, receive in fiber_paths], dtype=np.int64)
    return cable


def make_golden_cable(serial: str = "GOLD-0001", *, fiber_count: int = 12, polarity: str = "B",
                      wavelengths_nm: Sequence[float] = (1310.0, 1550.0), seed: int = 0) -> SimulatedCable:
    """A reference-grade cable (low, stable IL) kept at the station to check the bench for drift."""
    return make_cable(serial, fiber_count=fiber_count, polarity=polarity, wavelengths_nm=wavelengths_nm,
                      seed=seed, typical_il_db=0.15, spread_il_db=0.02, max_good_il_db=0.25)


def make_lot(count: int, *, prefix: str = "MTP12-", first_number: int = 1, failing: Iterable[int] = (),
             **cable_options: object) -> list[SimulatedCable]:
    failing_set = set(failing)
    return [make_cable(f"{prefix}{first_number + index:06d}", fail=index in failing_set, **cable_options)
            for index in range(count)]


@dataclass
class SourceState:
    wavelength_nm: float = 1310.0
    output_on: bool = False
    power_dbm: dict[float, float] = field(default_factory=lambda: {850.0: -3.0, 953.0: -3.1, 1300.0: -3.2, 1310.0: -2.0,
                                                                   1490.0: -2.3, 1550.0: -2.5, 1625.0: -2.8})
    drift_db: float = 0.0  # added to the output power: a drifted bench
    drift_db_per_h: float = 0.0  # slow drift over time, from `drift_started` on the model's clock
    drift_started: float = 0.0

    def total_drift_db(self, now: float) -> float:
        return self.drift_db + self.drift_db_per_h * max(0.0, now - self.drift_started) / 3600.0


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
                 crosstalk_db: float = -65.0, launch_loss_db: Sequence[float] | None = None,
                 switch_transient_s: float = 0.0, switch_transient_db: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        # A MEMS mirror still moving: right after a switch move the launched light is
        # short by `switch_transient_db`, decaying over `switch_transient_s`.
        self.switch_transient_s = switch_transient_s
        self.switch_transient_db = switch_transient_db
        self.switch_moved_at = -1e9
        # Extra loss of the reference connection per launch position (a dirty reference
        # cord/adapter): present while only the reference cords are connected.
        self.reference_connection_loss_db: dict[int, float] = {}
        self.rng = np.random.default_rng(seed)
        self.source = SourceState()
        self._switch_port = 1
        self.port_count = port_count
        # Switch port s feeds fixture launch position launch_positions[s-1].
        self.launch_positions = list(launch_positions or range(1, port_count + 1))
        self.launch_loss_db = np.asarray(
            launch_loss_db if launch_loss_db is not None
            else np.random.default_rng(seed + 1).uniform(0.1, 0.3, port_count))
        self.channels: dict[tuple[str, int], MeterChannel] = {}
        self._meter_channels: dict[str, list[MeterChannel]] = {}
        self.dut: SimulatedCable | None = None
        self.noise_db_at_1ms = noise_db_at_1ms
        self.floor_dbm = floor_dbm
        self.crosstalk_db = crosstalk_db
        # Calibration error of a meter set to the wrong wavelength: a real
        # detector's responsivity changes with wavelength.
        self.responsivity_error_db_per_nm = 0.002

    @property
    def switch_port(self) -> int:
        return self._switch_port

    @switch_port.setter
    def switch_port(self, port: int) -> None:
        if port != self._switch_port:
            self.switch_moved_at = self.clock()
        self._switch_port = port

    def add_meter(self, meter: str, receive_positions: Sequence[int | None]) -> None:
        with self.lock:
            self._meter_channels.pop(meter, None)
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
        now = self.clock()
        launched_dbm = (source.power_dbm[source.wavelength_nm] + source.total_drift_db(now)
                        - self.launch_loss_db[self.switch_port - 1])
        if self.switch_transient_s and now - self.switch_moved_at < self.switch_transient_s:
            remaining = 1.0 - (now - self.switch_moved_at) / self.switch_transient_s
            launched_dbm -= self.switch_transient_db * remaining
        if self.dut is None:
            return {launch_position: launched_dbm - self.reference_connection_loss_db.get(launch_position, 0.0)}
        cable = self.dut
        fiber_index = cable.fiber_index(launch_position)
        if not cable.mated or fiber_index is None or launch_position in cable.dark_positions:
            return {}
        true_il_db = float(cable.true_il_db(source.wavelength_nm)[fiber_index])
        arriving = {int(cable.wiring[fiber_index]): launched_dbm - true_il_db}
        for into_position, level_db in cable.leaks.get(launch_position, ()):
            leaked_w = 10 ** ((launched_dbm - true_il_db + level_db) / 10)
            into = int(into_position)
            arriving[into] = 10 * np.log10(10 ** (arriving.get(into, -300.0) / 10) + leaked_w)
        return arriving

    def read_meter_w(self, meter: str) -> np.ndarray:
        """Every slot of `meter`, in W, as its detectors see the light now."""
        with self.lock:
            arriving = self._received_dbm_by_position()
            brightest_dbm = max(arriving.values(), default=None)
            channels = self._meter_channels.get(meter)
            if channels is None:  # slot order, found once per meter (the hot path of every reading)
                channels = self._meter_channels[meter] = [
                    self.channels[key] for key in sorted(key for key in self.channels if key[0] == meter)]
            source_nm = self.source.wavelength_nm
            level_dbm, noise_db = [], []
            for channel in channels:  # plain floats: numpy scalars cost more than they save here
                if channel.receive_position in arriving:
                    level = arriving[channel.receive_position]
                elif brightest_dbm is not None and channel.receive_position is not None:
                    level = brightest_dbm + self.crosstalk_db
                else:
                    level = self.floor_dbm
                level_dbm.append(level - self.responsivity_error_db_per_nm * abs(channel.wavelength_nm - source_nm))
                noise_db.append(self.noise_db_at_1ms / math.sqrt(max(channel.averaging_time_s, 1e-4) / 1e-3))
            # One draw per kind for all detectors: the simulator's own time per reading
            # must stay far below the instruments' (it is charged to the toolkit's cycle).
            noisy_dbm = np.array(level_dbm) + self.rng.standard_normal(len(channels)) * np.array(noise_db)
            floor_noise_w = np.abs(self.rng.standard_normal(len(channels))) * (10 ** (self.floor_dbm / 10) * 1e-3)
            return 10 ** (noisy_dbm / 10) * 1e-3 + floor_noise_w
