"""Ctrl-C during a measurement stops it at the next safe point, never mid-transaction."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

Progress = Callable[[int, int, int, int], None]


class DeferredInterrupt:
    """SIGINT while active only sets a flag; the measurement stops between two readings.

    A SIGINT that lands while PyVISA waits for a reply would leave that reply
    unread, and the next query would read it instead of its own. So while this
    guard is active, SIGINT only sets a flag; `wrap(progress)` returns a progress
    callback that raises KeyboardInterrupt once the current reading is complete
    (progress is called between readings). If the first Ctrl-C has been pending
    longer than `force_after_s` (an instrument hanging until its timeout), a
    second Ctrl-C interrupts at once and sets `forced`: the caller must then
    reconnect the instruments (`LineBench.reconnect()`) before the next query.

    `clock` (seconds, monotonic) is injectable so the force rule can be tested without waiting.
    Use it only from the main thread (Python delivers signals there).
    """

    def __init__(self, *, force_after_s: float = 3.0, on_request: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.force_after_s = force_after_s
        self.on_request = on_request
        self.clock = clock
        self.requested_at: float | None = None
        self.forced = False
        self._previous: Any = None

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    def _handler(self, _signum: int, _frame: FrameType | None) -> None:
        now = self.clock()
        if self.requested_at is None:
            self.requested_at = now
            if self.on_request is not None:
                self.on_request()
            return
        if now - self.requested_at >= self.force_after_s:
            self.forced = True
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (call at a safe point only)."""
        if self.requested_at is not None:
            raise KeyboardInterrupt

    def wrap(self, progress: Progress | None = None) -> Progress:
        def guarded(wavelength_index: int, launch_index: int, n_wavelengths: int, n_launch: int) -> None:
            self.check()
            if progress is not None:
                progress(wavelength_index, launch_index, n_wavelengths, n_launch)
        return guarded

    def __enter__(self) -> DeferredInterrupt:
        self.requested_at, self.forced = None, False
        self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *_exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)
