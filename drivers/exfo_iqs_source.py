"""EXFO IQS-platform light source modules (IQS-2100/-2600 style), SCPI over GPIB or LAN.

Commands go to a module through the platform's logical-instrument prefix
`LINS<n>:` [verify the number in the platform's instrument list; `lins = 0`
sends no prefix]. `SOUR:POW:STAT ON|OFF` switches the output,
`SOUR:POW:STAT?` reads it, `SOUR:WAV <nm>NM` selects the wavelength [verify].
`*RST` turns the source off: this driver never sends it, and it forgets its
cached output state if you call `reset()`.
"""

from __future__ import annotations

from typing import Any

from drivers.generic_scpi_source import GenericScpiSource

MODELS = ("IQS-500", "IQS-510P", "IQS-600", "IQS-610P", "IQS-2100", "IQS-2600B")


class ExfoIqsSource(GenericScpiSource):
    models = MODELS
    on_value = "ON"
    off_value = "OFF"

    def __init__(self, resource: Any, *, lins: int = 1, **kwargs: Any) -> None:
        self.lins = int(lins)
        prefix = f"LINS{self.lins}:" if self.lins else ""
        self.wavelength_command = prefix + "SOUR:WAV {wavelength_nm:g}NM"
        self.output_command = prefix + "SOUR:POW:STAT {state}"
        self.output_query = prefix + "SOUR:POW:STAT?"
        super().__init__(resource, **kwargs)

    def reset(self) -> None:
        """`*RST`: the platform turns the source off and forgets the wavelength."""
        self._output = self._wavelength_nm = None
        self.send_configuration(["*RST"])
        self._output = False
