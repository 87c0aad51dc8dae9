"""Protocol tests for the Thorlabs PM100D/PM100USB/PM400 driver, and the driver on its pyvisa-sim fake."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import pyvisa
from pyvisa.errors import VisaIOError

from drivers.errors import (
    InstrumentCommunicationError,
    InstrumentError,
    InstrumentTimeout,
    ScpiError,
    WrongInstrumentError,
)
from drivers.factory import open_instrument
from drivers.thorlabs_pm100 import ThorlabsPM100
from tests.protocol import expected_protocol

IDN = ("*IDN?", "Thorlabs,PM100D,P0027168,2.7.0")
SENSOR = ("SYST:SENS:IDN?", "S122C,12345678,10-Jan-2025,1,18,289")
NO_ERROR = ("SYST:ERR?", '0,"No error"')


def _ok(command: str) -> list[tuple[str, str | None]]:
    return [(command, None), NO_ERROR]


SETUP_AUTO = [SENSOR, *_ok("SENS:POW:UNIT W"), *_ok("SENS:POW:RANG:AUTO 1"), *_ok("CONF:POW")]


def test_identity_and_single_channel() -> None:
    with expected_protocol(ThorlabsPM100, [IDN], name="pm1") as meter:
        assert meter.identity.model == "PM100D"
        assert meter.identity.serial_number == "P0027168"
        assert meter.channel_count == 1
        assert meter.slots == (1,)


@pytest.mark.parametrize("model", ["PM100D", "PM100USB", "PM100A", "PM400"])
def test_every_supported_model_is_accepted(model: str) -> None:
    with expected_protocol(ThorlabsPM100, [("*IDN?", f"Thorlabs,{model},P1,1.0")]) as meter:
        assert meter.identity.model == model


def test_configure_sends_unit_w_auto_range_power_mode_wavelength_count_once() -> None:
    exchanges = [IDN, *SETUP_AUTO, *_ok("SENS:CORR:WAV 1310"), *_ok("SENS:AVER:COUN 1"),
                 *_ok("SENS:CORR:WAV 1550"), *_ok("SENS:AVER:COUN 4")]
    with expected_protocol(ThorlabsPM100, exchanges) as meter:
        meter.configure(1310.0, 0.003)
        meter.configure(1310.0, 0.003)  # cached: no traffic
        meter.configure(1550.0, 0.003)  # wavelength only
        meter.configure(1550.0, 0.010)  # 10 ms / 3 ms per sample → 4 samples


def test_explicit_range_in_watts() -> None:
    exchanges = [IDN, SENSOR, *_ok("SENS:POW:UNIT W"), *_ok("SENS:POW:RANG:AUTO 0"),
                 *_ok("SENS:POW:RANG 0.001"), *_ok("CONF:POW"), *_ok("SENS:CORR:WAV 850"),
                 *_ok("SENS:AVER:COUN 10")]
    with expected_protocol(ThorlabsPM100, exchanges, range_w=1e-3, sample_time_s=0.001) as meter:
        meter.configure(850.0, 0.010)


def test_read_is_init_then_fetch_in_watts() -> None:
    with expected_protocol(ThorlabsPM100, [IDN, ("INIT", None), ("FETC?", "1.000000000E-03")]) as meter:
        readings = meter.read_all()
    assert readings.power_w.tolist() == [pytest.approx(1e-3)]
    assert readings.power_dbm[0] == pytest.approx(0.0)
    assert not readings.over_range[0]


def test_over_range_is_flagged_never_a_number() -> None:
    with expected_protocol(ThorlabsPM100, [IDN, ("FETC?", "9.900000000E+37")]) as meter:
        readings = meter.fetch()
    assert readings.over_range[0] and np.isnan(readings.power_w[0])


@pytest.mark.parametrize("reply", ["0.000000000E+00", "-2.100000000E-10"])
def test_under_range_dark_reading_is_below_floor(reply: str) -> None:
    with expected_protocol(ThorlabsPM100, [IDN, ("FETC?", reply)]) as meter:
        readings = meter.fetch()
    assert not readings.over_range[0]
    assert np.isnan(readings.power_dbm[0]), "≤ 0 W is below the floor, not a dBm number"


def test_missing_sensor_head_is_refused_before_configuring() -> None:
    with expected_protocol(ThorlabsPM100, [IDN, ("SYST:SENS:IDN?", "no sensor")], name="pm3") as meter:
        with pytest.raises(InstrumentError, match="pm3.*SYST:SENS:IDN.*no sensor"):
            meter.configure(1310.0, 0.003)


def test_scpi_error_names_instrument_command_and_text() -> None:
    exchanges = [IDN, *SETUP_AUTO, ("SENS:CORR:WAV 2500", None), ("SYST:ERR?", '-222,"Data out of range"'),
                 NO_ERROR]
    with expected_protocol(ThorlabsPM100, exchanges, name="pm7") as meter:
        with pytest.raises(ScpiError) as raised:
            meter.configure(2500.0, 0.003)
    assert raised.value.code == -222
    assert str(raised.value) == "pm7: 'SENS:CORR:WAV 2500': SCPI error -222, 'Data out of range'"


def test_failed_configure_is_not_cached() -> None:
    exchanges = [IDN, *SETUP_AUTO, ("SENS:CORR:WAV 1310", None), ("SYST:ERR?", '-230,"Data stale"'), NO_ERROR,
                 *_ok("SENS:CORR:WAV 1310"), *_ok("SENS:AVER:COUN 1")]
    with expected_protocol(ThorlabsPM100, exchanges) as meter:
        with pytest.raises(ScpiError):
            meter.configure(1310.0, 0.003)
        meter.configure(1310.0, 0.003)  # re-sent in full


def test_wrong_model_is_refused_with_a_clear_message() -> None:
    with pytest.raises(WrongInstrumentError) as raised:
        with expected_protocol(ThorlabsPM100, [("*IDN?", "Thorlabs,PM16-121,P1,1.0")], name="pm2"):
            pass
    message = str(raised.value)
    assert "pm2" in message and "PM16-121" in message and "PM100D" in message and "station config" in message


def test_timeout_and_garbage_are_typed_errors() -> None:
    timeout = VisaIOError(pyvisa.constants.StatusCode.error_timeout)
    with expected_protocol(ThorlabsPM100, [IDN, ("FETC?", timeout), ("FETC?", "OVER")], name="pm1") as meter:
        with pytest.raises(InstrumentTimeout, match="pm1.*FETC"):
            meter.fetch()
        with pytest.raises(InstrumentCommunicationError, match="expected a number"):
            meter.fetch()


# -- on the pyvisa-sim fake ---------------------------------------------------------------------

@pytest.fixture
def sim_rm() -> pyvisa.ResourceManager:
    path = resources.files("sim_instruments").joinpath("yaml", "thorlabs_pm100.yaml")
    resource_manager = pyvisa.ResourceManager(f"{path}@sim")
    yield resource_manager
    resource_manager.close()


def test_sim_good_meter_auto_detected(sim_rm: pyvisa.ResourceManager) -> None:
    meter = open_instrument(sim_rm, driver="auto", address="USB0::0x1313::0x8078::P0027168::INSTR", name="pm1")
    assert isinstance(meter, ThorlabsPM100)
    meter.configure(1310.0, 0.003)
    assert meter.read_all().power_dbm[0] == pytest.approx(0.0)
    with pytest.raises(ScpiError, match="-113"):
        meter.configure(2500.0, 0.003)  # outside the fake's calibrated span


def test_sim_bad_start_states(sim_rm: pyvisa.ResourceManager) -> None:
    dark = open_instrument(sim_rm, driver="thorlabs_pm100", address="USB0::0x1313::0x8072::P2000001::INSTR")
    dark.configure(1310.0, 0.003)
    assert np.isnan(dark.read_all().power_dbm[0])
    over = open_instrument(sim_rm, driver="thorlabs_pm100", address="USB0::0x1313::0x8078::P0000002::INSTR")
    assert over.read_all().over_range[0]
    no_sensor = open_instrument(sim_rm, driver="thorlabs_pm100", address="USB0::0x1313::0x8078::P0000003::INSTR")
    with pytest.raises(InstrumentError, match="no sensor"):
        no_sensor.configure(1310.0, 0.003)
    with pytest.raises(WrongInstrumentError, match="PM16-121"):
        open_instrument(sim_rm, driver="thorlabs_pm100", address="USB0::0x1313::0x8078::P0000004::INSTR")
    queued = open_instrument(sim_rm, driver="thorlabs_pm100", address="USB0::0x1313::0x8078::P0000005::INSTR",
                             name="pm5")
    with pytest.raises(ScpiError, match="pm5.*SENS:POW:UNIT W.*Data corrupt"):
        queued.configure(1310.0, 0.003)


def test_sim_station_model_mismatch_is_refused(sim_rm: pyvisa.ResourceManager) -> None:
    with pytest.raises(WrongInstrumentError, match="expected model 'PM400'"):
        open_instrument(sim_rm, driver="thorlabs_pm100", address="USB0::0x1313::0x8078::P0027168::INSTR",
                        model="PM400")
