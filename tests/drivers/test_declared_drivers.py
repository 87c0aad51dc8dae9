"""Every driver declares its options with types and its commands with their sources.

Observable behaviour only: what `open_instrument` accepts or refuses before it touches an
address, and the command strings the declarations produce."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from drivers.declarative import command_table, declared_commands
from drivers.factory import DRIVERS, open_instrument

DOCS = Path(__file__).resolve().parents[2] / "docs" / "drivers.md"


class NoAddressTouched:
    """A resource manager that fails the test if any address is opened."""

    def open_resource(self, address: str) -> Any:
        raise AssertionError(f"{address} was opened before the options were checked")


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_driver_declares_typed_options(driver: str) -> None:
    options = DRIVERS[driver].Options
    assert dataclasses.is_dataclass(options)
    assert dataclasses.fields(options), f"{driver} declares no options"


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_an_unknown_option_is_refused_before_any_address_is_opened(driver: str) -> None:
    with pytest.raises(ValueError, match=r"unknown option 'slott'; this driver's options are: \w+"):
        open_instrument(NoAddressTouched(), driver=driver, address="TCPIP0::192.0.2.10::5025::SOCKET",
                        name="dut", options={"slott": 1})


@pytest.mark.parametrize(("driver", "options", "message"), [
    ("keysight_816x_source", {"slot": "1"}, r"option 'slot' = '1' must be int"),
    ("keysight_816x_source", {"wavelength_select": "upper"}, r"wavelength_select"),
    ("keysight_816x_source", {"wavelengths_nm": [1310, 15500]}, r"15500.0 outside 400..1700"),
    ("keysight_n773x", {"module": 0}, r"option 'module' = 0 out of range"),
    ("keysight_n773x", {"port_count": 12.5}, r"must be int"),
    ("thorlabs_pm100", {"sample_time_s": 5}, r"sample_time_s.*outside"),
    ("thorlabs_pm100", {"require_sensor": "yes"}, r"must be bool"),
    ("exfo_iqs_source", {"lins": -1}, r"option 'lins' = -1 out of range"),
    ("generic_scpi_source", {"wavelength_commands": ["SOUR:WAV 1"]}, r"wavelength_commands"),
    ("dicon_mems", {"baud_rate": 100}, r"baud_rate.*outside 300..921600"),
    ("dicon_mems", {"write_termination": "\t"}, r"write_termination.*must be one of"),
    ("dicon_gp700", {"module": "M1"}, r"option 'module' = 'M1' must be int"),
])
def test_a_wrong_value_names_the_option_before_any_address_is_opened(driver: str, options: dict[str, Any],
                                                                     message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        open_instrument(NoAddressTouched(), driver=driver, address="TCPIP0::192.0.2.10::5025::SOCKET",
                        name="dut", options=options)
    assert "dut (driver" in str(raised.value)


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_declared_command_says_where_it_comes_from(driver: str) -> None:
    commands = declared_commands(DRIVERS[driver])
    assert commands, f"{driver} declares no commands"
    for name, command in commands.items():
        assert command.source, f"{driver}.{name} ({command.template}) has no source"


def test_docs_list_every_declared_command_with_its_status() -> None:
    """docs/drivers.md carries the table `drivers.declarative.command_table` builds from the
    declarations (regenerate it with `python -m drivers.commands_doc`)."""
    table = command_table(DRIVERS)
    text = DOCS.read_text()
    missing = [row for row in table.splitlines() if row not in text]
    assert not missing, "docs/drivers.md is out of date; first missing row: " + missing[0]
