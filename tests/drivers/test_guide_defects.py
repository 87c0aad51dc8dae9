"""The drivers against the guide-faithful simulators (sim_instruments.dialects), each started
in its power-on state and reached over a real loopback socket through public pyvisa-py.

One test per defect the check against the programming guides found (issue 16):
1. N774x: a bare `INIT:IMM` triggers slot 1 only; every slot used must be triggered.
2. N774x: the meters power up measuring continuously (-213 on an immediate trigger);
   `INITn:CONT 0` at setup, and again after a reconnect.
3. The C models (N7744C… meters, N7731C… switches), also under `driver = "auto"`.
4. 8163/8164 dual heads: INIT:CONT, ATIM and RANG:AUTO go to the master channel.
5. The guide's `FETC:POW:ALL:CSV?` reply is a quoted string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import pyvisa

from drivers.factory import open_instrument
from drivers.keysight_8163_sensor import Keysight8163Sensor
from drivers.keysight_n773x import KeysightN773x
from drivers.keysight_n774x import KeysightN774x
from sim_instruments.dialects.keysight_8163_sensor import SimKeysight8163Sensor
from sim_instruments.dialects.keysight_n773x import SimKeysightN773x
from sim_instruments.dialects.keysight_n774x import SimKeysightN774x
from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import SimulatedInstrument, TcpInstrumentServer

Serve = Callable[[SimulatedInstrument], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve simulated instruments on 127.0.0.1; yields a function giving each one's address."""
    servers: list[TcpInstrumentServer] = []

    def start(instrument: SimulatedInstrument) -> str:
        server = TcpInstrumentServer(instrument)
        servers.append(server)
        return server.address

    try:
        yield start
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def resource_manager() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    try:
        yield manager
    finally:
        manager.close()


def _lit_model(slot_positions: list[int | None], meter: str = "meter") -> PhysicalModel:
    model = PhysicalModel(port_count=4, seed=3)
    model.add_meter(meter, slot_positions)
    model.source.output_on = True
    return model


def _n774x(model: PhysicalModel, instrument_model: str = "N7744A") -> SimKeysightN774x:
    return SimKeysightN774x(model, "meter", instrument_model=instrument_model)


def test_every_slot_used_is_measured_anew_by_each_reading(serve, resource_manager) -> None:
    """Defect 1: each reading's trigger covers every slot used, so no slot returns the value of
    an earlier trigger: light moved from slot 1 to slot 3 between readings shows at slot 3."""
    model = _lit_model([1, 2, 3, 4])
    address = serve(_n774x(model))
    meter = open_instrument(resource_manager, driver="keysight_n774x", address=address, name="meter")
    try:
        meter.configure(1550.0, 0.0001)
        first = meter.read_all()
        with model.lock:
            model.switch_port = 3
        second = meter.read_all()
        assert meter.drain_errors() == []
    finally:
        meter.close()
    assert first.power_dbm[0] > -10 and first.power_dbm[2] < -40, first.power_dbm
    assert second.power_dbm[2] > -10 and second.power_dbm[0] < -40, second.power_dbm


def test_setup_leaves_power_on_continuous_mode_and_a_reconnect_restores_it(serve, resource_manager) -> None:
    """Defect 2: the meter starts measuring continuously; setup switches every slot used to
    single measurements, and a meter that lost its state (power cycle) gets it back with the
    reconnect, so its next trigger is not refused with -213."""
    instrument = _n774x(_lit_model([1, 2, 3, 4]))
    address = serve(instrument)
    meter = open_instrument(resource_manager, driver="keysight_n774x", address=address, name="meter",
                            options={"slots": [1, 3]})
    try:
        meter.configure(1310.0, 0.0001)
        assert [meter.query(f"INIT{slot}:CONT?") for slot in (1, 3)] == ["0", "0"]
        instrument.power_on()  # the meter was power-cycled: continuous again, settings lost
        meter.reconnect()
        assert [meter.query(f"INIT{slot}:CONT?") for slot in (1, 3)] == ["0", "0"]
        readings = meter.read_all()
        assert meter.drain_errors() == []
    finally:
        meter.close()
    assert readings.power_w.shape == (2,) and not readings.over_range.any()


