"""Protocol tests for the light sources: 816x single/dual wavelength, EXFO IQS, generic SCPI; pyvisa-sim fakes."""

from __future__ import annotations

from importlib import resources

import pytest
import pyvisa
from pyvisa.errors import VisaIOError

from drivers.errors import InstrumentTimeout, ScpiError, WrongInstrumentError
from drivers.exfo_iqs_source import ExfoIqsSource
from drivers.factory import open_instrument
from drivers.generic_scpi_source import GenericScpiSource
from drivers.keysight_816x_source import Keysight816xSource
from tests.protocol import expected_protocol

NO_ERROR = ("SYST:ERR?", '+0,"No error"')
K816X_IDN = ("*IDN?", "Agilent Technologies,8164B,MY48208514,V5.25(72637)")
EXFO_IDN = ("*IDN?", "EXFO Inc.,IQS-600,EX000001,6.1.0")
GENERIC_IDN = ("*IDN?", "Generic,MWS-4,GS000001,1.0")


def _ok(*commands: str) -> list[tuple[str, str | None]]:
    return [exchange for command in commands for exchange in ((command, None), NO_ERROR)]


def _yaml(name: str) -> str:
    return str(resources.files("sim_instruments").joinpath("yaml", name))


# -- Keysight 816x dual-wavelength module ---------------------------------------------------------

def test_816x_dual_wavelength_module_selects_lower_and_upper_laser() -> None:
    exchanges = [K816X_IDN, *_ok(":SOUR2:WAV UPP", ":SOUR2:WAV LOW")]
    with expected_protocol(Keysight816xSource, exchanges, slot=2, wavelengths_nm=(1310.0, 1550.0),
                           wavelength_select="lower_upper") as source:
        source.set_wavelength(1550.0)
        source.set_wavelength(1550.0)  # cached
        source.set_wavelength(1310.0)


def test_816x_dual_wavelength_needs_exactly_two_wavelengths() -> None:
    with pytest.raises(ValueError, match="exactly two"):
        with expected_protocol(Keysight816xSource, [K816X_IDN], wavelengths_nm=(1310.0, 1490.0, 1550.0),
                               wavelength_select="lower_upper"):
            pass


# -- EXFO IQS ------------------------------------------------------------------------------------

def test_exfo_commands_carry_the_lins_prefix() -> None:
    exchanges = [EXFO_IDN, *_ok("LINS3:SOUR:POW:STAT ON", "LINS3:SOUR:WAV 1550NM", "LINS3:SOUR:POW:STAT OFF"),
                 ("LINS3:SOUR:POW:STAT?", "0")]
    with expected_protocol(ExfoIqsSource, exchanges, lins=3) as source:
        source.set_output(True)
        source.set_output(True)  # cached
        source.set_wavelength(1550.0)
        source.set_wavelength(1550.0)  # cached
        source.set_output(False)
        assert source.output_enabled() is False


def test_exfo_without_prefix_and_reset_turns_the_source_off() -> None:
    exchanges = [EXFO_IDN, *_ok("SOUR:POW:STAT ON", "*RST", "SOUR:POW:STAT ON"), ("SOUR:POW:STAT?", "ON")]
    with expected_protocol(ExfoIqsSource, exchanges, lins=0) as source:
        source.set_output(True)
        source.reset()
        source.set_output(True)  # not cached across *RST: the platform turned it off
        assert source.output_enabled() is True


def test_exfo_error_and_wrong_model() -> None:
    exchanges = [EXFO_IDN, ("LINS1:SOUR:POW:STAT ON", None), ("SYST:ERR?", '-200,"Execution error"'), NO_ERROR]
    with expected_protocol(ExfoIqsSource, exchanges, name="iqs") as source:
        with pytest.raises(ScpiError, match="iqs.*LINS1:SOUR:POW:STAT ON.*Execution error"):
            source.set_output(True)
    with pytest.raises(WrongInstrumentError, match="FTB-500"):
        with expected_protocol(ExfoIqsSource, [("*IDN?", "EXFO Inc.,FTB-500,1,2.0")]):
            pass


def test_exfo_refuses_unavailable_wavelength_before_sending() -> None:
    with expected_protocol(ExfoIqsSource, [EXFO_IDN], wavelengths_nm=(1310.0,)) as source:
        with pytest.raises(ValueError, match="1550"):
            source.set_wavelength(1550.0)


# -- generic SCPI source -------------------------------------------------------------------------

