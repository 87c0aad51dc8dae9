"""The simulated switch and sources take their manuals' headers in every SCPI spelling."""

from __future__ import annotations

import pytest

from sim_instruments.dialects.generic_scpi_source import SimExfoIqsSource
from sim_instruments.dialects.keysight_816x import SimKeysight816xSource
from sim_instruments.dialects.keysight_n773x import SimKeysightN773x
from sim_instruments.physics import PhysicalModel

from .conftest import Connect, errors


@pytest.mark.parametrize("instrument_model", ["N7734A", "N7731C", "N7734C", "N7736C", "N7738C"])
def test_switch_moves_and_reports_in_any_spelling(connect: Connect, instrument_model: str) -> None:
    switch = connect(SimKeysightN773x(PhysicalModel(port_count=8), instrument_model=instrument_model))
    assert switch.query("*IDN?").split(",")[1] == instrument_model
    switch.write(":ROUT1:CHAN1 A,5")
    assert switch.query(":ROUT1?").strip() == "A,5"
    switch.write("route a,3")  # missing suffixes are 1
    assert switch.query(":ROUTe1:CHANnel1?").strip() == "A,3"
    assert switch.query(":ROUT1:CONF?").strip() == "A;1,8"
    assert errors(switch) == []


def test_switch_refuses_a_port_it_lacks_and_a_module_it_lacks(connect: Connect) -> None:
    switch = connect(SimKeysightN773x(PhysicalModel(port_count=8)))
    switch.write(":ROUT1 A,9")
    switch.write(":ROUT2 A,1")
    assert errors(switch) == ['-222,"Data out of range"', '-303,"Module slot empty or slot extension empty"']
    assert switch.query(":ROUT1?").strip() == "A,1"


def test_source_powers_up_dark_and_takes_the_guides_spellings(connect: Connect) -> None:
    model = PhysicalModel(port_count=4)
    source = connect(SimKeysight816xSource(model, slot=2))
    assert source.query(":SOUR2:CHAN1:POW:STAT?").strip() == "0"
    source.write(":source2:channel1:power:state on")
    assert source.query(":SOURce2:POWer:STATe?").strip() == "1"
    source.write(":SOUR2:WAV 1550NM")
    assert float(source.query(":SOUR2:WAV?")) == pytest.approx(1.55e-6)
    source.write(":SOUR2:WAV 1.31E-6")  # no suffix: metres
    assert float(source.query(":SOUR2:CHAN1:WAV?")) == pytest.approx(1.31e-6)
    assert source.query(":SOUR2:POW?") == source.query(":SOURce2:POWer:LEVel:IMMediate:AMPLitude?")
    assert errors(source) == []
    source.write(":SOUR2:WAV 1490NM")  # not one of this module's wavelengths
    source.write(":SOUR1:POW:STAT 1")  # no source in slot 1
    assert errors(source) == ['-222,"Data out of range"', '-303,"Module slot empty or slot extension empty"']
    source.write("*RST")
    assert source.query(":SOUR2:POW:STAT?").strip() == "0"


def test_exfo_source_answers_its_state_as_nr1_and_rst_turns_it_off(connect: Connect) -> None:
    source = connect(SimExfoIqsSource(PhysicalModel(port_count=4), lins=1))
    assert source.query("LINS1:SOUR:POW:STAT?").strip() == "0"
    source.write("lins1:source:power:state on")
    assert source.query(":LINS1:SOURce:POWer:STATe?").strip() == "1"
    source.write("LINS1:SOUR:WAV 1550NM")
    assert float(source.query("LINS1:SOUR:WAV?")) == pytest.approx(1.55e-6)
    source.write("LINS2:SOUR:POW:STAT ON")  # no module there
    assert errors(source) == ['-303,"Module slot empty or slot extension empty"']
    source.write("*RST")
    assert source.query("LINS1:SOUR:POW:STAT?").strip() == "0"
