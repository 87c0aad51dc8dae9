"""The instruments' floor under a cable's cycle time, and the measurement order that lowers it.

A cable costs, whatever the software does: one averaging time (plus the reply's
round trip) per reading, one settle time per switch move, one wavelength change
per change of wavelength, and the laser's warm-up when it was off. The settle
rule of `procedures.acquisition` (two consecutive readings that agree) is part
of the procedure, so the bound counts `readings_per_position` readings at every
(wavelength, launch position) step, not one.

What the bound assumes, which is also what `acquire_matrix` does:
- the source's wavelength change and the switch move of one step run at the same
  time (different instruments), each confirmed by one query round trip
  (the error query after the write returns once the instrument has finished);
- the meters' configuration is sent while the source changes wavelength, so it
  costs nothing on top;
- all meters integrate at once and their replies come back together: a reading
  costs one averaging time plus one round trip, however many mainframes there are;
  a meter that takes the next trigger in the fetch's program message (`queued_readings`,
  the N774x) starts a position's second reading as it answers the first, so the two
  cost two averaging times and one round trip;
- a reading that must be repeated (it did not agree with the previous one) is not
  in the bound: the bound is the floor for a bench whose readings settle at once.

Times come from the station config (`[timing]`, the instruments' data sheets),
never from code; a time left at 0 is "not specified" and adds nothing.

`TimingSettings` is the one type of the station's `[timing]` table: the bench's station
file parses into it and the procedures measure with it, so a time added here reaches the
measurement without being copied field by field. It lives here, the lowest layer that reads
most of it; `reply_wait` is the drivers' (how the host waits for a reply), handed to them by
the bench when it opens the station.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ORDERS = ("wavelength-outer", "switch-outer")


MEASUREMENT_ORDERS = ("auto", *ORDERS)


@dataclass(frozen=True)
class TimingSettings:
    """A station's `[timing]`: the instruments' specified times and the settle rule's settings."""

    averaging_time_s: float = 0.001
    settle_tolerance_db: float = 0.01
    settle_timeout_s: float = 2.0
    laser_on_settle_s: float = 0.0  # the source's warm-up after its output is switched on
    # Readings below this carry no light (a dark fiber, an unlit channel): their
    # noise is all the meter's, so they never hold up settling.
    settle_floor_dbm: float = -60.0
    # The instruments' specified times (data sheets; 0 = not specified). They set the
    # floor under a cable's cycle time and choose the measurement order.
    switch_settle_s: float = 0.0  # switch move until the write's operation completes
    wavelength_change_s: float = 0.0  # source wavelength change until it completes
    query_round_trip_s: float = 0.0  # LAN/bus round trip of one query
    order: str = "auto"  # measurement order: one of MEASUREMENT_ORDERS ("auto": the lower floor)
    # How the host waits for a reply (drivers.scpi): "near-due" sleeps until just before the
    # reply is due (from the times above) and polls the link from then on, so neither the
    # kernel's wake-up latency nor a busy core is paid for the whole wait; "sleep" leaves it
    # to the kernel; "poll" polls from the start (a core busy while a cable is measured).
    reply_wait: str = "near-due"
    readings_per_position: int = 2  # the settle rule: two consecutive readings that agree
    # Not a station setting: `acquire_matrix` sets it from the meter (`QueuedTriggers`).
    queued_readings: bool = False  # the next reading starts as the meter answers the last

    @property
    def reading_s(self) -> float:
        return self.averaging_time_s + self.query_round_trip_s

    @property
    def position_readings_s(self) -> float:
        """The settle rule's readings at one position: one round trip for all when queued."""
        round_trips = 1 if self.queued_readings else self.readings_per_position
        return self.readings_per_position * self.averaging_time_s + round_trips * self.query_round_trip_s

    @property
    def move_s(self) -> float:
        return self.switch_settle_s + self.query_round_trip_s

    @property
    def wavelength_s(self) -> float:
        return self.wavelength_change_s + self.query_round_trip_s


@dataclass
class InstrumentState:
    """What the procedure last commanded (None: not known, e.g. before the first run)."""

    wavelength_nm: float | None = None
    launch_port: int | None = None
    laser_on: bool = False


Step = tuple[int, int]  # (wavelength index, launch index) into the result matrix


@dataclass(frozen=True)
class Schedule:
    """A measurement order and its instrument-imposed floor."""

    order: str
    steps: tuple[Step, ...]
    bound_s: float
    readings: int
    switch_moves: int
    wavelength_changes: int
    laser_on: bool


