"""Simulated multi-wavelength SCPI sources: the generic templated source and the EXFO IQS module.

The command table is built from the same templates the driver is configured
with, so a station that describes a new source by its command strings runs on
the virtual bench unchanged.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument

DEFAULT_TEMPLATES = {"wavelength_command": "SOUR:WAV {wavelength_nm:g}NM", "output_command": "OUTP:STAT {state}",
                     "output_query": "OUTP:STAT?", "on_value": "1", "off_value": "0"}


def template_pattern(template: str) -> str:
    """`"SOUR:WAV {wavelength_nm:g}NM"` → a regex with a named group per field."""
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(rf"(?P<{field}>[^\s,;]+?)")
    return "".join(parts)


class SimGenericScpiSource(SimulatedInstrument):
    def __init__(self, model: PhysicalModel, *, idn: str = "Generic,MWS-4,GS000001,1.0",
                 wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0),
                 templates: Mapping[str, str] | None = None,
                 wavelength_commands: Mapping[str, str] | None = None,
                 latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.idn = idn
        self.wavelengths_nm = tuple(float(w) for w in wavelengths_nm)
        self.templates = {**DEFAULT_TEMPLATES, **{k: str(v) for k, v in (templates or {}).items() if v is not None}}
        for wavelength, command in (wavelength_commands or {}).items():
            self.route(re.escape(command), lambda _m, w=float(wavelength): self._select(w))
        self.route(template_pattern(self.templates["wavelength_command"]), self._set_wavelength)
        self.route(template_pattern(self.templates["output_command"]), self._set_output)
        self.route(re.escape(self.templates["output_query"]),
                   lambda _m: self.templates["on_value" if self.model.source.output_on else "off_value"])

    def _set_wavelength(self, match: re.Match[str]) -> None:
        fields = match.groupdict()
        if "wavelength_m" in fields:
            wavelength_nm = float(fields["wavelength_m"]) * 1e9
        else:
            wavelength_nm = float(fields["wavelength_nm"])
        self._select(round(wavelength_nm, 3))

    def _select(self, wavelength_nm: float) -> None:
        if wavelength_nm not in self.wavelengths_nm:
            raise ValueError("wavelength not available")
        with self.model.lock:
            changed = self.model.source.wavelength_nm != wavelength_nm
            self.model.source.wavelength_nm = wavelength_nm
        if changed and self.latency.wavelength_change_s:
            self.busy_for(self.latency.wavelength_change_s)  # the next command waits for it

    def _set_output(self, match: re.Match[str]) -> None:
        state = match.group("state").upper()
        if state not in (self.templates["on_value"].upper(), self.templates["off_value"].upper()):
            raise ValueError("state")
        enabled = state == self.templates["on_value"].upper()
        with self.model.lock:
            turned_on = enabled and not self.model.source.output_on
            self.model.source.output_on = enabled
        if turned_on and self.latency.laser_on_s:
            self.busy_for(self.latency.laser_on_s)

    def reset(self) -> None:
        super().reset()
        with self.model.lock:
            self.model.source.output_on = False


class SimExfoIqsSource(SimGenericScpiSource):
    """An IQS platform with a source module behind `LINS<n>:`; `*RST` turns the source off."""

    def __init__(self, model: PhysicalModel, *, lins: int = 1, instrument_model: str = "IQS-600",
                 serial_number: str = "EX000001", wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0),
                 latency: Latency | None = None) -> None:
        prefix = f"LINS{lins}:" if lins else ""
        templates = {"wavelength_command": prefix + "SOUR:WAV {wavelength_nm:g}NM",
                     "output_command": prefix + "SOUR:POW:STAT {state}", "output_query": prefix + "SOUR:POW:STAT?",
                     "on_value": "ON", "off_value": "OFF"}
        super().__init__(model, idn=f"EXFO Inc.,{instrument_model},{serial_number},6.1.0",
                         wavelengths_nm=wavelengths_nm, templates=templates, latency=latency)
