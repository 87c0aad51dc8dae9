"""The simulated N774x behaves as the N77xx Series Programming Guide (ed. 7, 2015) describes."""

from __future__ import annotations

import struct

import pytest

from sim_instruments.dialects.keysight_n774x import SimKeysightN774x
from sim_instruments.dialects.keysight_n774x_logging import SimKeysightN774xLogging

from .conftest import Connect, csv_floats, errors, lit_model


def _meter(instrument_model: str = "N7744A", *, seed: int = 7, logging: bool = False) -> SimKeysightN774x:
    model = lit_model(seed=seed)
    model.add_meter("meter", [1, 2, 3, 4, None, None, None, None][:{"N7745A": 8, "N7745C": 8, "N7747A": 2,
                                                                    "N7747C": 2}.get(instrument_model, 4)])
    make = SimKeysightN774xLogging if logging else SimKeysightN774x
    return make(model, "meter", instrument_model=instrument_model)


def test_power_on_state_is_continuous_auto_range_dbm(connect: Connect) -> None:
    meter = connect(_meter())
    for slot in range(1, 5):
        assert meter.query(f"INIT{slot}:CONT?").strip() == "1"
        assert meter.query(f"SENS{slot}:POW:RANG:AUTO?").strip() == "1"
        assert meter.query(f"SENS{slot}:POW:UNIT?").strip() == "0"
    assert float(meter.query("SENS1:POW:WAV?")) == pytest.approx(1550e-9)
    assert errors(meter) == []


def test_an_immediate_trigger_while_continuous_is_refused_with_213(connect: Connect) -> None:
    meter = connect(_meter())
    meter.write("INIT:IMM")
    assert errors(meter) == ['-213,"Init ignored"']
    meter.write("INIT1:CONT 0")
    meter.write("INIT:IMM")
    assert errors(meter) == []


def test_init_without_suffix_triggers_slot_1_only_and_fetch_returns_stale_values_elsewhere(connect: Connect) -> None:
    instrument = _meter()
    meter = connect(instrument)
    for slot in range(1, 5):
        meter.write(f"INIT{slot}:CONT 0")
    before = csv_floats(meter.query("FETC:POW:ALL:CSV?"))
    assert csv_floats(meter.query("FETC:POW:ALL:CSV?")) == before  # no trigger: the same previous values
    meter.write("INIT2:IMM")
    after = csv_floats(meter.query("FETC:POW:ALL:CSV?"))
    assert after[1] != before[1]  # slot 2 measured anew (the noise differs)
    assert [after[0], after[2], after[3]] == [before[0], before[2], before[3]]
    with instrument.model.lock:  # light changes: only a triggered slot sees it
        instrument.model.source.output_on = False
    meter.write("INIT:IMM")  # a missing [n] is 1
    dark = csv_floats(meter.query("FETC:POW:ALL:CSV?"))
    assert dark[0] < 1e-9 < after[0]
    assert dark[1:] == after[1:]
    assert errors(meter) == []


def test_a_continuous_slot_is_fresh_at_every_fetch(connect: Connect) -> None:
    meter = connect(_meter())
    first = csv_floats(meter.query("FETC:POW:ALL:CSV?"))
    second = csv_floats(meter.query("FETC:POW:ALL:CSV?"))
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_fetch_all_csv_is_a_quoted_string_of_watts(connect: Connect) -> None:
    meter = connect(_meter())
    meter.write("SENS1:POW:UNIT 0")  # dBm display unit: the CSV reply stays in W
    reply = meter.query("FETC:POW:ALL:CSV?").strip()
    assert reply.startswith('"') and reply.endswith('"')
    assert all(0 < value < 1e-2 for value in csv_floats(reply))


def test_read_pow_all_triggers_every_slot_itself_and_returns_a_little_endian_block(connect: Connect) -> None:
    instrument = _meter()
    meter = connect(instrument)
    for slot in range(1, 5):
        meter.write(f"INIT{slot}:CONT 0")
    before = csv_floats(meter.query("FETC:POW:ALL:CSV?"))
    values = meter.query_binary_values("READ:POW:ALL?", datatype="f", is_big_endian=False)
    assert len(values) == 4
    fetched = csv_floats(meter.query("FETC:POW:ALL:CSV?"))
    assert all(new != old for new, old in zip(fetched, before, strict=True))
    assert fetched == pytest.approx(values, rel=1e-6)  # 4-byte floats
    assert struct.calcsize("<4f") == 16
    assert errors(meter) == []


def test_long_and_short_forms_any_case_and_optional_nodes_are_one_command(connect: Connect) -> None:
    meter = connect(_meter())
    meter.write(":SENSe2:POWer:WAVelength 1310NM")
    assert meter.query("sens2:pow:wav?") == meter.query(":SENSE2:POWER:WAVELENGTH?")
    assert float(meter.query("Sens2:Pow:Wav?")) == pytest.approx(1310e-9)
    meter.write("init3:continuous off")
    meter.write(":INITiate3:IMMediate")
    meter.write("INIT3")
    assert meter.query(":INITIATE3:CONTINUOUS?").strip() == "0"
    meter.write("SENS:POW:ATIM 10MS")  # missing [n] is slot 1
    assert float(meter.query("SENS1:POW:ATIM?")) == pytest.approx(0.01)
    assert errors(meter) == []
    meter.write("SENS1:POW:WAVEL 1310nm")  # neither the short nor the long form
    assert errors(meter) == ['-113,"Undefined header"']