def _serpentine(outer: Sequence[int], inner: Sequence[int], *, inner_reversed_first: bool) -> list[tuple[int, int]]:
    """Outer loop over `outer`; the inner loop alternates direction so a block starts where the last ended."""
    pairs = []
    for block, outer_index in enumerate(outer):
        forward = (block % 2 == 0) != inner_reversed_first
        for inner_index in (inner if forward else list(reversed(inner))):
            pairs.append((outer_index, inner_index))
    return pairs


def _start_first(indices: list[int], values: Sequence[float], current: float | None) -> list[int]:
    """`indices` with the one whose value is `current` moved to the front (no change needed to start)."""
    for position, index in enumerate(indices):
        if current is not None and values[index] == current:
            return [index, *indices[:position], *indices[position + 1:]]
    return indices


def schedule_cost(steps: Sequence[Step], wavelengths_nm: Sequence[float], launch_ports: Sequence[int],
                  times: TimingSettings, state: InstrumentState | None = None, order: str = "given") -> Schedule:
    """Floor of `steps` from `state`: per step max(source change, switch move) + the settle rule's readings."""
    state = state or InstrumentState()
    wavelength, port, laser_on = state.wavelength_nm, state.launch_port, state.laser_on
    bound_s = 0.0
    moves = changes = 0
    needs_laser = not laser_on
    for step_number, (wavelength_index, launch_index) in enumerate(steps):
        source_s = times.laser_on_settle_s if step_number == 0 and needs_laser else 0.0
        switch_s = 0.0
        if wavelengths_nm[wavelength_index] != wavelength:
            changes += 1
            source_s += times.wavelength_s
            wavelength = wavelengths_nm[wavelength_index]
        if launch_ports[launch_index] != port:
            moves += 1
            switch_s = times.move_s
            port = launch_ports[launch_index]
        bound_s += max(source_s, switch_s) + times.position_readings_s
    return Schedule(order, tuple(steps), bound_s, times.readings_per_position * len(steps), moves, changes,
                    needs_laser)


def plan(wavelengths_nm: Sequence[float], launch_ports: Sequence[int], times: TimingSettings,
         state: InstrumentState | None = None, order: str = "auto") -> Schedule:
    """The measurement order with the lowest floor (or the one `order` names), starting where the bench is.

    Both orders are serpentine (each block starts at the switch port or wavelength
    where the previous one ended) and start at the wavelength and switch port the
    instruments are already at, so a cable following another saves a change.
    """
    if order not in ("auto", *ORDERS):
        raise ValueError(f"unknown measurement order {order!r}; use 'auto' or one of {', '.join(ORDERS)}")
    state = state or InstrumentState()
    wavelength_order = _start_first(list(range(len(wavelengths_nm))), wavelengths_nm, state.wavelength_nm)
    launch_order = list(range(len(launch_ports)))
    # Start the switch sweep at the end where the switch already is.
    reversed_first = (len(launch_ports) > 1 and state.launch_port is not None
                      and launch_ports[-1] == state.launch_port and launch_ports[0] != state.launch_port)
    candidates = []
    if order in ("auto", "wavelength-outer"):
        steps = _serpentine(wavelength_order, launch_order, inner_reversed_first=reversed_first)
        candidates.append(schedule_cost(steps, wavelengths_nm, launch_ports, times, state, "wavelength-outer"))
    if order in ("auto", "switch-outer"):
        pairs = _serpentine(launch_order if not reversed_first else launch_order[::-1], wavelength_order,
                            inner_reversed_first=False)
        steps = [(wavelength_index, launch_index) for launch_index, wavelength_index in pairs]
        candidates.append(schedule_cost(steps, wavelengths_nm, launch_ports, times, state, "switch-outer"))
    # min() keeps the first of equals: ties go to wavelength-outer (wavelength changes are the slow
    # ones when the data sheets are silent).
    return min(candidates, key=lambda schedule: schedule.bound_s)


@dataclass(frozen=True)
class CycleTiming:
    """Achieved acquisition time against the floor of the order used, for one matrix."""

    order: str
    bound_s: float
    achieved_s: float
    readings: int
    readings_minimum: int
    switch_moves: int
    wavelength_changes: int

    @property
    def ratio(self) -> float:
        return self.achieved_s / self.bound_s if self.bound_s > 0 else float("nan")

    def as_dict(self) -> dict[str, float | int | str]:
        return {"order": self.order, "bound_s": self.bound_s, "acquisition_s": self.achieved_s,
                "acquisition_ratio": self.ratio, "readings": self.readings,
                "readings_minimum": self.readings_minimum, "switch_moves": self.switch_moves,
                "wavelength_changes": self.wavelength_changes}


# The deprecated name of TimingSettings (it was a copy of some of its fields), kept until 0.2.
InstrumentTimes = TimingSettings
