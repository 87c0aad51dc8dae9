"""State caches shared by drivers of one capability.

A production run selects the same port or wavelength again and again; sending
an unchanged setting costs a round trip and, with the error-queue check, two.
The cache logic lives here once; each driver says only which commands to send.
A cached value is cleared *before* sending, so that a command failing midway
leaves the state "unknown" and it is sent again next time.
"""

from __future__ import annotations

from drivers.errors import ScpiError


class CachedSwitch:
    """`select()` for a 1×N switch: bounds check, position cache, `_move()` does the rest."""

    name: str
    _port_count: int
    _position: int | None
    #: A move's settle time (station `[timing] switch_settle_s`): when its confirmation is due.
    switch_settle_s: float = 0.0

    @property
    def port_count(self) -> int:
        return self._port_count

    def select(self, launch_position: int) -> None:
        if not 1 <= launch_position <= self._port_count:
            raise ValueError(f"{self.name}: port {launch_position} outside 1..{self._port_count}")
        if launch_position == self._position:
            return
        self._position = None
        self._move(launch_position)
        self._position = launch_position

    def _move(self, launch_position: int) -> None:
        """Send the move and confirm it (error queue or read-back)."""
        raise NotImplementedError


class SplitMoveSwitch(CachedSwitch):
    """A switch whose move can be sent now and confirmed later (`begin_select` / `end_select`).

    The acquisition sends the next move as soon as the last reading at a port has been
    integrated, and examines that reading while the switch settles. The driver provides
    `_send_move()` (the move and its completion query; the reply is not read) and
    `_confirm_move()` (read and check that reply), and clears `_reply_owed` when a
    reconnect gives it a fresh session.
    """

    _move_target: int | None = None  # sent by begin_select, not confirmed yet
    _reply_owed = False  # the completion query's reply is still on the link

    @property
    def move_under_way(self) -> int | None:
        """The port a move sent by `begin_select` goes to, until `end_select` confirms it."""
        return self._move_target

    def begin_select(self, launch_position: int) -> None:
        if not 1 <= launch_position <= self._port_count:
            raise ValueError(f"{self.name}: port {launch_position} outside 1..{self._port_count}")
        self._finish_owed_move()
        if launch_position == self._position:
            return
        self._position = None
        self._move_target = launch_position
        self._send_move()
        self._reply_owed = True

    def end_select(self) -> None:
        """Wait for the move `begin_select` sent; no-op when none is owed."""
        launch_position = self._move_target
        if launch_position is None:
            return
        if not self._reply_owed:  # a reconnect lost the move with the old session: send it again
            self._send_move()
            self._reply_owed = True
        try:
            self._confirm_move()
        except ScpiError:  # answered: the instrument refused the move, its position is unknown
            self._reply_owed, self._move_target = False, None
            raise
        self._reply_owed, self._move_target = False, None
        self._position = launch_position

    def select(self, launch_position: int) -> None:
        self._finish_owed_move()
        super().select(launch_position)

    def _finish_owed_move(self) -> None:
        # A move sent ahead and never confirmed (an abort in between): read its reply first,
        # so that the link stays in step and the next query gets its own answer.
        if self._move_target is not None:
            self.end_select()

    def _send_move(self) -> None:
        raise NotImplementedError

    def _confirm_move(self) -> None:
        raise NotImplementedError


class CachedMeterSettings:
    """`configure()` for a meter: one-time `setup()`, then only the settings that changed.

    Mixed in before `ScpiInstrument`, whose `send_configuration` it uses; the driver
    provides `setup()` and the two command builders.
    """

    _setup_done: bool
    _wavelength_nm: float | None
    _averaging_time_s: float | None

    def _wavelength_commands(self, wavelength_nm: float) -> list[str]:
        raise NotImplementedError

    def _averaging_commands(self, averaging_time_s: float) -> list[str]:
        raise NotImplementedError

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None:
        if not self._setup_done:
            self.setup()  # type: ignore[attr-defined]
        commands: list[str] = []
        if wavelength_nm != self._wavelength_nm:
            commands += self._wavelength_commands(wavelength_nm)
        if averaging_time_s != self._averaging_time_s:
            commands += self._averaging_commands(averaging_time_s)
        self._wavelength_nm = self._averaging_time_s = None
        self.send_configuration(commands)  # type: ignore[attr-defined]
        self._wavelength_nm, self._averaging_time_s = wavelength_nm, averaging_time_s


class CachedSource:
    """`set_wavelength()` / `set_output()` for a source: only this source's wavelengths, only changes.

    Mixed in before `ScpiInstrument`; the driver provides the two command builders.
    """

    name: str
    _wavelengths_nm: tuple[float, ...]
    _wavelength_nm: float | None
    _output: bool | None
    #: A wavelength change's duration (station `[timing] wavelength_change_s`): when its
    #: confirmation is due.
    wavelength_change_s: float = 0.0

    @property
    def wavelengths_nm(self) -> tuple[float, ...]:
        return self._wavelengths_nm

    def _wavelength_command(self, wavelength_nm: float) -> str:
        raise NotImplementedError

    def _output_command(self, enabled: bool) -> str:
        raise NotImplementedError

    def set_wavelength(self, wavelength_nm: float) -> None:
        if float(wavelength_nm) not in self._wavelengths_nm:
            raise ValueError(f"{self.name}: {wavelength_nm:g} nm is not one of this source's wavelengths "
                             f"{list(self._wavelengths_nm)}; fix the recipe or the station config")
        if wavelength_nm == self._wavelength_nm:
            return
        self._wavelength_nm = None
        self.send_configuration([self._wavelength_command(float(wavelength_nm))],  # type: ignore[attr-defined]
                                self.wavelength_change_s)
        self._wavelength_nm = float(wavelength_nm)

    def set_output(self, enabled: bool) -> None:
        if enabled == self._output:
            return
        self._output = None
        self.send_configuration([self._output_command(enabled)])  # type: ignore[attr-defined]
        self._output = enabled
