"""Keysight 8163B/8164B/8166B mainframe source modules (laser or FP source in a slot).

Commands, from the 8163A/B, 8164A/B, 8166A/B Mainframes Programming Guide (Keysight
edition, SOURce subsystem, pp. 122-181; the Agilent fifth edition numbers them
differently):

* `[:SOURce[n]][:CHANnel[m]]:…`: both nodes optional, slot n, channel m (p. 18 "Slot and
  Channel Numbers"; the 8164B's back-loaded laser is slot 0) — verified.
* `:SOURn:WAV <nm>NM` sets the wavelength, the query replies in metres, and
  `:SOURn:CHANm:POW:STAT 0|1` switches the output: as SPEC.md (a secondary source) gives
  them; the guide's pages for these commands were not found — unverified.
* Dual-wavelength modules: the guide addresses their two lasers with a "laser selection
  number" [l] (1 lower, 2 upper; p. 18 of the Agilent ed. 5, p. 163 `WAVelength:FREQuency[l]`,
  p. 149 `POWer…[:AMPLitude[l]]`). How the *output* wavelength is chosen was not found:
  `wavelength_select = "lower_upper"` sends `:SOURn:WAV LOW` / `:SOURn:WAV UPP` for the
  shorter / longer configured wavelength — unverified.

The output state is cached so that a run which keeps the laser on between fibers does not
pay a round trip per fiber.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from drivers.cached_settings import CachedSource
from drivers.declarative import Measurement, Setting
from drivers.options import option
from drivers.scpi import ScpiInstrument

MAINFRAMES = ("8163A", "8163B", "8164A", "8164B", "8166A", "8166B")
GUIDE = "8163A/B, 8164A/B, 8166A/B Mainframes Programming Guide"
SECONDARY = ("[verify] SPEC.md (secondary); the header form [:SOURce[n]][:CHANnel[m]] is the guide's "
             "(pp. 149, 150, 163), this command's page was not found")


def parse_output_state(reply: str) -> bool:
    return reply.strip().upper() in ("1", "+1", "ON")


@dataclass(frozen=True)
class Keysight816xSourceOptions:
    """What a station file may set for an 816x source module."""

    slot: int = field(default=1, metadata=option("mainframe slot of the source (8164B back slot: 0)",
                                                 minimum=0, maximum=17))
    channel: int = field(default=1, metadata=option("output of a two-output module", minimum=1, maximum=2))
    wavelengths_nm: tuple[float, ...] = field(default=(1310.0, 1550.0), metadata=option(
        "the module's wavelengths in nm", minimum=400, maximum=1700))
    wavelength_select: Literal["value", "lower_upper"] = field(default="value", metadata=option(
        "'value' (:SOURn:WAV <nm>NM) or 'lower_upper' (dual-wavelength modules: LOW/UPP)",
        choices=("value", "lower_upper")))


class Keysight816xSource(CachedSource, ScpiInstrument):
    """A source module in slot `slot` of an 816x mainframe."""

    models = MAINFRAMES
    Options = Keysight816xSourceOptions

    wavelength = Setting(":SOUR{slot}:WAV {wavelength_nm:g}NM", SECONDARY)
    laser_select = Setting(":SOUR{slot}:WAV {laser}", "[verify] dual-wavelength selection; the guide's [l] "
                           "laser selection number was found, a LOW/UPP parameter was not", {"laser": ("LOW", "UPP")})
    output = Setting(":SOUR{slot}:CHAN{channel}:POW:STAT {state}", SECONDARY, {"state": (0, 1)})
    wavelength_query = Measurement(":SOUR{slot}:WAV?", float, SECONDARY + " (reply in m)")
    output_query = Measurement(":SOUR{slot}:CHAN{channel}:POW:STAT?", parse_output_state, SECONDARY)

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
            laser = "LOW" if wavelength_nm == min(self._wavelengths_nm) else "UPP"
            return self.laser_select(slot=self.slot, laser=laser)
        return self.wavelength(slot=self.slot, wavelength_nm=wavelength_nm)

    def wavelength_nm(self) -> float:
        """Wavelength as the instrument reports it (metres on the wire)."""
        return self.query_float(self.wavelength_query(slot=self.slot)) * 1e9

    def _output_command(self, enabled: bool) -> str:
        return self.output(slot=self.slot, channel=self.channel, state=int(enabled))

    def output_enabled(self) -> bool:
        return self.output_query.parse(self.query(self.output_query(slot=self.slot, channel=self.channel)))
