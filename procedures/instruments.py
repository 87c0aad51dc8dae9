"""What a procedure needs from a bench: one source, one switch, one (group of) meter(s)."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.capabilities import InstrumentIdentity, LightSource, OpticalSwitch, PowerMeter


@dataclass
class BenchInstruments:
    source: LightSource
    switch: OpticalSwitch
    meter: PowerMeter

    def identities(self) -> list[InstrumentIdentity]:
        return [*self.source.identities(), *self.switch.identities(), *self.meter.identities()]
