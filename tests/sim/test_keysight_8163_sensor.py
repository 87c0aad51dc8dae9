"""The simulated 8163B/8164B sensors behave as the 8163A/B, 8164A/B, 8166A/B Mainframes Programming Guide says."""

from __future__ import annotations

import pytest

from sim_instruments.dialects.keysight_8163_sensor import SimKeysight8163Sensor

from .conftest import Connect, errors, lit_model


def _sensor(*, dual: bool = False, seed: int = 7) -> SimKeysight8163Sensor:
    model = lit_model(seed=seed)
    model.add_meter("sensor", [1, 2])
    return SimKeysight8163Sensor(model, "sensor", sensor_slots=(1, 2), dual_head_slots=(2,) if dual else (),
                                 wired_head=1)


def test_power_on_state_and_wavelength_in_metres(connect: Connect) -> None:
    sensor = connect(_sensor())
    assert sensor.query(":INIT1:CHAN1:CONT?").strip() == "1"
    assert sensor.query(":SENS1:CHAN1:POW:RANG:AUTO?").strip() == "1"
    assert sensor.query(":SENS1:CHAN1:POW:UNIT?").strip() == "0"
    sensor.write(":SENS1:CHAN1:POW:WAV 1310NM")
    assert float(sensor.query(":SENS1:CHAN1:POW:WAV?")) == pytest.approx(1.31e-6)
    assert errors(sensor) == []


def test_channel_node_and_suffixes_are_optional_and_forms_interchangeable(connect: Connect) -> None:
    sensor = connect(_sensor())
    sensor.write(":sense2:power:atime 100ms")
    assert sensor.query(":SENS2:CHAN1:POW:ATIM?") == sensor.query("sens2:pow:atim?")
    assert float(sensor.query(":SENSe2:CHANnel1:POWer:ATIMe?")) == pytest.approx(0.1)
    assert errors(sensor) == []


def test_a_triggered_slot_keeps_its_value_until_triggered_again(connect: Connect) -> None:
    instrument = _sensor()
    sensor = connect(instrument)
    sensor.write(":INIT1:CHAN1:CONT 0")
    sensor.write(":SENS1:CHAN1:POW:UNIT 1")
    sensor.write(":INIT1:CHAN1:IMM")
    first = float(sensor.query(":FETC1:CHAN1:POW?"))
    assert float(sensor.query(":FETC1:CHAN1:POW?")) == first
    with instrument.model.lock:
        instrument.model.source.output_on = False
    assert float(sensor.query(":FETC1:CHAN1:POW?")) == first  # the light went, the value is the old one
    assert float(sensor.query(":READ1:CHAN1:POW?")) < first / 1000  # READ triggers itself
    assert errors(sensor) == []


@pytest.mark.parametrize("command", [":INIT2:CHAN2:CONT 0", ":SENS2:CHAN2:POW:ATIM 10MS",
                                     ":SENS2:CHAN2:POW:RANG:AUTO 0"])
def test_dual_head_master_channel_commands_are_refused_on_the_slave(connect: Connect, command: str) -> None:
    sensor = connect(_sensor(dual=True))
    sensor.write(command)
    assert errors(sensor) == ['-306,"Command can only be sent to master channel"']
    sensor.write(command.replace("CHAN2", "CHAN1"))
    sensor.write(":SENS2:CHAN2:POW:WAV 1550NM")  # per-head settings are fine on head 2
    assert sensor.query(":FETC2:CHAN2:POW?")
    assert errors(sensor) == []


def test_heads_share_the_master_trigger_but_keep_their_own_range(connect: Connect) -> None:
    instrument = _sensor(dual=True)
    sensor = connect(instrument)
    sensor.write(":INIT2:CHAN1:CONT 0")  # both heads now wait for triggers
    sensor.write(":SENS2:CHAN2:POW:UNIT 1")
    before = float(sensor.query(":FETC2:CHAN2:POW?"))
    assert float(sensor.query(":FETC2:CHAN2:POW?")) == before
    sensor.write(":INIT2:CHAN1:IMM")  # the master's trigger measures the slave too
    assert float(sensor.query(":FETC2:CHAN2:POW?")) != before
    sensor.write(":SENS2:CHAN2:POW:RANG -24DBM")  # per head, rounded to 10 dB
    assert float(sensor.query(":SENS2:CHAN2:POW:RANG?")) == -20.0
    assert float(sensor.query(":SENS2:CHAN1:POW:RANG?")) == 0.0
    sensor.write(":SENS2:CHAN2:POW:ATIM?")  # the averaging time is the master's, even to ask
    assert errors(sensor) == ['-306,"Command can only be sent to master channel"']


def test_an_empty_slot_or_head_is_303(connect: Connect) -> None:
    sensor = connect(_sensor())
    sensor.write(":SENS3:CHAN1:POW:WAV 1310NM")
    sensor.write(":SENS1:CHAN2:POW:WAV 1310NM")  # slot 1 holds a single head
    assert errors(sensor) == ['-303,"Module slot empty or slot extension empty"'] * 2


def test_out_of_range_reads_above_1e20(connect: Connect) -> None:
    sensor = connect(_sensor())
    sensor.write(":SENS1:CHAN1:POW:UNIT 1")
    sensor.write(":SENS1:CHAN1:POW:RANG -70DBM")  # far too low for the lit slot
    assert float(sensor.query(":READ1:CHAN1:POW?")) > 1e20
