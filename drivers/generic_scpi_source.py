"""A multi-wavelength SCPI light source whose command strings are configuration.

For sources without a dedicated driver: the station config gives the command
templates, so a new model is a config change, not code. Defaults are the
plain SCPI forms:

    wavelength_command = "SOUR:WAV {wavelength_nm:g}NM"
    output_command     = "OUTP:STAT {state}"     # state: on_value / off_value
    output_query       = "OUTP:STAT?"
    wavelength_commands = { "1310" = "ROUT:CHAN 1", "1550" = "ROUT:CHAN 2" }  # optional, per wavelength

`wavelength_commands`, when given, replaces `wavelength_command` for the
listed wavelengths (multi-laser sources that switch lasers, not tune one).
Errors are checked with `error_query` (default `SYST:ERR?`) after each setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.cached_settings import CachedSource
from drivers.scpi import ScpiInstrument


class GenericScpiSource(CachedSource, ScpiInstrument):
    """A source driven by configured SCPI templates; accepts any `*IDN?` unless `accepted_models` is set."""

    models: tuple[str, ...] = ()
    wavelength_command = "SOUR:WAV {wavelength_nm:g}NM"
    output_command = "OUTP:STAT {state}"
    output_query = "OUTP:STAT?"
    on_value = "1"
    off_value = "0"

    def __init__(self, resource: Any, *, wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0),
                 accepted_models: tuple[str, ...] | None = None, wavelength_command: str | None = None,
                 wavelength_commands: Mapping[str, str] | None = None, output_command: str | None = None,
                 output_query: str | None = None, on_value: str | None = None, off_value: str | None = None,
                 error_query: str | None = None, **kwargs: Any) -> None:
        if accepted_models is not None:
            self.models = tuple(accepted_models)
        for attribute, value in (("wavelength_command", wavelength_command), ("output_command", output_command),
                                 ("output_query", output_query), ("on_value", on_value),
                                 ("off_value", off_value), ("error_query", error_query)):
            if value is not None:
                setattr(self, attribute, str(value))
        self.wavelength_commands = {float(key): str(value) for key, value in (wavelength_commands or {}).items()}
        super().__init__(resource, **kwargs)
        self._wavelengths_nm = tuple(float(wavelength) for wavelength in wavelengths_nm)
        self._wavelength_nm: float | None = None
        self._output: bool | None = None

    def wavelength_command_for(self, wavelength_nm: float) -> str:
        template = self.wavelength_commands.get(float(wavelength_nm), self.wavelength_command)
        return template.format(wavelength_nm=float(wavelength_nm), wavelength_m=float(wavelength_nm) * 1e-9)

    def _wavelength_command(self, wavelength_nm: float) -> str:
        return self.wavelength_command_for(wavelength_nm)

    def _output_command(self, enabled: bool) -> str:
        return self.output_command.format(state=self.on_value if enabled else self.off_value)

    def output_enabled(self) -> bool:
        reply = self.query(self.output_query).strip().upper()
        return reply in (self.on_value.upper(), "1", "+1", "ON")