@pytest.mark.parametrize("instrument_model, slots", [("N7744C", 4), ("N7745C", 8), ("N7747C", 2), ("N7748C", 4)])
def test_c_model_meters_are_driven_also_under_auto(serve, resource_manager, instrument_model: str,
                                                   slots: int) -> None:
    """Defect 3: the current production meters, opened by name and chosen from `*IDN?`."""
    address = serve(_n774x(_lit_model([1, 2, None, None, None, None, None, None][:slots]), instrument_model))
    for driver in ("keysight_n774x", "auto"):
        meter = open_instrument(resource_manager, driver=driver, address=address, name="meter")
        try:
            assert isinstance(meter, KeysightN774x) and meter.channel_count == slots
            meter.configure(1310.0, 0.0001)
            readings = meter.read_all()
            assert meter.drain_errors() == []
        finally:
            meter.close()
        assert readings.power_dbm[0] > -40


@pytest.mark.parametrize("instrument_model", ["N7731C", "N7734C", "N7736C", "N7738C"])
def test_c_model_switches_are_driven_also_under_auto(serve, resource_manager, instrument_model: str) -> None:
    model = PhysicalModel(port_count=4, seed=3)
    address = serve(SimKeysightN773x(model, instrument_model=instrument_model))
    for driver in ("keysight_n773x", "auto"):
        switch = open_instrument(resource_manager, driver=driver, address=address, name="switch",
                                 options={"port_count": 4})
        try:
            assert isinstance(switch, KeysightN773x)
            switch.select(3)
            assert switch.position() == 3 and model.switch_port == 3
        finally:
            switch.close()
        switch_port_before = model.switch_port
        assert switch_port_before == 3


@pytest.mark.parametrize("range_dbm", [None, 0.0])
def test_dual_head_master_channel_commands_go_to_head_1(serve, resource_manager, range_dbm: float | None) -> None:
    """Defect 4: an 81635A read on head 2: continuous mode, averaging time and auto range go to
    the master head (the guide: "can only be sent to master channel"), the rest to head 2."""
    model = _lit_model([1], meter="mainframe")
    address = serve(SimKeysight8163Sensor(model, "mainframe", sensor_slots=(1,), dual_head_slots=(1,),
                                          wired_head=2))
    options = {"slots": [1], "channel": 2, "range_dbm": range_dbm}
    sensor = open_instrument(resource_manager, driver="keysight_8163_sensor", address=address, name="sensor",
                             options=options)
    try:
        assert isinstance(sensor, Keysight8163Sensor)
        sensor.configure(1310.0, 0.0001)
        readings = sensor.read_all()
        assert sensor.drain_errors() == []
        assert sensor.query(":INIT1:CHAN1:CONT?") == "0"
    finally:
        sensor.close()
    assert readings.power_dbm[0] > -40


def test_the_guides_quoted_csv_reply_is_read() -> None:
    """Defect 5: the guide's example `FETC:POW:ALL:CSV?` reply is one quoted string."""
    from tests.protocol import expected_protocol

    quoted = '"+1.000000E-03,+2.500000E-04,+9.900000E+37,+1.000000E-06"'
    exchanges = [("*IDN?", "Keysight Technologies,N7744C,MY1,V1.0"), ("FETC:POW:ALL:CSV?", quoted)]
    with expected_protocol(KeysightN774x, exchanges) as meter:
        readings = meter.fetch()
    np.testing.assert_allclose(readings.power_w[[0, 1, 3]], [1e-3, 2.5e-4, 1e-6])
    assert readings.over_range.tolist() == [False, False, True, False]
