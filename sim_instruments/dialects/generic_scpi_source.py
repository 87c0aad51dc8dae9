"""Simulated multi-wavelength SCPI sources: the generic templated source and the EXFO IQS module.

The generic source has no manual: its command table is built from the templates
the station describes it by, so a new source runs on the virtual bench unchanged
(it witnesses the station's description, not an instrument). The EXFO module is
declared from EXFO's IQS light-source manuals.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_commands import Call, ScpiError, boolean, number_with_unit
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


class SimExfoIqsSource(SimulatedInstrument):
    """An IQS platform with a light source module behind `LINS<n>:` (none when `lins` is 0).

    EXFO IQS-2150 / IQS-2600B user manuals, "SCPI Command Reference": `:SOURce[1..n]:POWer:STATe`
    takes ON|OFF|1|0, its query answers NR1 (0 or 1), and *RST sets the source off. The
    `LINS<n>:` module prefix and the wavelength command are unverified (docs/instrument-behaviour.md).
    """

    def __init__(self, model: PhysicalModel, *, lins: int = 1, instrument_model: str = "IQS-600",
                 serial_number: str = "EX000001", wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0),
                 latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.idn = f"EXFO Inc.,{instrument_model},{serial_number},6.1.0"
        self.wavelengths_nm = tuple(float(w) for w in wavelengths_nm)
        prefix = ":LINS[l]" if lins else ""
        self.lins = lins
        self.declare(f"{prefix}:SOURce[n]:POWer:STATe", self._set_output)
        self.declare(f"{prefix}:SOURce[n]:POWer:STATe?", lambda call: (self._module(call),
                                                                      str(int(self.model.source.output_on)))[1])
        self.declare(f"{prefix}:SOURce[n]:WAVelength", self._set_wavelength)
        self.declare(f"{prefix}:SOURce[n]:WAVelength?",
                     lambda call: (self._module(call), f"{self.model.source.wavelength_nm * 1e-9:+.8E}")[1])

    def _module(self, call: Call) -> None:
        if self.lins and call.suffix(0) != self.lins:
            raise ScpiError(-303, "Module slot empty or slot extension empty")

    def _set_output(self, call: Call) -> None:
        self._module(call)
        enabled = boolean(call.parameter())
        with self.model.lock:
            turned_on = enabled and not self.model.source.output_on
            self.model.source.output_on = enabled
        if turned_on and self.latency.laser_on_s:
            self.busy_for(self.latency.laser_on_s)

    def _set_wavelength(self, call: Call) -> None:
        self._module(call)
        wavelength_nm = round(number_with_unit(call.parameter(), {"NM": 1.0, "UM": 1e3, "M": 1e9}, 1e9), 3)
        if wavelength_nm not in self.wavelengths_nm:
            raise ScpiError(-222, "Data out of range")
        with self.model.lock:
            changed = self.model.source.wavelength_nm != wavelength_nm
            self.model.source.wavelength_nm = wavelength_nm
        if changed and self.latency.wavelength_change_s:
            self.busy_for(self.latency.wavelength_change_s)

    def reset(self) -> None:
        super().reset()
        with self.model.lock:  # "*RST sets the optical source to OFF"
            self.model.source.output_on = False
