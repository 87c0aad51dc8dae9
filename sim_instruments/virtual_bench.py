"""The virtual bench: simulated instruments on loopback sockets, coupled by one physical model.

Build it from a station description, start it, and point the toolkit at
`bench.addresses`; swap the DUT with `load_dut()` (the operator's hands).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sim_instruments.dialects.dicon import SimDiconGP700, SimDiconMems
from sim_instruments.dialects.generic_scpi_source import SimExfoIqsSource, SimGenericScpiSource
from sim_instruments.dialects.keysight_816x import SimKeysight816xSource
from sim_instruments.dialects.keysight_8163_sensor import SimKeysight8163Sensor
from sim_instruments.dialects.keysight_n773x import SimKeysightN773x
from sim_instruments.dialects.keysight_n774x import SLOT_COUNT
from sim_instruments.dialects.keysight_n774x_logging import SimKeysightN774xLogging
from sim_instruments.dialects.thorlabs_pm100 import SimThorlabsPM100
from sim_instruments.event_loop import InstrumentLoop
from sim_instruments.faults import Fault, FaultInjector
from sim_instruments.physics import PhysicalModel, SimulatedCable
from sim_instruments.scpi_server import Latency, SimulatedInstrument, TcpInstrumentServer
from sim_instruments.serial_server import PtySerialServer


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
                 busy_poll: bool = False, **model_options: Any) -> None:
        #: Serve by polling instead of sleeping (a core kept busy; see InstrumentLoop): for a bench
        #: in a process of its own, where waking a sleeping thread would add to every reply.
        self.busy_poll = busy_poll
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
        self._servers: dict[str, TcpInstrumentServer | PtySerialServer] = {}
        self._loop: InstrumentLoop | None = None

    def _make(self, entry: InstrumentEntry, index: int, station: StationLike,
              latency: LatencyModel) -> SimulatedInstrument:
        """The simulated instrument speaking `entry.driver`'s dialect (see SIMULATORS)."""
        driver = ROLE_DEFAULT_SIMULATOR.get(entry.role, entry.driver) if entry.driver == "auto" else entry.driver
        try:
            make = SIMULATORS[driver]
        except KeyError:
            raise ValueError(f"virtual bench: no simulator for driver {entry.driver!r} (instrument "
                             f"{entry.name!r}); simulated drivers: {', '.join(sorted(SIMULATORS))}") from None
        return make(self, entry, index, station, getattr(latency, entry.role, Latency()))

    def add_meter_channels(self, entry: InstrumentEntry, station: StationLike, slot_count: int) -> None:
        """Tell the physical model which fixture position each of this meter's slots sees."""
        receive_positions: list[int | None] = [None] * slot_count
        for position, (meter, slot) in enumerate(station.receive_channels, start=1):
            if meter == entry.name and 1 <= slot <= slot_count:
                receive_positions[slot - 1] = position
        self.model.add_meter(entry.name, receive_positions)

    # -- life cycle ---------------------------------------------------------
    def start(self) -> VirtualBench:
        # One thread serves every TCP instrument: instruments answering at the same moment
        # would otherwise queue for the interpreter lock, and the simulator's delays would be
        # charged to the toolkit (sim_instruments.event_loop).
        self._loop = InstrumentLoop(name="virtual-bench", busy_poll=self.busy_poll)
        for name, instrument in self.instruments.items():
            serial = getattr(instrument, "serial_echo", None) is not None
            self._servers[name] = PtySerialServer(instrument) if serial else TcpInstrumentServer(
                instrument, loop=self._loop)
        return self

    def stop(self) -> None:
        try:
            for server in self._servers.values():
                server.close()
            self._servers.clear()
        finally:
            if self._loop is not None:
                self._loop.close()
                self._loop = None

    def __enter__(self) -> VirtualBench:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def addresses(self) -> dict[str, str]:
        """VISA address per instrument: TCPIP0::127.0.0.1::<port>::SOCKET, or ASRL/dev/pts/N::INSTR
        for serial instruments (served on a pseudo-terminal)."""
        return {name: server.address for name, server in self._servers.items()}

    # -- the operator's hands --------------------------------------------------
    def load_dut(self, cable: SimulatedCable | None) -> None:
        """Connect `cable` into the fixture (None: reference cords only)."""
        self.model.load_dut(cable)

    def set_source_drift(self, drift_db: float) -> None:
        with self.model.lock:
            self.model.source.drift_db = drift_db

    # -- fault injection (sim_instruments.faults) -------------------------------
    def inject(self, instrument_name: str, fault: Fault) -> Fault:
        """Make `instrument_name` misbehave as `fault` says (the bench must be started).

        Returns the fault, whose `strikes` count tells a test that it struck.
        """
        try:
            server = self._servers[instrument_name]
        except KeyError:
            raise ValueError(f"virtual bench: no running instrument {instrument_name!r}; "
                             f"instruments: {', '.join(self._servers) or '(bench not started)'}") from None
        if server.faults is None:
            server.faults = FaultInjector(self.instruments[instrument_name], self.model,
                                          seed=len(self._servers) + sum(map(ord, instrument_name)))
        return server.faults.add(fault)

    def clear_faults(self, instrument_name: str | None = None) -> None:
        """Remove injected faults (of one instrument, or all) and undo their lasting physical effects."""
        for name, server in self._servers.items():
            if server.faults is not None and instrument_name in (None, name):
                server.faults.clear()

    def fault_log(self) -> dict[str, list[tuple[str, str]]]:
        """(fault kind, command) of every strike so far, per instrument."""
        return {name: list(server.faults.log) for name, server in self._servers.items() if server.faults}


