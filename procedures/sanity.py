"""Is this a measurement of the cable, or of a bench fault? Checks run after every cable.

A measurement that completed without an instrument error can still be wrong
because the bench misbehaved. Each check here names such a fault; the session
then records the cable as ERROR (never PASS or FAIL) with the fault and what
the operator should do. The rules (docs/reliability.md):

* **Error queues** — every instrument's queue is drained after the cable: an
  error that arrived during the readings belongs to this cable, not to the
  next one's first configuration command.
* **No light anywhere** — at some wavelength every launch position left every
  receive channel dark. No cable fault does that (a cable with a dark fiber
  still lights the others): the source is off or failed, or nothing is
  connected. A launch position that is dark while others are lit is an open
  fiber (FAIL), unless the source reports its output off.
* **Switch did not move** — in a real cable every lit launch position lights
  its own receive position. When two or more launch positions light the same
  channel (which a stuck or skipping switch produces: the wrong port is lit),
  the switch is tested on the spot: a launch position that lit a channel of its
  own is selected again (a stuck switch now shows another port's light), then
  every suspect position is selected and read again (a move missed during the
  measurement now shows a different channel). Either difference is a switch
  fault; if the re-readings repeat the measurement, the cable really is
  miswired and is graded (FAIL) as before. Three or more positions on one
  channel with no position of its own to probe with is a stuck switch: no
  ferrule puts three fibers in one hole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from drivers.capabilities import HasErrorQueue, Linked, OutputStateSource
from procedures.acquisition import settled_read
from procedures.instruments import BenchInstruments
from procedures.results import PowerMatrix
from procedures.timing import TimingSettings


@dataclass(frozen=True)
class BenchFault:
    """A fault of the bench (not the cable) found in or after a measurement."""

    kind: str  # "scpi_error", "no_light", "source_off", "switch"
    detail: str
    action: str  # what the operator should do

    def describe(self) -> str:
        return f"{self.detail}. Operator: {self.action}"


class ErrorQueueQueries:
    """Error queries sent to every instrument that can take them, replies not yet read.

    Sending them all before any reply is read (`request_errors` / `collect_errors`) makes
    the bench's queues cost one round trip, not one per instrument; a session computes
    the cable's polarity and grades while the replies travel, and `collect()` then reads
    them. Until `collect()` has run, nothing else may be sent to these instruments.
    """

    def __init__(self, instruments: Iterable[object]) -> None:
        self.queues: list[HasErrorQueue] = [instrument for instrument in instruments
                                            if isinstance(instrument, HasErrorQueue) and instrument.has_error_queue]
        links = [instrument.links if isinstance(instrument, Linked) else frozenset() for instrument in self.queues]
        self._asked: list[HasErrorQueue] = []
        try:
            for instrument, link in zip(self.queues, links, strict=True):
                # Instruments sharing an address (source and sensors in one 816x) share one output
                # queue: a second query before the first reply is read would interrupt it.
                if not link or sum(1 for other in links if other & link) > 1:
                    continue
                if instrument.request_errors():
                    self._asked.append(instrument)
        except BaseException:
            self.abandon()
            raise

    def abandon(self) -> None:
        """After an error elsewhere: read the replies still owed, so each link stays in step;
        what they say is dropped (the first error is the one reported)."""
        while self._asked:
            instrument = self._asked.pop(0)
            try:
                instrument.collect_errors()
            except Exception:  # noqa: BLE001 - the first error is the one reported
                pass

    def collect(self) -> list[BenchFault]:
        """Read the replies (and drain the queues not asked ahead); one fault per instrument with errors."""
        found: dict[int, list[tuple[int, str]]] = {}
        while self._asked:
            instrument = self._asked.pop(0)
            try:
                found[id(instrument)] = instrument.collect_errors()
            except BaseException:
                self.abandon()
                raise
        faults = []
        for instrument in self.queues:
            errors = found[id(instrument)] if id(instrument) in found else instrument.drain_errors()
            if errors:
                name = instrument.name
                listed = "; ".join(f"{code}, {message!r}" for code, message in errors)
                faults.append(BenchFault(
                    "scpi_error", f"{name} reported SCPI error(s) during the measurement: {listed}",
                    "retest the cable; if the error repeats, check the station config for this instrument "
                    "(wavelength, range, slots) and the instrument's display"))
        return faults


def drain_error_queues(instruments: Iterable[object]) -> list[BenchFault]:
    """Drain each instrument's error queue (drivers with `drain_errors`); one fault per instrument with errors."""
    return ErrorQueueQueries(instruments).collect()


def brightest_channels(power_dbm: np.ndarray, dark_below_dbm: float = -60.0) -> np.ndarray:
    """[wavelength, launch] → index of the brightest receive channel, −1 where every channel is dark."""
    filled = np.where(np.isnan(power_dbm), -np.inf, power_dbm)
    brightest = np.argmax(filled, axis=-1)
    lit = np.take_along_axis(filled, brightest[..., None], axis=-1)[..., 0] >= dark_below_dbm
    return np.where(lit, brightest, -1)


