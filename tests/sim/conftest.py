"""Raw SCPI to one simulated instrument over its real loopback socket (pyvisa-py), no driver involved."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import pyvisa

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import SimulatedInstrument, TcpInstrumentServer

Connect = Callable[[SimulatedInstrument], pyvisa.resources.MessageBasedResource]


def lit_model(port_count: int = 4, *, seed: int = 7) -> PhysicalModel:
    """A model with the source on: every meter slot sees light or crosstalk."""
    model = PhysicalModel(port_count=port_count, seed=seed)
    model.source.output_on = True
    return model


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Serve an instrument on 127.0.0.1 and open it through a fresh pyvisa-py ResourceManager."""
    resource_manager = pyvisa.ResourceManager("@py")
    servers: list[TcpInstrumentServer] = []

    def open_instrument(instrument: SimulatedInstrument) -> pyvisa.resources.MessageBasedResource:
        server = TcpInstrumentServer(instrument)
        servers.append(server)
        resource = resource_manager.open_resource(server.address, read_termination="\n",
                                                  write_termination="\n", timeout=2000)
        return resource

    try:
        yield open_instrument
    finally:
        resource_manager.close()
        for server in servers:
            server.close()


def errors(resource: pyvisa.resources.MessageBasedResource) -> list[str]:
    """Drain the error queue: every entry up to the "No error" one."""
    found = []
    for _ in range(40):
        reply = resource.query("SYST:ERR?").strip()
        if reply.startswith(("+0", "0")):
            return found
        found.append(reply)
    raise AssertionError(f"error queue never emptied: {found}")


def csv_floats(reply: str) -> list[float]:
    return [float(field) for field in reply.strip().strip('"').split(",")]