# -- one simulator per driver ------------------------------------------------------------------
Simulator = Callable[[VirtualBench, InstrumentEntry, int, StationLike, Latency], SimulatedInstrument]


def _option_tuple(entry: InstrumentEntry, key: str, default: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(entry.options.get(key, default))


def _wavelengths(entry: InstrumentEntry) -> tuple[float, ...]:
    return tuple(float(w) for w in entry.options.get("wavelengths_nm", (1310.0, 1550.0)))


def _sim_n774x(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
               latency: Latency) -> SimulatedInstrument:
    instrument_model = entry.model or "N7745A"
    bench.add_meter_channels(entry, station, SLOT_COUNT[instrument_model])
    return SimKeysightN774xLogging(bench.model, entry.name, instrument_model=instrument_model,
                                   serial_number=_serial_number("MY", index), latency=latency)


def _sim_8163_sensor(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
                     latency: Latency) -> SimulatedInstrument:
    sensor_slots = tuple(int(slot) for slot in _option_tuple(entry, "slots", (1,)))
    bench.add_meter_channels(entry, station, max(sensor_slots))
    head = int(entry.options.get("channel", 1))  # a station that reads head 2 has 81635A dual heads
    return SimKeysight8163Sensor(bench.model, entry.name, sensor_slots=sensor_slots,
                                 dual_head_slots=sensor_slots if head == 2 else (), wired_head=head,
                                 instrument_model=entry.model or "8163B",
                                 serial_number=_serial_number("MY", index), latency=latency)


def _sim_thorlabs(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
                  latency: Latency) -> SimulatedInstrument:
    bench.add_meter_channels(entry, station, 1)
    return SimThorlabsPM100(bench.model, entry.name, instrument_model=entry.model or "PM100D",
                            serial_number=f"P{index:07d}", latency=latency)


def _sim_816x_source(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
                     latency: Latency) -> SimulatedInstrument:
    return SimKeysight816xSource(bench.model, instrument_model=entry.model or "8164B",
                                 slot=int(entry.options.get("slot", 1)), wavelengths_nm=_wavelengths(entry),
                                 serial_number=_serial_number("MY", index), latency=latency)


def _sim_exfo(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
              latency: Latency) -> SimulatedInstrument:
    return SimExfoIqsSource(bench.model, lins=int(entry.options.get("lins", 1)),
                            instrument_model=entry.model or "IQS-600", serial_number=f"EX{index:06d}",
                            wavelengths_nm=_wavelengths(entry), latency=latency)


def _sim_generic_source(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
                        latency: Latency) -> SimulatedInstrument:
    templates = {key: entry.options[key] for key in ("wavelength_command", "output_command", "output_query",
                                                     "on_value", "off_value") if key in entry.options}
    return SimGenericScpiSource(bench.model, idn=f"Generic,{entry.model or 'MWS-4'},GS{index:06d},1.0",
                                wavelengths_nm=_wavelengths(entry), templates=templates,
                                wavelength_commands=entry.options.get("wavelength_commands"), latency=latency)


def _sim_n773x(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
               latency: Latency) -> SimulatedInstrument:
    return SimKeysightN773x(bench.model, instrument_model=entry.model or "N7734A",
                            serial_number=_serial_number("MY", index), latency=latency)


def _sim_dicon_mems(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
                    latency: Latency) -> SimulatedInstrument:
    return SimDiconMems(bench.model, serial_number=f"DC{index:08d}", latency=latency)


def _sim_dicon_gp700(bench: VirtualBench, entry: InstrumentEntry, index: int, station: StationLike,
                     latency: Latency) -> SimulatedInstrument:
    return SimDiconGP700(bench.model, serial_number=f"GP{index:08d}", latency=latency)


#: Driver name (as in drivers.factory.DRIVERS and the station config) → simulator.
SIMULATORS: dict[str, Simulator] = {
    "keysight_n774x": _sim_n774x,
    "keysight_8163_sensor": _sim_8163_sensor,
    "thorlabs_pm100": _sim_thorlabs,
    "keysight_816x_source": _sim_816x_source,
    "exfo_iqs_source": _sim_exfo,
    "generic_scpi_source": _sim_generic_source,
    "keysight_n773x": _sim_n773x,
    "dicon_mems": _sim_dicon_mems,
    "dicon_gp700": _sim_dicon_gp700,
}

#: For `driver = "auto"` entries the virtual bench plays the role's Keysight model.
ROLE_DEFAULT_SIMULATOR = {"meter": "keysight_n774x", "source": "keysight_816x_source", "switch": "keysight_n773x"}
