"""Several multiport meters seen as one receive array.

A 24-fiber MPO needs more detectors than one mainframe has. The group
triggers every meter first and fetches afterwards, so the meters integrate at
the same time and a reading of all channels costs one averaging time, not one
per mainframe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from drivers.capabilities import (
    InstrumentIdentity,
    Linked,
    PowerReadings,
    QueuedTriggers,
    SplitFetchMeter,
    TriggeredMeter,
)


class MeterGroup:
    """Receive channels 1..N mapped onto (meter, index-in-meter) pairs."""

    def __init__(self, meters: Sequence[TriggeredMeter],
                 channel_map: Sequence[tuple[int, int]] | None = None) -> None:
        self.meters = list(meters)
        if channel_map is None:
            channel_map = [(meter_index, channel_index)
                           for meter_index, meter in enumerate(self.meters)
                           for channel_index in range(meter.channel_count)]
        self.channel_map = list(channel_map)
        self._used_meters = sorted({meter_index for meter_index, _ in self.channel_map})
        self._pending: list[int] = []  # meters queried by request(), reply not read yet
        self._requested = False
        self.read_only(None)

    def read_only(self, channels: Iterable[int] | None) -> None:
        """Read only the meters that carry these receive channels (0-based); the other meters'
        channels read NaN ("not read") until `read_only(None)`.

        A station is built for its largest cable: a 12-fiber cable on a 32-position station
        lights two of four mainframes, and triggering and fetching the other two only adds
        transactions to every reading."""
        if channels is None:
            self._read_meters = self._used_meters
            read_channels, flat_index = self._layout(self._used_meters)
        else:
            wanted = sorted({int(channel) for channel in channels})
            if not wanted or wanted[0] < 0 or wanted[-1] >= len(self.channel_map):
                raise ValueError(f"receive channels {wanted} outside 0..{len(self.channel_map) - 1}")
            self._read_meters = sorted({self.channel_map[channel][0] for channel in wanted})
            read_channels, flat_index = self._layout(self._read_meters)
        # (receive channel, position in the read meters' readings laid end to end)
        self._read_placement = list(zip(read_channels, flat_index, strict=True))

    def _layout(self, meter_indices: Sequence[int]) -> tuple[list[int], list[int]]:
        """The channels these meters carry, and where each lies in their readings laid end to end."""
        offsets, total = {}, 0
        for meter_index in meter_indices:
            offsets[meter_index] = total
            total += self.meters[meter_index].channel_count
        channels = [i for i, (meter_index, _c) in enumerate(self.channel_map) if meter_index in offsets]
        return channels, [offsets[self.channel_map[i][0]] + self.channel_map[i][1] for i in channels]

    @property
    def channel_count(self) -> int:
        return len(self.channel_map)

    def identities(self) -> list[InstrumentIdentity]:
        return [identity for meter in self.meters for identity in meter.identities()]

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None:
        for meter_index in self._read_meters:
            self.meters[meter_index].configure(wavelength_nm, averaging_time_s)

    def read_all(self) -> PowerReadings:
        self.trigger()
        return self.fetch()

    @property
    def links(self) -> frozenset[str]:
        """Every meter's links; empty (unknown) if any meter's are unknown."""
        links: set[str] = set()
        for meter in self.meters:
            if not isinstance(meter, Linked) or not meter.links:
                return frozenset()
            links |= meter.links
        return frozenset(links)

    @property
    def reply_owed(self) -> bool:
        """`request()` has sent fetch queries whose replies `collect()` has not read yet."""
        return self._requested

    @property
    def queues_triggers(self) -> bool:
        """Every meter takes a trigger while its fetch reply is owed (split-fetch meters only)."""
        return all(isinstance(meter, QueuedTriggers) and isinstance(meter, SplitFetchMeter) and meter.queues_triggers
                   for meter in self._read_meter_objects())

    @property
    def trigger_armed(self) -> bool:
        """Every meter holds a trigger not yet consumed by a fetch (none lost to a reconnect)."""
        return all(isinstance(meter, QueuedTriggers) and meter.trigger_armed for meter in self._read_meter_objects())

    def _read_meter_objects(self) -> list[TriggeredMeter]:
        return [self.meters[meter_index] for meter_index in self._read_meters]

    def trigger(self) -> None:
        """Start one reading on every meter (they integrate at the same time)."""
        for meter_index in self._read_meters:
            self.meters[meter_index].trigger()

    def fetch(self) -> PowerReadings:
        """The readings `trigger()` started."""
        self.request()
        return self.collect()

    def request(self, *, trigger_next: bool = False) -> None:
        """Send the fetch query to every meter that can take it ahead of its reply
        (`begin_fetch`), so the replies' round trips overlap: one per reading, not one per
        mainframe. `collect()` reads the replies; work done in between overlaps the integration.
        `trigger_next` (meters that `queues_triggers`): the next reading's trigger travels
        behind each query, and `trigger_armed` says whether every meter took it."""
        self._pending = []
        try:
            for meter_index in self._read_meters:
                meter = self.meters[meter_index]
                if isinstance(meter, SplitFetchMeter) and meter.begin_fetch(trigger_next=trigger_next):
                    self._pending.append(meter_index)
        except BaseException:
            self._drain()
            raise
        self._requested = True

    def collect(self) -> PowerReadings:
        """The readings asked for by `request()`."""
        if not self._requested:
            self.request()
        self._requested = False
        fetched: dict[int, PowerReadings] = {}
        try:
            for meter_index in self._read_meters:
                if meter_index not in self._pending:
                    fetched[meter_index] = self.meters[meter_index].fetch()
            while self._pending:
                meter_index = self._pending.pop(0)
                fetched[meter_index] = self._split(meter_index).end_fetch()
        except BaseException:
            self._drain()
            raise
        # Laid out in plain lists, two arrays at the end: on 8-32 channels numpy's per-call cost
        # is most of the work, and this runs between a reading's last reply and the next move.
        power_w: list[float] = []
        over_range: list[bool] = []
        for meter_index in self._read_meters:
            power_w += fetched[meter_index].power_w.tolist()
            over_range += fetched[meter_index].over_range.tolist()
        all_power_w, all_over_range = [math.nan] * len(self.channel_map), [False] * len(self.channel_map)
        for channel, flat in self._read_placement:
            all_power_w[channel], all_over_range[channel] = power_w[flat], over_range[flat]
        return PowerReadings(np.array(all_power_w, dtype=np.float64), np.array(all_over_range, dtype=bool))

    def _split(self, meter_index: int) -> SplitFetchMeter:
        meter = self.meters[meter_index]
        assert isinstance(meter, SplitFetchMeter)  # only such meters are ever pending
        return meter

    def _drain(self) -> None:
        """Read and drop replies still owed (after an error): the next transaction on each link
        must read its own reply, not this one."""
        pending, self._pending, self._requested = self._pending, [], False
        for meter_index in pending:
            try:
                self._split(meter_index).end_fetch()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
