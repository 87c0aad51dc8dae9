"""EXFO IQS-platform light source modules (IQS-2100/-2150 style), SCPI over GPIB or LAN.

From the IQS-2150 Light Source user manual, SCPI Command Reference (p. 69) and the
IQS-2600B manual (p. 83): `:SOURce[1..n]:POWer:STATe ON|OFF` switches the output, its query
answers NR1 `0`/`1`, and `*RST` sets the source off — verified. The platform's `*IDN?` reads
`EXFO E.O. Engineering,IQS-610P,…` (IQS-600 manual p. 294) — verified for the IQS-610P.

Unverified (no passage found): the platform's logical-instrument prefix `LINS<n>:` that
addresses a module (`lins = 0` sends no prefix), and `SOUR:WAV <nm>NM` to select the
wavelength. `*RST` turns the source off: this driver never sends it, and it forgets its
cached output state if you call `reset()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.declarative import Action, Measurement, Setting
from drivers.generic_scpi_source import GenericScpiSource
from drivers.options import option

MODELS = ("IQS-500", "IQS-510P", "IQS-600", "IQS-610P", "IQS-2100", "IQS-2600B")
MANUAL = "EXFO IQS-2150 user manual, SCPI Command Reference p. 69"


@dataclass(frozen=True)
class ExfoIqsSourceOptions:
    """What a station file may set for an EXFO IQS source module."""

    lins: int = field(default=1, metadata=option("the module's logical-instrument number; 0: no LINS prefix",
                                                 minimum=0))
    wavelengths_nm: tuple[float, ...] = field(default=(1310.0, 1550.0), metadata=option(
        "the module's wavelengths in nm", minimum=400, maximum=1700))


class ExfoIqsSource(GenericScpiSource):
    models = MODELS
    Options = ExfoIqsSourceOptions
    on_value = "ON"
    off_value = "OFF"
    # `{prefix}`: `LINS<n>:` (unverified, see the module docstring) or nothing.
    wavelength = Setting("{prefix}SOUR:WAV {wavelength_nm:g}NM",
                         "[verify] no IQS passage found for SOURce:WAVelength")
    output = Setting("{prefix}SOUR:POW:STAT {state}", f"{MANUAL} (:SOURce[1..n]:POWer:STATe ON|OFF)",
                     {"state": ("ON", "OFF")})
    output_query = Measurement("{prefix}SOUR:POW:STAT?", str, f"{MANUAL}: NR1 0 or 1")
    reset_command = Action("*RST", f"{MANUAL}: *RST sets the optical source to OFF")

    def __init__(self, resource: Any, *, lins: int = 1, **kwargs: Any) -> None:
        self.lins = int(lins)
        self.template_values = {"prefix": f"LINS{self.lins}:" if self.lins else ""}
        super().__init__(resource, **kwargs)

    def reset(self) -> None:
        """`*RST`: the platform turns the source off and forgets the wavelength."""
        self._output = self._wavelength_nm = None
        self.send_configuration([self.reset_command()])
        self._output = False
