"""The measurement loop shared by every procedure: light each launch port, read all channels."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from drivers.capabilities import (
    Linked,
    PipelinedMeter,
    PowerMeter,
    PowerReadings,
    QueuedTriggers,
    SelectiveMeter,
    SplitMove,
    TriggeredMeter,
)
from procedures.clock import utc_now
from procedures.instruments import BenchInstruments
from procedures.results import PowerMatrix
from procedures.timing import CycleTiming, InstrumentState, TimingSettings, plan

# Called after each launch position with (wavelength index, launch index, totals).
Progress = Callable[[int, int, int, int], None]

# Channels this far below the brightest one carry no signal; their relative
# noise is large and must not hold up settling.
_SETTLE_IGNORE_BELOW_DB = 30.0
_SETTLE_IGNORE_BELOW_RATIO = 10 ** (-_SETTLE_IGNORE_BELOW_DB / 10)
_MIN_READINGS_UNSETTLED = 3


# The deprecated name of TimingSettings (it was a copy of its fields), kept until 0.2.
AcquisitionSettings = TimingSettings


# What `_lit_w` puts for a channel flagged over range: neither a power nor dark, and equal
# only to itself, so a pair agrees on it only when both readings were over range.
_OVER_RANGE = float("inf")


def _lit_w(readings: PowerReadings, floor_w: float) -> tuple[float | None, ...]:
    """Each channel's power in W where it carries signal, None where not (below the floor,
    not read (NaN), or more than 30 dB under the brightest channel), `_OVER_RANGE` where the
    meter flagged it over range.

    Plain floats: on 8-32 channels a Python loop is several times faster than numpy's
    per-call overhead, and this runs between a reading's reply and the next move."""
    values = readings.power_w.tolist()
    if readings.over_range.any():
        values = [_OVER_RANGE if over else value for value, over in zip(values, readings.over_range.tolist(),
                                                                          strict=True)]
    # NaN is never ≥ nor <, so channels not read are neither the brightest nor lit.
    brightest_w = max((value for value in values if floor_w <= value < _OVER_RANGE), default=None)
    threshold_w = floor_w if brightest_w is None else max(brightest_w * _SETTLE_IGNORE_BELOW_RATIO, floor_w)
    return tuple(value if value >= threshold_w else None for value in values)


def _agree_w(before_w: tuple[float | None, ...], after_w: tuple[float | None, ...], tolerance_ratio: float) -> bool:
    """Same channels lit, the same ones over range, and every lit channel within tolerance of
    the previous reading: |10·log10(after/before)| ≤ tolerance ⇔ the ratio lies within
    [1/tol_ratio, tol_ratio]. An over-range reading next to a dark or lit one disagrees, so
    it is read again rather than taken as either."""
    for before, after in zip(before_w, after_w, strict=True):
        if before is None or after is None or before == _OVER_RANGE or after == _OVER_RANGE:
            if before != after:
                return False
            continue
        ratio = after / before
        if ratio > tolerance_ratio or ratio * tolerance_ratio < 1.0:
            return False
    return True


class _MoveAhead:
    """The next step's switch move, sent the moment a position's reading has settled: the
    reading is stored and reported, and the next step prepared, while the switch settles.

    It is sent after the settle rule has agreed, never before: a move sent on speculation
    must be undone when the readings disagree (two moves and a fresh pair), which costs
    more than it saves once more than a few per cent of positions need a third reading.
    """

    def __init__(self, switch: SplitMove, next_port: int) -> None:
        self.switch, self.next_port = switch, next_port
        self.sent = False

    def start(self) -> None:
        self.switch.begin_select(self.next_port)
        self.sent = True

    def abandon(self) -> None:
        """After an error: read the move's reply so the link stays in step; errors are dropped
        (the first one is the one reported)."""
        if self.sent:
            self.sent = False
            try:
                self.switch.end_select()
            except Exception:  # noqa: BLE001
                pass


@dataclass(frozen=True)
class _ReadMode:
    """What the settle rule needs to know about a meter and the settings, worked out once
    per acquisition rather than once per position."""

    floor_w: float
    tolerance_ratio: float
    split: bool  # trigger and fetch are separate operations
    pipelined: bool  # the fetch query can be sent ahead of its reply (request/collect)
    queued: bool  # a trigger may be sent while a fetch reply is owed

    @classmethod
    def of(cls, meter: PowerMeter, settings: TimingSettings) -> _ReadMode:
        split = isinstance(meter, TriggeredMeter)
        pipelined = split and isinstance(meter, PipelinedMeter)
        queued = pipelined and isinstance(meter, QueuedTriggers) and meter.queues_triggers
        return cls(floor_w=10 ** (settings.settle_floor_dbm / 10) * 1e-3,
                   # A hair above 10^(tol/10) so that a difference of exactly the tolerance still agrees.
                   tolerance_ratio=10 ** (settings.settle_tolerance_db / 10) * (1 + 1e-12),
                   split=split, pipelined=pipelined, queued=queued)


