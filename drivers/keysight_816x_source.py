"""Keysight 8163B/8164B/8166B mainframe source modules (laser or FP source in a slot).

Wavelengths are set with `:SOURn:WAV <nm>NM`; the query replies in metres.
The output state is cached so that a run which keeps the laser on between
fibers does not pay a round trip per fiber.

Dual-wavelength Fabry-Perot modules select one of their two lasers rather
than tune: with `wavelength_select = "lower_upper"` the driver sends
`:SOURn:WAV LOW` / `:SOURn:WAV UPP` for the shorter / longer of the two
configured wavelengths [verify against the module's programming guide].
"""

from __future__ import annotations

from typing import Any

from drivers.cached_settings import CachedSource
from drivers.scpi import ScpiInstrument

MAINFRAMES = ("8163A", "8163B", "8164A", "8164B", "8166A", "8166B")


class Keysight816xSource(CachedSource, ScpiInstrument):
    """A source module in slot `slot` of an 816x mainframe."""

    models = MAINFRAMES

    def __init__(self, resource: Any, *, slot: int = 1, channel: int = 1,
                 wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0), wavelength_select: str = "value",
                 **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        if wavelength_select not in ("value", "lower_upper"):
            raise ValueError(f"{self.name}: wavelength_select must be 'value' or 'lower_upper', "
                             f"not {wavelength_select!r}")
        if wavelength_select == "lower_upper" and len(wavelengths_nm) != 2:
            raise ValueError(f"{self.name}: wavelength_select = 'lower_upper' needs exactly two wavelengths_nm")
        self.wavelength_select = wavelength_select
        self.slot = slot
        self.channel = channel
        self._wavelengths_nm = tuple(float(wavelength) for wavelength in wavelengths_nm)
        self._wavelength_nm: float | None = None
        self._output: bool | None = None

    def _wavelength_command(self, wavelength_nm: float) -> str:
        if self.wavelength_select == "lower_upper":
            return f":SOUR{self.slot}:WAV {'LOW' if wavelength_nm == min(self._wavelengths_nm) else 'UPP'}"
        return f":SOUR{self.slot}:WAV {wavelength_nm:g}NM"

    def wavelength_nm(self) -> float:
        """Wavelength as the instrument reports it (metres on the wire)."""
        return self.query_float(f":SOUR{self.slot}:WAV?") * 1e9

    def _output_command(self, enabled: bool) -> str:
        return f":SOUR{self.slot}:CHAN{self.channel}:POW:STAT {int(enabled)}"

    def output_enabled(self) -> bool:
        return self.query(f":SOUR{self.slot}:CHAN{self.channel}:POW:STAT?").strip() in ("1", "+1", "ON")
