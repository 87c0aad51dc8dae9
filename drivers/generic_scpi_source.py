"""A multi-wavelength SCPI light source whose command strings are configuration.

For sources without a dedicated driver: the station config gives the command
templates, so a new model is a config change, not code. Defaults are the
plain SCPI forms (SCPI-1999 vol. 2 SOURce and OUTPut subsystems; no instrument's
guide stands behind them, so every template is the station's to verify):

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
from dataclasses import dataclass, field
from typing import Any

from drivers.cached_settings import CachedSource
from drivers.declarative import Measurement, Setting
from drivers.options import option
from drivers.scpi import ScpiInstrument

CONFIGURED = "[verify] the station config's template"


@dataclass(frozen=True)
class GenericScpiSourceOptions:
    """What a station file may set for a template-driven source."""

    wavelengths_nm: tuple[float, ...] = field(default=(1310.0, 1550.0), metadata=option(
        "the source's wavelengths in nm", minimum=400, maximum=1700))
    accepted_models: tuple[str, ...] | None = field(default=None, metadata=option(
        "*IDN? models accepted; default any"))
    wavelength_command: str | None = field(default=None, metadata=option(
        "template with {wavelength_nm} or {wavelength_m}, e.g. 'SOUR:WAV {wavelength_nm:g}NM'"))
    wavelength_commands: dict[str, str] | None = field(default=None, metadata=option(
        "per-wavelength commands, e.g. {\"1550\" = \"ROUT:CHAN 2\"}"))
    output_command: str | None = field(default=None, metadata=option("template with {state}"))
    output_query: str | None = field(default=None, metadata=option("query of the output state"))
    on_value: str | None = field(default=None, metadata=option("the {state} that means on"))
    off_value: str | None = field(default=None, metadata=option("the {state} that means off"))
    error_query: str | None = field(default=None, metadata=option("error queue query, default SYST:ERR?"))


class GenericScpiSource(CachedSource, ScpiInstrument):
    """A source driven by configured SCPI templates; accepts any `*IDN?` unless `accepted_models` is set."""

    models: tuple[str, ...] = ()
    Options: type = GenericScpiSourceOptions
    wavelength = Setting("SOUR:WAV {wavelength_nm:g}NM", "[verify] SCPI-1999 SOURce:WAVelength, generic")
    output = Setting("OUTP:STAT {state}", "[verify] SCPI-1999 OUTPut:STATe, generic")
    output_query = Measurement("OUTP:STAT?", str, "[verify] SCPI-1999 OUTPut:STATe?, generic")
    on_value = "1"
    off_value = "0"
    #: Values every template may use besides its own (a subclass's module prefix).
    template_values: dict[str, str] = {}

    def __init__(self, resource: Any, *, wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0),
                 accepted_models: tuple[str, ...] | None = None, wavelength_command: str | None = None,
                 wavelength_commands: Mapping[str, str] | None = None, output_command: str | None = None,
                 output_query: str | None = None, on_value: str | None = None, off_value: str | None = None,
                 error_query: str | None = None, **kwargs: Any) -> None:
        # Per-instance declarations must exist before the base reads the identity.
        if accepted_models is not None:
            self.models = tuple(accepted_models)
        if wavelength_command is not None:
            self.wavelength = Setting(str(wavelength_command), CONFIGURED)
        if output_command is not None:
            self.output = Setting(str(output_command), CONFIGURED)
        if output_query is not None:
            self.output_query = Measurement(str(output_query), str, CONFIGURED)
        for attribute, value in (("on_value", on_value), ("off_value", off_value), ("error_query", error_query)):
            if value is not None:
                setattr(self, attribute, str(value))
        self.wavelength_commands = {float(key): Setting(str(value), CONFIGURED)
                                    for key, value in (wavelength_commands or {}).items()}
        super().__init__(resource, **kwargs)
        self._wavelengths_nm = tuple(float(wavelength) for wavelength in wavelengths_nm)
        self._wavelength_nm: float | None = None
        self._output: bool | None = None

    def wavelength_command_for(self, wavelength_nm: float) -> str:
        setting = self.wavelength_commands.get(float(wavelength_nm), self.wavelength)
        return setting(wavelength_nm=float(wavelength_nm), wavelength_m=float(wavelength_nm) * 1e-9,
                       **self.template_values)

    def _wavelength_command(self, wavelength_nm: float) -> str:
        return self.wavelength_command_for(wavelength_nm)

    def _output_command(self, enabled: bool) -> str:
        return self.output(state=self.on_value if enabled else self.off_value, **self.template_values)

    def output_enabled(self) -> bool:
        reply = self.query(self.output_query(**self.template_values)).strip().upper()
        return reply in (self.on_value.upper(), "1", "+1", "ON")
