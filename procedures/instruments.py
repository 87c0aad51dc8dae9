"""What a procedure needs from a bench: one source, one switch, one (group of) meter(s)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.capabilities import InstrumentIdentity, LightSource, OpticalSwitch, PowerMeter
from procedures.timing import InstrumentState


@dataclass
class BenchInstruments:
    source: LightSource
    switch: OpticalSwitch
    meter: PowerMeter
    # What the procedures last commanded (wavelength, switch port, laser): where the next
    # measurement can start without a change. Code that changes the instruments behind the
    # procedures' back should reset it (`instruments.state = InstrumentState()`).
    state: InstrumentState = field(default_factory=InstrumentState, compare=False, repr=False)

    def identities(self) -> list[InstrumentIdentity]:
        return [*self.source.identities(), *self.switch.identities(), *self.meter.identities()]