def test_generic_default_templates() -> None:
    exchanges = [GENERIC_IDN, *_ok("OUTP:STAT 1", "SOUR:WAV 850NM", "SOUR:WAV 1300NM"), ("OUTP:STAT?", "1")]
    with expected_protocol(GenericScpiSource, exchanges, wavelengths_nm=(850.0, 1300.0)) as source:
        source.set_output(True)
        source.set_wavelength(850.0)
        source.set_wavelength(1300.0)
        assert source.output_enabled()


def test_generic_configured_templates_per_wavelength_commands_and_error_query() -> None:
    no_error = (":SYSTem:ERRor?", "0,No error")
    exchanges = [GENERIC_IDN, (":LASer:STATe ON", None), no_error, ("ROUT:LAS 2", None), no_error,
                 (":WAVE 1.31E-06", None), no_error, (":LASer:STATe?", "ON")]
    options = {"wavelengths_nm": (1310.0, 1550.0), "output_command": ":LASer:STATe {state}",
               "output_query": ":LASer:STATe?", "on_value": "ON", "off_value": "OFF",
               "wavelength_command": ":WAVE {wavelength_m:.2E}", "wavelength_commands": {"1550": "ROUT:LAS 2"},
               "error_query": ":SYSTem:ERRor?"}
    with expected_protocol(GenericScpiSource, exchanges, **options) as source:
        source.set_output(True)
        source.set_wavelength(1550.0)
        source.set_wavelength(1310.0)
        assert source.output_enabled()


def test_generic_accepted_models_and_timeout() -> None:
    with pytest.raises(WrongInstrumentError, match="LS-2"):
        with expected_protocol(GenericScpiSource, [("*IDN?", "OtherCo,LS-2,1,3.1")], accepted_models=("MWS-4",)):
            pass
    timeout = VisaIOError(pyvisa.constants.StatusCode.error_timeout)
    with expected_protocol(GenericScpiSource, [GENERIC_IDN, ("OUTP:STAT?", timeout)], name="ls") as source:
        with pytest.raises(InstrumentTimeout, match="ls.*OUTP:STAT"):
            source.output_enabled()


# -- pyvisa-sim fakes ----------------------------------------------------------------------------

def test_exfo_on_pyvisa_sim() -> None:
    resource_manager = pyvisa.ResourceManager(f"{_yaml('exfo_iqs_source.yaml')}@sim")
    try:
        source = open_instrument(resource_manager, driver="auto", address="GPIB0::12::INSTR", name="iqs")
        assert isinstance(source, ExfoIqsSource)
        assert source.output_enabled() is False
        source.set_output(True)
        assert source.output_enabled() is True
        source.set_wavelength(1550.0)
        with pytest.raises(WrongInstrumentError):
            open_instrument(resource_manager, driver="exfo_iqs_source", address="GPIB0::13::INSTR")
        faulty = open_instrument(resource_manager, driver="exfo_iqs_source", address="GPIB0::14::INSTR")
        with pytest.raises(ScpiError, match="-200"):
            faulty.set_output(True)
    finally:
        resource_manager.close()


def test_generic_on_pyvisa_sim() -> None:
    resource_manager = pyvisa.ResourceManager(f"{_yaml('generic_scpi_source.yaml')}@sim")
    try:
        options = {"wavelengths_nm": [850, 1300, 1310, 1550], "accepted_models": ["MWS-4"]}
        source = open_instrument(resource_manager, driver="generic_scpi_source",
                                 address="TCPIP0::192.168.1.40::5025::SOCKET", options=options)
        source.set_output(True)
        assert source.output_enabled()
        for wavelength_nm in (850.0, 1300.0, 1310.0, 1550.0):
            source.set_wavelength(wavelength_nm)
        interlock = open_instrument(resource_manager, driver="generic_scpi_source",
                                    address="TCPIP0::192.168.1.41::5025::SOCKET", options=options)
        with pytest.raises(ScpiError, match="interlock"):
            interlock.set_output(True)
        with pytest.raises(WrongInstrumentError, match="LS-2"):
            open_instrument(resource_manager, driver="generic_scpi_source",
                            address="TCPIP0::192.168.1.42::5025::SOCKET", options=options)
    finally:
        resource_manager.close()


def test_816x_dual_on_pyvisa_sim_refuses_unknown_selection() -> None:
    resource_manager = pyvisa.ResourceManager(f"{_yaml('keysight_816x_source.yaml')}@sim")
    try:
        source = open_instrument(resource_manager, driver="keysight_816x_source",
                                 address="TCPIP0::192.168.1.10::5025::SOCKET",
                                 options={"wavelength_select": "lower_upper"})
        with pytest.raises(ScpiError, match="-113"):
            source.set_wavelength(1550.0)  # the single-wavelength-command fake does not know UPP
    finally:
        resource_manager.close()