def test_wavelength_without_a_suffix_is_in_metres(connect: Connect) -> None:
    meter = connect(_meter())
    meter.write("SENS1:POW:WAV 1.31E-6")
    assert float(meter.query("SENS1:POW:WAV?")) == pytest.approx(1310e-9)
    meter.write("SENS1:POW:WAV 1310")  # 1310 m
    assert errors(meter) == ['-222,"Data out of range"']


def test_error_conditions_of_the_guide(connect: Connect) -> None:
    meter = connect(_meter())
    meter.write("SENS5:POW:WAV 1310nm")  # an N7744A has slots 1-4
    meter.write("SENS1:POW:RANG -60DBM")
    meter.write("SENS1:POW:ATIM 20S")
    meter.write("SENS1:POW:UNIT 2")
    meter.write("SENS1:POW:WAV 1310parsec")
    meter.write("BOGUS:HEADER")
    assert errors(meter) == ['-303,"Module slot empty or slot extension empty"', '-222,"Data out of range"',
                             '-222,"Data out of range"', '-224,"Illegal parameter value"', '-131,"Invalid suffix"',
                             '-113,"Undefined header"']


def test_the_error_queue_holds_30_and_marks_the_overflow(connect: Connect) -> None:
    meter = connect(_meter())
    for _ in range(35):
        meter.write("BOGUS")
    queue = errors(meter)
    assert len(queue) == 30
    assert queue[-1] == '-350,"Queue overflow"' and queue[0] == '-113,"Undefined header"'


def test_a_range_set_by_hand_ends_auto_ranging(connect: Connect) -> None:
    meter = connect(_meter())
    meter.write("SENS1:POW:RANG -20DBM")
    assert meter.query("SENS1:POW:RANG:AUTO?").strip() == "0"
    assert float(meter.query("SENS1:POW:RANG?")) == -20.0


def test_several_commands_in_one_message(connect: Connect) -> None:
    meter = connect(_meter())
    assert meter.query("SENS1:POW:WAV 1310nm;:SENS1:POW:WAV?;*OPC?").strip() == "+1.31000000E-06;1"


@pytest.mark.parametrize("instrument_model", ["N7744C", "N7745C", "N7747C", "N7748C"])
def test_c_models_identify_as_themselves_with_their_slot_count(connect: Connect, instrument_model: str) -> None:
    meter = connect(_meter(instrument_model))
    assert meter.query("*IDN?").split(",")[:2] == ["Keysight Technologies", instrument_model]
    slots = len(csv_floats(meter.query("FETC:POW:ALL:CSV?")))
    assert slots == {"N7744C": 4, "N7745C": 8, "N7747C": 2, "N7748C": 4}[instrument_model]
    meter.write("SENS:POW:WAV:ALL 1310NM")  # public code written against a real N7744C
    meter.write(f"SENS{slots}:POW:GAIN:AUTO 1")
    assert float(meter.query(f"SENS{slots}:POW:WAV?")) == pytest.approx(1310e-9)
    assert meter.query(f"READ{slots}:POW?")
    assert errors(meter) == []


def test_logging_mode_triggers_all_armed_slots_whatever_the_suffix(connect: Connect) -> None:
    meter = connect(_meter(logging=True))
    for slot in (1, 2):
        meter.write(f"INIT{slot}:CONT 0")
        meter.write(f"TRIG{slot}:INP SME")
        meter.write(f"SENS{slot}:FUNC:PAR:LOGG 4,100US")
        meter.write(f"SENS{slot}:FUNC:STAT LOGG,STAR")
    meter.write("SENS1:POW:WAV 1310nm")  # the function is on: settings are refused
    assert errors(meter) == ['-284,"Function running"']
    meter.write("SENS1:FUNC:RES?")  # nothing logged yet: an error, no reply
    assert errors(meter) == ['-286,"No function data"']
    meter.write("INIT3:IMM")  # slot 3 is not logging, yet this triggers slots 1 and 2
    for slot in (1, 2):
        for _ in range(100):
            if meter.query(f"SENS{slot}:FUNC:STAT?").strip().endswith("COMPLETE"):
                break
        assert meter.query(f"SENS{slot}:FUNC:STAT?").strip() == "LOGGING_STABILITY,COMPLETE"
        assert len(meter.query_binary_values(f"SENS{slot}:FUNC:RES?", datatype="f")) == 4
    assert errors(meter) == []


def test_the_same_seed_gives_the_same_readings(connect: Connect) -> None:
    def readings(seed: int) -> list[list[float]]:
        meter = connect(_meter(seed=seed))
        meter.write("INIT1:CONT 0")
        sequence = []
        for _ in range(3):
            meter.write("INIT1:IMM")
            sequence.append(csv_floats(meter.query("FETC:POW:ALL:CSV?")))
        return sequence

    assert readings(11) == readings(11)
    assert readings(11) != readings(12)
