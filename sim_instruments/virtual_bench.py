"""The virtual bench: simulated instruments on loopback sockets, coupled by one physical model.

Build it from a station description, start it, and point the toolkit at
`bench.addresses`; swap the DUT with `load_dut()` (the operator's hands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sim_instruments.dialects.keysight_816x import SimKeysight816xSource
from sim_instruments.dialects.keysight_n773x import SimKeysightN773x
from sim_instruments.dialects.keysight_n774x import SLOT_COUNT, SimKeysightN774x
from sim_instruments.physics import PhysicalModel, SimulatedCable
from sim_instruments.scpi_server import Latency, SimulatedInstrument, TcpInstrumentServer


class InstrumentEntry(Protocol):
    name: str
    role: str
    driver: str
    model: str
    options: dict[str, Any]


class StationLike(Protocol):
    instruments: Sequence[InstrumentEntry]
    launch_ports: Sequence[int]
    receive_channels: Sequence[tuple[str, int]]


@dataclass
class LatencyModel:
    meter: Latency
    source: Latency
    switch: Latency

    @classmethod
    def zero(cls) -> LatencyModel:
        return cls(Latency(), Latency(), Latency())

    @classmethod
    def realistic(cls) -> LatencyModel:
        """Figures of the kind SPEC.md gives: LAN round trip ~0.3 ms, MEMS settle a few ms."""
        return cls(meter=Latency(query_round_trip_s=0.0003),
                   source=Latency(query_round_trip_s=0.0003, wavelength_change_s=0.05, laser_on_s=0.0),
                   switch=Latency(query_round_trip_s=0.0003, switch_settle_s=0.005))


def _serial_number(prefix: str, index: int) -> str:
    return f"{prefix}{index:08d}"


class VirtualBench:
    """Simulated instruments for every entry of a station, served on 127.0.0.1."""

    def __init__(self, station: StationLike, *, seed: int = 0, latency: LatencyModel | None = None,
                 **model_options: Any) -> None:
        latency = latency or LatencyModel.zero()
        switch_entry = next(entry for entry in station.instruments if entry.role == "switch")
        port_count = int(switch_entry.options.get("port_count", max(station.launch_ports)))
        # Switch port s carries fixture position p when launch_ports[p-1] == s.
        launch_positions = [0] * port_count
        for position, port in enumerate(station.launch_ports, start=1):
            launch_positions[port - 1] = position
        self.model = PhysicalModel(port_count=port_count, launch_positions=launch_positions, seed=seed,
                                   **model_options)
        self.instruments: dict[str, SimulatedInstrument] = {}
        for index, entry in enumerate(station.instruments):
            self.instruments[entry.name] = self._make(entry, index, station, latency)
        self._servers: dict[str, TcpInstrumentServer] = {}

    def _make(self, entry: InstrumentEntry, index: int, station: StationLike,
              latency: LatencyModel) -> SimulatedInstrument:
        if entry.role == "meter":
            instrument_model = entry.model or "N7745A"
            slot_count = SLOT_COUNT[instrument_model]
            receive_positions: list[int | None] = [None] * slot_count
            for position, (meter, slot) in enumerate(station.receive_channels, start=1):
                if meter == entry.name:
                    receive_positions[slot - 1] = position
            self.model.add_meter(entry.name, receive_positions)
            return SimKeysightN774x(self.model, entry.name, instrument_model=instrument_model,
                                    serial_number=_serial_number("MY", index), latency=latency.meter)
        if entry.role == "source":
            return SimKeysight816xSource(
                self.model, instrument_model=entry.model or "8164B", slot=int(entry.options.get("slot", 1)),
                wavelengths_nm=tuple(entry.options.get("wavelengths_nm", (1310.0, 1550.0))),
                serial_number=_serial_number("MY", index), latency=latency.source)
        return SimKeysightN773x(self.model, instrument_model=entry.model or "N7734A",
                                serial_number=_serial_number("MY", index), latency=latency.switch)

    # -- life cycle ---------------------------------------------------------
    def start(self) -> VirtualBench:
        for name, instrument in self.instruments.items():
            self._servers[name] = TcpInstrumentServer(instrument)
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    def __enter__(self) -> VirtualBench:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def addresses(self) -> dict[str, str]:
        return {name: server.address for name, server in self._servers.items()}

    # -- the operator's hands --------------------------------------------------
    def load_dut(self, cable: SimulatedCable | None) -> None:
        """Connect `cable` into the fixture (None: reference cords only)."""
        self.model.load_dut(cable)

    def set_source_drift(self, drift_db: float) -> None:
        with self.model.lock:
            self.model.source.drift_db = drift_db
