"""Station configuration: which instruments, how the fixture is wired, reference and timing policy.

Validated once at the edge; the rest of the toolkit receives these frozen
objects and trusts them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config.cable_fit import LaunchConditioner, parse_fixture_polish, parse_launch_conditioner
from bench.config.tomlio import Fields, read_toml
from bench.errors import ConfigError
from drivers.scpi import REPLY_WAITS
from procedures.timing import MEASUREMENT_ORDERS, TimingSettings

BACKENDS = ("virtual", "sim", "visa")
ROLES = ("meter", "source", "switch")
REFERENCE_METHODS = ("1-cord", "2-cord", "3-cord")
RETEST_POLICIES = ("last", "best", "all_must_pass")


@dataclass(frozen=True)
class GoldenCableSettings:
    """A reference-grade cable kept at the station to prove the bench has not drifted.

    `expected_il_db` maps wavelength → IL per fiber (recipe fiber order); when it
    is empty the golden cable's reading right after each reference is the baseline.
    """

    serial: str
    fiber_count: int = 12
    polarity: str = "B"
    tolerance_db: float = 0.10
    expected_il_db: dict[float, tuple[float, ...]] = field(default_factory=dict)
    check_every_tests: int = 0  # 0: only after each reference; N: also after every N cables


@dataclass(frozen=True)
class InstrumentConfig:
    name: str
    role: str
    driver: str
    model: str
    address: str
    options: dict[str, Any] = field(default_factory=dict)
    calibration_due: str | None = None
    timeout_s: float = 5.0
    calibration_date: str | None = None  # last calibration (certificates print it beside the due date)


@dataclass(frozen=True)
class ReferenceSettings:
    method: str = "1-cord"
    cord_ids: tuple[str, ...] = ()
    max_age_h: float = 8.0
    max_tests: int = 500
    uncertainty_db: float = 0.05  # below this, a negative IL is noise; beyond, a bad reference
    golden: GoldenCableSettings | None = None




@dataclass(frozen=True)
class StationConfig:
    name: str
    backend: str
    instruments: tuple[InstrumentConfig, ...]
    launch_ports: tuple[int, ...]  # fixture position p (1-based, index p-1) → switch port
    receive_channels: tuple[tuple[str, int], ...]  # end-B position q → (meter name, slot)
    reference: ReferenceSettings = ReferenceSettings()
    timing: TimingSettings = TimingSettings()
    visa_library: str = "@py"
    sim_file: str = ""
    store_path: str = "results/bench.h5"
    source_path: str = "<station>"
    retest_policy: str = "last"  # final verdict of a serial from its attempts: last | best | all_must_pass
    launch_conditioner: LaunchConditioner | None = None  # multimode EF launch (bench.config.cable_fit)
    fixture_polish: tuple[str, str] = ("", "")  # polish of the fixture's connectors at end A, end B ("": unstated)
    # The optional [certificate] table as written (issuer, approval block); bench.report.issuer checks it.
    certificate: dict[str, Any] = field(default_factory=dict)
    # The [fleet] table as written; bench.fleet.settings.parse_fleet validates it (the fleet room
    # sits above config, so config keeps it opaque).
    fleet: dict[str, Any] | None = None

    @property
    def fiber_capacity(self) -> int:
        return min(len(self.launch_ports), len(self.receive_channels))

    def instrument(self, role: str) -> list[InstrumentConfig]:
        return [entry for entry in self.instruments if entry.role == role]

    @property
    def wavelengths_nm(self) -> tuple[float, ...]:
        sources = self.instrument("source")
        return tuple(float(w) for w in sources[0].options.get("wavelengths_nm", ())) if sources else ()

    def calibration_due_dates(self) -> dict[str, str]:
        return {entry.name: entry.calibration_due for entry in self.instruments if entry.calibration_due}

    def calibration_dates(self) -> dict[str, str]:
        return {entry.name: entry.calibration_date for entry in self.instruments if entry.calibration_date}


def _parse_instrument(table: Any, source: str, index: int) -> InstrumentConfig:
    fields = Fields(table, source, f"instruments[{index}]")
    name = fields.get("name", str)
    role = fields.get("role", str)
    if role not in ROLES:
        raise ConfigError(source, f"instruments[{index}].role", f"unknown role {role!r}",
                          f"use one of {', '.join(ROLES)}")
    driver = fields.get("driver", str)
    model = fields.get("model", str, "")
    address = fields.get("address", str, "")
    timeout_s = fields.positive("timeout_s", 5.0)
    due = _date_field(fields, "calibration_due", source, index)
    calibrated = _date_field(fields, "calibration_date", source, index)
    if due and calibrated and calibrated > due:
        raise ConfigError(source, f"instruments[{index}].calibration_date", f"{calibrated} is after the "
                          f"calibration_due date {due}", "check both dates on the calibration certificate")
    options = {key: value for key, value in table.items() if key not in fields.used}
    fields.used.update(options)  # driver-specific options are checked by the driver factory
    return InstrumentConfig(name, role, driver, model, address, options, due, timeout_s, calibrated)


def _date_field(fields: Fields, key: str, source: str, index: int) -> str | None:
    """An optional YYYY-MM-DD date (TOML date or string), as its ISO text."""
    value = fields.get(key, (str, dt.date), None)
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
        except ValueError as error:
            raise ConfigError(source, f"instruments[{index}].{key}", f"not a date: {value!r}",
                              "write it as YYYY-MM-DD") from error
    return str(value) if value is not None else None


def parse_station(data: dict[str, Any], source: str = "<station>") -> StationConfig:
    top = Fields(data, source, "")
    station = Fields(top.get("station", dict), source, "station")
    name = station.get("name", str)
    backend = station.get("backend", str, "virtual")
    if backend not in BACKENDS:
        raise ConfigError(source, "station.backend", f"unknown backend {backend!r}",
                          f"use one of {', '.join(BACKENDS)}")
    visa_library = station.get("visa_library", str, "@py")
    sim_file = station.get("sim_file", str, "")
    store_path = station.get("store_path", str, "results/bench.h5")
    station.finish()

    instruments = _parse_instruments(top.get("instruments", list), source)
    fixture = Fields(top.get("fixture", dict), source, "fixture")
    launch_ports = _parse_launch_ports(fixture, source)
    receive_channels = _parse_receive_channels(fixture, source, instruments)
    fixture_polish = parse_fixture_polish(fixture, source)
    fixture.finish()
    launch_conditioner = parse_launch_conditioner(top.get("launch_conditioner", dict, None), source)
    reference = _parse_reference(Fields(top.get("reference", dict, {}), source, "reference"), source)

    retest_fields = Fields(top.get("retest", dict, {}), source, "retest")
    retest_policy = retest_fields.get("policy", str, "last")
    if retest_policy not in RETEST_POLICIES:
        raise ConfigError(source, "retest.policy", f"unknown policy {retest_policy!r}",
                          f"use one of {', '.join(RETEST_POLICIES)}")
    retest_fields.finish()

    timing = _parse_timing(Fields(top.get("timing", dict, {}), source, "timing"), source)
    certificate = dict(top.get("certificate", dict, {}))
    fleet = top.get("fleet", dict, None)
    top.finish()

    switch = next(entry for entry in instruments if entry.role == "switch")
    port_count = switch.options.get("port_count")
    if isinstance(port_count, int) and max(launch_ports) > port_count:
        raise ConfigError(source, "fixture.launch_ports", f"port {max(launch_ports)} exceeds the switch's "
                          f"port_count {port_count}", "use ports the switch has, or fix port_count")
    return StationConfig(name, backend, instruments, launch_ports, receive_channels,
                         reference, timing, visa_library, sim_file, store_path, source, retest_policy,
                         launch_conditioner, fixture_polish, certificate, fleet)


def _parse_instruments(raw_instruments: list[Any], source: str) -> tuple[InstrumentConfig, ...]:
    instruments = tuple(_parse_instrument(table, source, index) for index, table in enumerate(raw_instruments))
    names = [entry.name for entry in instruments]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(source, "instruments.name", f"name {duplicate!r} used twice",
                          "give every instrument a unique name")
    for role in ROLES:
        count = sum(entry.role == role for entry in instruments)
        if count == 0:
            raise ConfigError(source, "instruments", f"no instrument with role '{role}'",
                              f"add an [[instruments]] entry with role = \"{role}\"")
        if role != "meter" and count > 1:
            raise ConfigError(source, "instruments", f"{count} instruments with role '{role}'",
                              f"keep exactly one {role}")
    return instruments


def _parse_launch_ports(fixture: Fields, source: str) -> tuple[int, ...]:
    launch_ports = fixture.get("launch_ports", list)
    if not launch_ports or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1
                                   for p in launch_ports):
        raise ConfigError(source, "fixture.launch_ports", "must be a non-empty list of switch ports ≥ 1",
                          "list the switch port for fixture position 1, 2, ... in order")
    if len(set(launch_ports)) != len(launch_ports):
        raise ConfigError(source, "fixture.launch_ports", "a switch port is listed twice",
                          "each fixture position needs its own switch port")
    return tuple(launch_ports)


def _parse_receive_channels(fixture: Fields, source: str, instruments: tuple[InstrumentConfig, ...]
                            ) -> tuple[tuple[str, int], ...]:
    receive_channels: list[tuple[str, int]] = []
    meter_names = {entry.name for entry in instruments if entry.role == "meter"}
    for position, spec in enumerate(fixture.get("receive_channels", list), start=1):
        meter, _, slot = str(spec).partition(":")
        if meter not in meter_names or not slot.isdigit():
            raise ConfigError(source, f"fixture.receive_channels[{position - 1}]",
                              f"{spec!r} is not '<meter name>:<slot>' of a configured meter",
                              f"write it like \"{sorted(meter_names)[0]}:1\"")
        receive_channels.append((meter, int(slot)))
    if len(set(receive_channels)) != len(receive_channels):
        raise ConfigError(source, "fixture.receive_channels", "a meter channel is listed twice",
                          "each receive position needs its own detector")
    return tuple(receive_channels)


def _parse_reference(reference_fields: Fields, source: str) -> ReferenceSettings:
    method = reference_fields.get("method", str, "1-cord")
    if method not in REFERENCE_METHODS:
        raise ConfigError(source, "reference.method", f"unknown method {method!r}",
                          f"use one of {', '.join(REFERENCE_METHODS)}")
    reference = ReferenceSettings(
        method=method,
        cord_ids=tuple(reference_fields.get("cord_ids", list, [])),
        max_age_h=reference_fields.positive("max_age_h", 8.0),
        max_tests=int(reference_fields.get("max_tests", int, 500)),
        uncertainty_db=reference_fields.positive("uncertainty_db", 0.05),
        golden=_parse_golden(reference_fields.get("golden", dict, None), source),
    )
    reference_fields.finish()
    return reference


def _parse_timing(timing_fields: Fields, source: str) -> TimingSettings:
    if "poll_replies" in timing_fields.table:
        raise ConfigError(source, "timing.poll_replies", "was replaced by timing.reply_wait",
                          'write reply_wait = "poll" (was poll_replies = true) or "sleep" (was false), '
                          'or leave it out for "near-due"')
    timing = TimingSettings(
        averaging_time_s=timing_fields.positive("averaging_time_s", 0.001),
        settle_tolerance_db=timing_fields.positive("settle_tolerance_db", 0.01),
        settle_timeout_s=timing_fields.positive("settle_timeout_s", 2.0),
        laser_on_settle_s=timing_fields.positive("laser_on_settle_s", 0.0, allow_zero=True),
        switch_settle_s=timing_fields.positive("switch_settle_s", 0.0, allow_zero=True),
        wavelength_change_s=timing_fields.positive("wavelength_change_s", 0.0, allow_zero=True),
        query_round_trip_s=timing_fields.positive("query_round_trip_s", 0.0, allow_zero=True),
        order=timing_fields.get("order", str, "auto"),
        reply_wait=timing_fields.get("reply_wait", str, "near-due"),
    )
    if timing.reply_wait not in REPLY_WAITS:
        raise ConfigError(source, "timing.reply_wait", f"unknown way to wait for replies {timing.reply_wait!r}",
                          f"use one of {', '.join(REPLY_WAITS)}")
    if timing.order not in MEASUREMENT_ORDERS:
        raise ConfigError(source, "timing.order", f"unknown measurement order {timing.order!r}",
                          f"use one of {', '.join(MEASUREMENT_ORDERS)}")
    timing_fields.finish()
    return timing


def _parse_golden(table: Any, source: str) -> GoldenCableSettings | None:
    if table is None:
        return None
    fields = Fields(table, source, "reference.golden")
    serial = fields.get("serial", str)
    fiber_count = int(fields.get("fiber_count", int, 12))
    polarity = fields.get("polarity", str, "B")
    tolerance_db = fields.positive("tolerance_db", 0.10)
    check_every = int(fields.get("check_every_tests", int, 0))
    raw_expected = fields.get("expected_il_db", dict, {})
    expected: dict[float, tuple[float, ...]] = {}
    for key, values in raw_expected.items():
        try:
            wavelength = float(key)
        except ValueError:
            raise ConfigError(source, f"reference.golden.expected_il_db.{key}", "not a wavelength in nm",
                              "write it like 1310 = [0.12, 0.15, ...]") from None
        if not isinstance(values, list) or len(values) != fiber_count or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ConfigError(source, f"reference.golden.expected_il_db.{key}",
                              f"expected a list of {fiber_count} numbers (one per fiber)",
                              "list the golden cable's certified IL per fiber, in fiber order")
        expected[wavelength] = tuple(float(v) for v in values)
    fields.finish()
    if check_every < 0:
        raise ConfigError(source, "reference.golden.check_every_tests", "must be ≥ 0",
                          "use 0 (only after a reference) or a number of cables")
    return GoldenCableSettings(serial, fiber_count, polarity, tolerance_db, expected, check_every)


def load_station(path: str | Path) -> StationConfig:
    return parse_station(read_toml(path), str(path))