def check_light(matrix: PowerMatrix, source: object, brightest: np.ndarray) -> BenchFault | None:
    """No light at all at a wavelength, or dark positions while the source says its output is off.

    `brightest`: `brightest_channels` of the matrix (computed once for both checks)."""
    for w, wavelength_nm in enumerate(matrix.wavelengths_nm):
        if np.all(brightest[w] < 0):
            return BenchFault("no_light", f"no light on any receive channel for any launch position at "
                              f"{wavelength_nm:g} nm (source off or failed, or cords/cable not connected)",
                              "check that the source is on and its launch cord connected, that the cable is "
                              "mated at both ends, then retest; a cable is never failed for this")
    if np.any(brightest < 0):
        if isinstance(source, OutputStateSource) and not source.output_enabled():
            return BenchFault("source_off", "the source's output was found off after the measurement (dark launch "
                              "positions are the source's, not the cable's)",
                              "check the source (interlock, key switch, laser fault), then retest")
    return None


def check_switch(instruments: BenchInstruments, matrix: PowerMatrix, settings: TimingSettings,
                 brightest: np.ndarray, dark_below_dbm: float = -60.0) -> BenchFault | None:
    """Test the switch when launch positions share a receive channel (see the module docstring).

    `brightest`: `brightest_channels(matrix.power_dbm, dark_below_dbm)`, [wavelength, launch]."""
    ports: Sequence[int] = matrix.launch_ports
    suspects, crowded = _switch_suspects(brightest.tolist())
    if not suspects:
        return None
    try:
        return _test_switch(instruments, brightest, suspects, crowded, ports, settings, dark_below_dbm)
    finally:
        _forget_commanded_state(instruments)  # the switch moved behind the acquisition's back


def _switch_suspects(brightest: list[list[int]]) -> tuple[set[int], bool]:
    """Launch indices whose light shares a receive channel with another's, or changes channel
    with wavelength; and whether three or more shared one. Plain lists: this runs after every
    cable, on a few dozen values, where numpy's per-call cost is most of the time."""
    suspects: set[int] = set()
    crowded = False
    for row in brightest:
        launches_of_channel: dict[int, list[int]] = {}
        for launch, channel in enumerate(row):
            if channel >= 0:
                launches_of_channel.setdefault(channel, []).append(launch)
        for launches in launches_of_channel.values():
            if len(launches) >= 2:
                suspects.update(launches)
                crowded |= len(launches) >= 3
    for launch, channels in enumerate(zip(*brightest, strict=True)):  # a fiber's light keeps its channel
        lit = {channel for channel in channels if channel >= 0}
        if len(lit) > 1:
            suspects.add(launch)
    return suspects, crowded


def _forget_commanded_state(instruments: BenchInstruments) -> None:
    instruments.state = type(instruments.state)()


def _test_switch(instruments: BenchInstruments, brightest: np.ndarray, suspects: set[int], crowded: bool,
                 ports: Sequence[int], settings: TimingSettings, dark_below_dbm: float) -> BenchFault | None:
    action = ("retest the cable; if it happens again, power-cycle or service the switch "
              "(its port does not follow the commands)")
    own = [i for i in range(brightest.shape[1]) if i not in suspects and np.all(brightest[:, i] >= 0)]
    if not own and crowded:
        return BenchFault("switch", f"the same receive channel was lit from {max(len(suspects), 3)} or more "
                          "launch positions: the switch did not move (stuck)", action)
    for probe in own[:1]:
        seen = _brightest_now(instruments, ports[probe], settings, dark_below_dbm, ports)
        if seen != int(brightest[0, probe]):
            return BenchFault("switch", f"switch port {ports[probe]} re-checked: it lit receive channel "
                              f"{_channel(seen)} instead of {int(brightest[0, probe]) + 1}; the switch does "
                              "not move to the commanded port (stuck)", action)
    for launch in sorted(suspects):
        seen = _brightest_now(instruments, ports[launch], settings, dark_below_dbm, ports)
        expected = brightest[:, launch][brightest[:, launch] >= 0]
        if seen < 0 or np.any(expected != seen):
            return BenchFault("switch", f"switch port {ports[launch]} re-checked: it lit receive channel "
                              f"{_channel(seen)}, during the measurement channel(s) "
                              f"{sorted({int(c) + 1 for c in expected})}; the switch missed a move", action)
    return None  # the re-readings repeat the measurement: the cable is miswired, grade it


def _channel(index: int) -> str:
    return "none (dark)" if index < 0 else str(index + 1)


def _brightest_now(instruments: BenchInstruments, port: int, settings: TimingSettings,
                   dark_below_dbm: float, ports: Sequence[int]) -> int:
    # Move away first: a driver that believes it is already at `port` would not send the move.
    instruments.switch.select(next((other for other in ports if other != port), port))
    instruments.switch.select(port)
    readings, _elapsed_s, _settled = settled_read(instruments, settings)
    power_dbm = readings.power_dbm
    if not np.any(power_dbm >= dark_below_dbm):
        return -1
    return int(np.nanargmax(np.where(np.isnan(power_dbm), -np.inf, power_dbm)))
