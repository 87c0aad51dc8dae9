"""Open the instruments a station config names and bundle them for the procedures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyvisa

from bench.config.station import StationConfig, TimingSettings
from bench.errors import ConfigError
from drivers.factory import open_instrument
from drivers.meter_group import MeterGroup
from drivers.scpi import ScpiInstrument
from procedures.instruments import BenchInstruments


@dataclass
class Station:
    config: StationConfig
    instruments: BenchInstruments
    opened: list[ScpiInstrument] = field(default_factory=list)
    resource_manager: Any = None

    def identities(self) -> list[dict[str, str]]:
        """Identities with the calibration due date from the config, for the record."""
        due = self.config.calibration_due_dates()
        calibrated = self.config.calibration_dates()
        roles = {entry.name: entry.role for entry in self.config.instruments}
        rows = []
        for instrument in self.opened:
            row = instrument.identity.as_dict()
            row["name"] = instrument.name
            row["role"] = roles.get(instrument.name, "")
            row["calibration_date"] = calibrated.get(instrument.name, "")
            row["calibration_due"] = due.get(instrument.name, "")
            rows.append(row)
        return rows

    def close(self) -> None:
        # Only this station's resources are closed: pyvisa hands every caller of
        # ResourceManager("@py") the same object, so closing it would cut the
        # connections of any other station open in this process.
        for instrument in self.opened:
            instrument.close()
        self.opened.clear()
        self.resource_manager = None

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def resource_manager_for(config: StationConfig) -> pyvisa.ResourceManager:
    if config.backend == "sim":
        return pyvisa.ResourceManager(f"{config.sim_file}@sim")
    if config.backend == "virtual":
        return pyvisa.ResourceManager("@py")
    return pyvisa.ResourceManager(config.visa_library)


def configure_reply_wait(instrument: object, timing: TimingSettings) -> None:
    """Tell a driver how to wait for replies and when they are due ([timing], the data sheets)."""
    instrument.reply_wait = timing.reply_wait  # type: ignore[attr-defined]
    instrument.round_trip_s = timing.query_round_trip_s  # type: ignore[attr-defined]
    if hasattr(instrument, "switch_settle_s"):
        instrument.switch_settle_s = timing.switch_settle_s  # type: ignore[attr-defined]
    if hasattr(instrument, "wavelength_change_s"):
        instrument.wavelength_change_s = timing.wavelength_change_s  # type: ignore[attr-defined]


def _check_virtual_addresses(config: StationConfig, addresses: Mapping[str, str]) -> None:
    for entry in config.instruments:
        address = addresses.get(entry.name, "")
        if not address:
            raise ConfigError(config.source_path, "station.backend",
                              "a virtual station's instruments are simulated, and the virtual bench is not running "
                              f"(no simulated address for '{entry.name}'); the addresses in the file are never used",
                              "open it with bench.sim_launch.open_bench (a LineBench) or "
                              "bench.sim_launch.open_virtual_station (a Station); bench line, run and demo do")
        host = address.split("::")[1] if address.count("::") >= 2 else ""
        if host not in ("127.0.0.1", "localhost") and not address.upper().startswith("ASRL"):
            raise ConfigError(config.source_path, "station.backend",
                              f"the simulated address {address!r} of '{entry.name}' is not on 127.0.0.1",
                              "give the virtual bench's own addresses (VirtualBench.addresses)")


def open_station(config: StationConfig, *, addresses: Mapping[str, str] | None = None) -> Station:
    """Open every instrument; `addresses` overrides config addresses (the virtual bench's ports).

    A virtual station's instruments are the virtual bench's (`bench.sim_launch` starts it and
    passes its loopback ports): without an address from it for every instrument this refuses,
    and it never dials an address written in the station file."""
    addresses = dict(addresses or {})
    if config.backend == "virtual":
        _check_virtual_addresses(config, addresses)
    resource_manager = resource_manager_for(config)
    opened: list[ScpiInstrument] = []
    try:
        by_name: dict[str, ScpiInstrument] = {}
        for entry in config.instruments:
            address = addresses.get(entry.name, entry.address)
            if not address:
                raise ValueError(f"{config.source_path}: instrument '{entry.name}' has no address; "
                                 "set 'address' in the station config")
            instrument = open_instrument(resource_manager, driver=entry.driver, address=address,
                                         name=entry.name, model=entry.model, timeout_s=entry.timeout_s,
                                         options=entry.options)
            opened.append(instrument)
            by_name[entry.name] = instrument
            configure_reply_wait(instrument, config.timing)
        meters = [by_name[entry.name] for entry in config.instrument("meter")]
        meter_index = {entry.name: index for index, entry in enumerate(config.instrument("meter"))}
        channel_map = []
        for meter_name, slot in config.receive_channels:
            meter = by_name[meter_name]
            slots = getattr(meter, "slots", None)
            channel_map.append((meter_index[meter_name], slots.index(slot) if slots else slot - 1))
        meter_group = MeterGroup(meters, channel_map)  # type: ignore[arg-type]
        instruments = BenchInstruments(source=by_name[config.instrument("source")[0].name],  # type: ignore[arg-type]
                                       switch=by_name[config.instrument("switch")[0].name],  # type: ignore[arg-type]
                                       meter=meter_group)
        return Station(config, instruments, opened, resource_manager)
    except BaseException:
        for instrument in opened:
            instrument.close()
        raise
