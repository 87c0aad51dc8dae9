"""Every driver against its dialect on the virtual bench: stations built from any mix of models run end to end."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import numpy as np
import pytest

from bench.config.station import load_station, parse_station
from bench.run.station import open_station
from bench.sim_launch import example_path, run_demo
from drivers.dicon_mems import DiconMems
from drivers.thorlabs_pm100 import ThorlabsPM100
from sim_instruments.physics import make_cable
from sim_instruments.virtual_bench import VirtualBench


def _station(instruments: list[dict[str, Any]], receive: list[str], ports: int = 4) -> Any:
    return parse_station({"station": {"name": "t", "backend": "virtual"}, "instruments": instruments,
                          "fixture": {"launch_ports": list(range(1, ports + 1)), "receive_channels": receive}},
                         "<test>")


def _lit_channels(opened: Any, wavelength_nm: float = 1310.0) -> list[int]:
    instruments = opened.instruments
    instruments.source.set_output(True)
    instruments.source.set_wavelength(wavelength_nm)
    instruments.meter.configure(wavelength_nm, 0.001)
    lit = []
    for port in range(1, instruments.switch.port_count + 1):
        instruments.switch.select(port)
        power_dbm = instruments.meter.read_all().power_dbm
        lit.append(int(np.nanargmax(power_dbm)) + 1)
        assert np.nanmax(power_dbm) > -10 and np.sort(power_dbm)[-2] < -50
    return lit


def test_mixed_station_serial_switch_is_served_on_a_pty_through_pyserial() -> None:
    config = load_station(example_path("station_mixed.toml"))
    with VirtualBench(config, seed=3) as bench:
        assert bench.addresses["switch"].startswith("ASRL/dev/") and bench.addresses["switch"].endswith("::INSTR")
        assert bench.addresses["pm1"].startswith("TCPIP0::127.0.0.1::")
        with open_station(config, addresses=bench.addresses) as opened:
            assert isinstance(opened.instruments.switch, DiconMems)
            assert opened.instruments.switch.identity.model == "MEMS-1x12"
            assert all(isinstance(meter, ThorlabsPM100) for meter in opened.instruments.meter.meters)
            assert opened.instruments.meter.channel_count == 12
            bench.load_dut(make_cable("MTP12-000001", polarity="B"))
            assert _lit_channels(opened) == list(range(12, 0, -1)), "one meter per fiber sees Type-B polarity"


def test_mixed_station_demo_end_to_end(tmp_path: Any) -> None:
    config = load_station(example_path("station_mixed.toml"))
    out = io.StringIO()
    result = run_demo(cables=2, seed=7, failing=(1,), station=config, store_path=tmp_path / "mixed.h5", stream=out)
    assert [outcome.outcome for outcome in result.outcomes][0] == "PASS"
    assert result.outcomes[1].outcome != "PASS"
    assert result.max_error_vs_truth_db < 0.03


def test_8163_sensors_exfo_source_and_gp700_station() -> None:
    config = _station([
        {"name": "src", "role": "source", "driver": "exfo_iqs_source", "model": "IQS-600", "lins": 2,
         "wavelengths_nm": [1310, 1550]},
        {"name": "sw", "role": "switch", "driver": "dicon_gp700", "model": "GP700", "port_count": 4},
        {"name": "mf", "role": "meter", "driver": "keysight_8163_sensor", "model": "8163B", "slots": [2, 3],
         "range_dbm": 0},
        {"name": "mm", "role": "meter", "driver": "keysight_n774x", "model": "N7747A"},
    ], ["mf:2", "mf:3", "mm:1", "mm:2"])
    with VirtualBench(config, seed=1) as bench, open_station(config, addresses=bench.addresses) as opened:
        assert bench.addresses["sw"].startswith("ASRL")
        bench.load_dut(make_cable("C1", fiber_count=4, polarity="A"))
        assert _lit_channels(opened, 1550.0) == [1, 2, 3, 4]


def test_generic_source_with_templates_and_n774x_logging_on_the_virtual_bench() -> None:
    templates = {"output_command": ":LAS {state}", "output_query": ":LAS?", "on_value": "ON", "off_value": "OFF",
                 "wavelength_command": ":LAMB {wavelength_nm:g}", "wavelength_commands": {"1550": ":LASER:SEL 2"}}
    config = _station([
        {"name": "src", "role": "source", "driver": "generic_scpi_source", "wavelengths_nm": [1310, 1550],
         **templates},
        {"name": "sw", "role": "switch", "driver": "keysight_n773x", "model": "N7734A", "port_count": 4},
        {"name": "mm", "role": "meter", "driver": "keysight_n774x", "model": "N7744A"},
    ], ["mm:1", "mm:2", "mm:3", "mm:4"])
    with VirtualBench(config, seed=1) as bench, open_station(config, addresses=bench.addresses) as opened:
        assert _lit_channels(opened, 1550.0) == [1, 2, 3, 4]
        assert _lit_channels(opened, 1310.0) == [1, 2, 3, 4]
        meter = opened.instruments.meter.meters[0]
        opened.instruments.switch.select(2)
        logged = meter.acquire_logging(16, 0.0001)
        assert logged.power_w.shape == (4, 16)
        assert np.all(logged.power_w[1] > 1e-4) and np.all(logged.power_w[0] < 1e-8)


def test_station_with_an_unsimulated_driver_is_refused() -> None:
    config = _station([
        {"name": "src", "role": "source", "driver": "keysight_816x_source"},
        {"name": "sw", "role": "switch", "driver": "dicon_mems", "port_count": 4},
        {"name": "m", "role": "meter", "driver": "thorlabs_pm100"},
    ], ["m:1"])
    # A driver the station file may not name (the schema refuses unknown drivers) but a program may register.
    config = dataclasses.replace(config, instruments=(*config.instruments[:2],
                                                      dataclasses.replace(config.instruments[2], driver="acme_meter")))
    with pytest.raises(ValueError, match="no simulator for driver 'acme_meter'.*thorlabs_pm100"):
        VirtualBench(config)


def test_a_cable_lit_at_a_wavelength_it_was_not_drawn_for_interpolates_between_its_own() -> None:
    cable = make_cable("MTP24-000001", fiber_count=24, polarity="B", wavelengths_nm=(850.0, 1300.0), seed=3)
    at_850, at_1300 = cable.true_il_db(850.0), cable.true_il_db(1300.0)
    np.testing.assert_allclose(cable.true_il_db(1075.0), (at_850 + at_1300) / 2)
    np.testing.assert_array_equal(cable.true_il_db(1550.0), at_1300)  # clamped beyond the last one


def test_a_fault_inside_the_simulator_is_not_mistaken_for_an_empty_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a slot the instrument lacks answers -303 silently; a bug in the model must surface."""
    config = load_station(example_path("station_demo.toml"))
    with VirtualBench(config, seed=3) as bench:
        meter = next(instrument for name, instrument in bench.instruments.items() if name.startswith("meter"))
        assert meter.handle("SENS99:POW:WAV 1310nm") is None
        assert meter.handle("SYST:ERR?").startswith("-303")

        def broken(_name: str) -> None:
            raise KeyError("model bug")

        monkeypatch.setattr(meter.model, "read_meter_w", broken)
        with pytest.raises(KeyError, match="model bug"):
            meter.handle("READ:POW:ALL?")  # measures at once, whatever the trigger state