def _settled_read(meter: PowerMeter, settings: TimingSettings,
                  clock: Callable[[], float], mode: _ReadMode | None = None,
                  ahead: _MoveAhead | None = None) -> tuple[PowerReadings, float, bool, int]:
    """`settled_read` plus the number of readings it took.

    With a meter that triggers and fetches in two steps, the next reading is
    triggered (and, where the meter allows, its fetch query sent) as soon as the
    previous reply is in, before that reply is examined: the examination runs
    while the detectors integrate. With `ahead`, the next switch move is sent
    as soon as the readings agree.
    """
    started = clock()
    mode = mode or _ReadMode.of(meter, settings)
    floor_w, tolerance_ratio, split, pipelined = mode.floor_w, mode.tolerance_ratio, mode.split, mode.pipelined

    def start() -> None:
        meter.trigger()  # type: ignore[attr-defined]
        if pipelined:
            meter.request()  # type: ignore[attr-defined]

    def finish() -> PowerReadings:
        if pipelined:
            return meter.collect()  # type: ignore[attr-defined]
        return meter.fetch()  # type: ignore[attr-defined]

    def first_of_pair() -> PowerReadings:
        # The rule needs a second reading whatever the first says. A meter that takes a trigger
        # while a fetch reply is owed gets it queued behind the first fetch: the second
        # integration starts the moment the first ends, with no round trip in between.
        if not split:
            return meter.read_all()
        if mode.queued:
            meter.trigger()  # type: ignore[attr-defined]
            meter.request(trigger_next=True)  # type: ignore[attr-defined]
        else:
            start()
        first = finish()
        if mode.queued and isinstance(meter, QueuedTriggers) and meter.trigger_armed:
            meter.request()  # type: ignore[attr-defined]
        else:  # not queued, or the queued trigger was lost with a reconnected link
            start()
        return first

    previous = first_of_pair()
    try:
        before = _lit_w(previous, floor_w)
        count = 1
        while True:
            current = finish() if split else meter.read_all()
            count += 1
            after = _lit_w(current, floor_w)
            if _agree_w(before, after, tolerance_ratio):
                if ahead is not None:
                    ahead.start()
                return current, clock() - started, True, count
            # Unsettled only after a disagreement has been read again: time lost to a link
            # recovery must not turn one noisy pair into a verdict on the light.
            if count >= _MIN_READINGS_UNSETTLED and clock() - started > settings.settle_timeout_s:
                return current, clock() - started, False, count
            if split:
                start()
            before = after
    except BaseException:
        if pipelined and isinstance(meter, PipelinedMeter) and meter.reply_owed:
            meter.collect()  # leave no reply unread
        raise


def settled_read(instruments: BenchInstruments, settings: TimingSettings,
                 clock: Callable[[], float] = time.monotonic) -> tuple[PowerReadings, float, bool]:
    """Read until two consecutive readings agree within tolerance, or the timeout.

    Returns the last reading, the time spent, and whether it settled. No sleep:
    each reading already costs one averaging time on the instrument. A meter that
    can trigger and fetch separately starts the second reading before the first
    is examined.
    """
    readings, elapsed_s, ok, _count = _settled_read(instruments.meter, settings, clock)
    return readings, elapsed_s, ok


def _links(instrument: object) -> frozenset[str]:
    """The VISA resources an instrument (or meter group) talks through; empty when not known."""
    return instrument.links if isinstance(instrument, Linked) else frozenset()


def can_overlap(instruments: BenchInstruments) -> bool:
    """Source, switch and meters may be commanded at the same time: each on its own link(s).

    Instruments sharing an address (a source and sensors in one 816x mainframe) or of
    unknown links are commanded one after the other.
    """
    links = [_links(instruments.source), _links(instruments.switch), _links(instruments.meter)]
    if not all(links):
        return False
    return sum(len(link) for link in links) == len(frozenset().union(*links))


def _together(calls: Sequence[Callable[[], None]], overlap: bool) -> None:
    """Run `calls` concurrently when allowed (separate instruments), else in order; re-raise the first error.

    The first call runs on this thread, each other one on a thread of its own that ends with
    its call (a wavelength change, lasting tens of ms, next to a switch move and the meters'
    reconfiguration).
    """
    if not overlap or len(calls) < 2:
        for call in calls:
            call()
        return
    errors: list[BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            calls[index]()
        except BaseException as caught:  # noqa: BLE001 - re-raised below, on the calling thread
            errors[index] = caught

    helpers = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(1, len(calls))]
    for helper in helpers:
        helper.start()
    run(0)
    for helper in helpers:
        helper.join()
    error = next((caught for caught in errors if caught is not None), None)
    if error is not None:
        raise error


