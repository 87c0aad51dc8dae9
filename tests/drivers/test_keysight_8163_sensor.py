"""Protocol tests for 81634B-style sensor modules in an 8163B/8164B mainframe, and the pyvisa-sim fake."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import pyvisa
from pyvisa.errors import VisaIOError

from drivers.errors import InstrumentTimeout, ScpiError, WrongInstrumentError
from drivers.factory import open_instrument
from drivers.keysight_8163_sensor import Keysight8163Sensor
from tests.protocol import expected_protocol

IDN = ("*IDN?", "Agilent Technologies,8163B,MY48208514,V5.25(72637)")
NO_ERROR = ("SYST:ERR?", '+0,"No error"')


def _ok(*commands: str) -> list[tuple[str, str | None]]:
    return [exchange for command in commands for exchange in ((command, None), NO_ERROR)]


def test_configure_two_slots_unit_w_software_trigger_auto_range_wavelength_averaging() -> None:
    exchanges = [IDN, *_ok(":SENS2:CHAN1:POW:UNIT 1", ":INIT2:CHAN1:CONT 0", ":SENS2:CHAN1:POW:RANG:AUTO 1",
                           ":SENS3:CHAN1:POW:UNIT 1", ":INIT3:CHAN1:CONT 0", ":SENS3:CHAN1:POW:RANG:AUTO 1",
                           ":SENS2:CHAN1:POW:WAV 1310NM", ":SENS3:CHAN1:POW:WAV 1310NM",
                           ":SENS2:CHAN1:POW:ATIM 100MS", ":SENS3:CHAN1:POW:ATIM 100MS",
                           ":SENS2:CHAN1:POW:ATIM 0.5MS", ":SENS3:CHAN1:POW:ATIM 0.5MS")]
    with expected_protocol(Keysight8163Sensor, exchanges, slots=(2, 3)) as meter:
        assert meter.channel_count == 2
        meter.configure(1310.0, 0.1)
        meter.configure(1310.0, 0.1)  # cached
        meter.configure(1310.0, 0.0005)  # averaging only


def test_explicit_range_and_second_head_with_master_channel_commands_on_head_1() -> None:
    """Mainframes guide: INIT:CONT, ATIM and RANG:AUTO "can only be sent to master channel"."""
    exchanges = [IDN, *_ok(":SENS1:CHAN2:POW:UNIT 1", ":INIT1:CHAN1:CONT 0", ":SENS1:CHAN1:POW:RANG:AUTO 0",
                           ":SENS1:CHAN2:POW:RANG -20DBM", ":SENS1:CHAN2:POW:WAV 1550NM",
                           ":SENS1:CHAN1:POW:ATIM 1MS")]
    with expected_protocol(Keysight8163Sensor, exchanges, slots=(1,), channel=2, range_dbm=-20.0) as meter:
        meter.configure(1550.0, 0.001)


def test_read_triggers_every_slot_then_fetches_in_watts_and_flags_out_of_range() -> None:
    exchanges = [IDN, (":INIT2:CHAN1:IMM", None), (":INIT3:CHAN1:IMM", None),
                 (":FETC2:CHAN1:POW?", "+1.00000000E-003"), (":FETC3:CHAN1:POW?", "+3.40282300E+038")]
    with expected_protocol(Keysight8163Sensor, exchanges, slots=(2, 3)) as meter:
        readings = meter.read_all()
    assert readings.power_dbm[0] == pytest.approx(0.0)
    assert readings.over_range.tolist() == [False, True] and np.isnan(readings.power_w[1])


def test_under_range_reading_is_below_floor() -> None:
    with expected_protocol(Keysight8163Sensor, [IDN, (":FETC1:CHAN1:POW?", "-1.20000000E-011")]) as meter:
        readings = meter.fetch()
    assert not readings.over_range[0] and np.isnan(readings.power_dbm[0])


def test_empty_slot_error_names_instrument_and_command() -> None:
    exchanges = [IDN, (":SENS4:CHAN1:POW:UNIT 1", None),
                 ("SYST:ERR?", '-303,"Module slot empty or slot extension empty"'), NO_ERROR]
    with expected_protocol(Keysight8163Sensor, exchanges, slots=(4,), name="mainframe") as meter:
        with pytest.raises(ScpiError, match="mainframe.*:SENS4:CHAN1:POW:UNIT 1.*-303.*slot empty"):
            meter.setup()


def test_wrong_model_timeout_and_bad_slots() -> None:
    with pytest.raises(WrongInstrumentError, match="8153A"):
        with expected_protocol(Keysight8163Sensor, [("*IDN?", "HEWLETT-PACKARD,8153A,1,V2")]):
            pass
    with pytest.raises(ValueError, match="not mainframe slots"):
        with expected_protocol(Keysight8163Sensor, [IDN], slots=(0,)):
            pass
    timeout = VisaIOError(pyvisa.constants.StatusCode.error_timeout)
    with expected_protocol(Keysight8163Sensor, [IDN, (":FETC1:CHAN1:POW?", timeout)]) as meter:
        with pytest.raises(InstrumentTimeout, match=":FETC1:CHAN1:POW"):
            meter.fetch()


def test_on_pyvisa_sim() -> None:
    path = resources.files("sim_instruments").joinpath("yaml", "keysight_8163_sensor.yaml")
    resource_manager = pyvisa.ResourceManager(f"{path}@sim")
    try:
        meter = open_instrument(resource_manager, driver="keysight_8163_sensor", address="GPIB0::20::INSTR",
                                options={"slots": [2, 3]})
        meter.configure(1310.0, 0.1)
        readings = meter.read_all()
        assert readings.power_w == pytest.approx([1e-3, 5e-4])
        with pytest.raises(ScpiError, match="-113"):
            meter.configure(1310.0, 20.0)  # 20 s averaging: outside the module's spec
        over = open_instrument(resource_manager, driver="keysight_8163_sensor", address="GPIB0::21::INSTR",
                               options={"slots": [2]})
        assert over.read_all().over_range[0]
        with pytest.raises(WrongInstrumentError):
            open_instrument(resource_manager, driver="keysight_8163_sensor", address="GPIB0::22::INSTR")
        empty = open_instrument(resource_manager, driver="keysight_8163_sensor", address="GPIB0::23::INSTR",
                                options={"slots": [2, 3]})
        with pytest.raises(ScpiError, match="-303"):
            empty.configure(1310.0, 0.1)
    finally:
        resource_manager.close()