def acquire_matrix(instruments: BenchInstruments, wavelengths_nm: Sequence[float],
                   launch_ports: Sequence[int], settings: TimingSettings,
                   progress: Progress | None = None, *,
                   clock: Callable[[], float] = time.monotonic,
                   receive_channels: Sequence[int] | None = None) -> PowerMatrix:
    """Power at every receive channel for each wavelength and launch port.

    The order (wavelength-outer or switch-outer, serpentine, starting where the
    instruments already are) is the one with the lowest instrument-imposed floor
    (`procedures.timing.plan`). A wavelength change runs at the same time as the
    meters' reconfiguration and any switch move of that step. The matrix carries
    the achieved time against that floor (`matrix.timing`).

    `receive_channels` (0-based) are the channels the light can reach; a meter that
    carries none of them is not read (its channels are NaN in the matrix), where the
    meter allows it (`read_only`).
    """
    started = clock()
    started_utc = utc_now()
    state = instruments.state
    wavelengths = [float(w) for w in wavelengths_nm]
    ports = list(launch_ports)
    mode = _ReadMode.of(instruments.meter, settings)
    times = dataclasses.replace(settings, queued_readings=mode.queued)
    schedule = plan(wavelengths, ports, times, state, settings.order)
    n_wavelengths, n_launch = len(wavelengths), len(ports)
    n_receive = instruments.meter.channel_count
    power_w = np.full((n_wavelengths, n_launch, n_receive), np.nan)
    over_range = np.zeros((n_wavelengths, n_launch, n_receive), dtype=bool)
    settle_time_s = np.zeros((n_wavelengths, n_launch))
    settled = np.zeros((n_wavelengths, n_launch), dtype=bool)
    overlap = can_overlap(instruments)
    readings_taken = 0
    source, switch, meter = instruments.source, instruments.switch, instruments.meter
    # Moving on before a reading is examined needs a switch on a link of its own that can
    # send a move now and confirm it later.
    move_early = overlap and isinstance(switch, SplitMove)
    ahead: _MoveAhead | None = None
    steps = list(schedule.steps)
    read_only = meter.read_only if receive_channels is not None and isinstance(meter, SelectiveMeter) else None
    if read_only is not None:
        read_only(receive_channels)
    try:
        source.set_output(True)  # the driver's cache makes this free when it is on
        if not state.laser_on:
            state.laser_on = True
            if settings.laser_on_settle_s:
                time.sleep(settings.laser_on_settle_s)  # the source's specified warm-up, not a guess
        current_wavelength: float | None = None
        current_port: int | None = None
        for step_index, (wavelength_index, launch_index) in enumerate(steps):
            wavelength_nm, launch_port = wavelengths[wavelength_index], ports[launch_index]
            calls: list[Callable[[], None]] = []
            if wavelength_nm != current_wavelength:
                state.wavelength_nm = None  # unknown until both have answered
                calls.append(lambda w=wavelength_nm: source.set_wavelength(w))
                calls.append(lambda w=wavelength_nm: meter.configure(w, settings.averaging_time_s))
            if ahead is not None and ahead.sent and ahead.next_port == launch_port:
                state.launch_port = None
                calls.append(switch.end_select)  # sent during the last step: wait for it to settle
            elif launch_port != current_port:
                state.launch_port = None
                calls.append(lambda p=launch_port: switch.select(p))
            ahead = None
            _together(calls, overlap)
            current_wavelength = state.wavelength_nm = wavelength_nm
            current_port = state.launch_port = launch_port
            if move_early and step_index + 1 < len(steps):
                next_wavelength_index, next_launch_index = steps[step_index + 1]
                # Only a move alone: a wavelength change is sent with the meters' reconfiguration.
                if next_wavelength_index == wavelength_index and ports[next_launch_index] != launch_port:
                    ahead = _MoveAhead(switch, ports[next_launch_index])
            readings, elapsed_s, ok, count = _settled_read(meter, settings, clock, mode, ahead)
            if ahead is not None and ahead.sent:
                current_port = None  # the switch is on its way to the next port
            readings_taken += count
            power_w[wavelength_index, launch_index] = readings.power_w
            over_range[wavelength_index, launch_index] = readings.over_range
            settle_time_s[wavelength_index, launch_index] = elapsed_s
            settled[wavelength_index, launch_index] = ok
            if progress is not None:
                progress(wavelength_index, launch_index, n_wavelengths, n_launch)
    except BaseException:
        # An abort or a fault may leave the bench anywhere (and the laser may be switched
        # off next): plan the next run from an unknown state.
        if ahead is not None:
            ahead.abandon()
        instruments_state_reset(instruments)
        raise
    finally:
        if read_only is not None:
            read_only(None)
    timing = CycleTiming(schedule.order, schedule.bound_s, clock() - started, readings_taken, schedule.readings,
                         schedule.switch_moves, schedule.wavelength_changes)
    return PowerMatrix(tuple(wavelengths), tuple(launch_ports), power_w, over_range,
                       settle_time_s, settled, started_utc, utc_now(), timing)


def instruments_state_reset(instruments: BenchInstruments) -> None:
    """Forget what the procedures commanded (after an abort, or when other code drove the instruments)."""
    instruments.state = InstrumentState()
