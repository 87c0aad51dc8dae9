"""Station configuration: which instruments, how the fixture is wired, reference and timing policy.

Validated once at the edge (the schema layer, `bench.config.schema`); the rest of the toolkit
receives these frozen objects and trusts them. Each `[table]` of the file is a `@section` class
below: adding a field to a table is one line in its class (see `bench.config.schema`), and a new
table is a new section plus one line in `StationFile` and one in `StationConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field

from bench.config.cable_fit import LaunchConditioner, LaunchConditionerSection, Polish, fixture_polish
from bench.config.harness import FixturePort, check_fixture_ports
from bench.config.instruments import ROLES, InstrumentEntry, instrument_union
from bench.config.schema import Name, Text, count, quantity, section, validate
from bench.config.tomlio import read_toml
from bench.config.uncertainty_sections import StationUncertaintySection
from bench.errors import ConfigError
from procedures.timing import MEASUREMENT_ORDERS, TimingSettings

BACKENDS = ("virtual", "sim", "visa")
REFERENCE_METHODS = ("1-cord", "2-cord", "3-cord")
RETEST_POLICIES = ("last", "best", "all_must_pass")
EXPIRED_CALIBRATION = ("refuse", "warn")  # what an instrument past calibration_due means
__all__ = ["MEASUREMENT_ORDERS", "RETEST_POLICIES", "GoldenCableSettings", "InstrumentConfig", "ReferenceSettings",
           "StationConfig", "StationFile", "TimingSettings", "load_station", "parse_station"]

IlDb = Annotated[float, Field(ge=-1.0, le=30.0, strict=True)]
PowerDbm = Annotated[float, Field(ge=-80.0, le=30.0, strict=True, description="dBm")]
LossDb = Annotated[float, Field(ge=0.0, le=30.0, strict=True, description="dB")]


def _wavelength_keyed(value: Any, example: str) -> Any:
    """A TOML table keyed by wavelength ("1310") as {1310.0: ...}; a bad key refused naming it."""
    if not isinstance(value, dict):
        return value
    keyed = {}
    for key, item in value.items():
        try:
            wavelength = float(key)
        except (TypeError, ValueError):
            raise ValueError(f"key {key!r} is not a wavelength in nm; write it like {example}") from None
        if not 600 <= wavelength <= 1700:
            raise ValueError(f"key {key!r} is outside 600..1700 nm; key the table by a test wavelength")
        keyed[wavelength] = item
    return keyed


@section
class GoldenCableSettings:
    """A reference-grade cable kept at the station to prove the bench has not drifted.

    `expected_il_db` maps wavelength → IL per fiber (recipe fiber order), the certified values
    from the cable's certificate (`certificate` names it). Without them the cable is
    uncertified: its baseline is a reading the operator accepted explicitly
    (`--accept-golden-baseline`), never simply the first reading after a reference
    (bench.run.drift). It is checked after every reference, every `check_every_cables`
    cables, every `check_every_min` minutes (0 = that trigger off) and at the end of a run.
    """

    serial: Name
    fiber_count: int = count(1, 144, "fibers of the golden cable", default=12)
    polarity: Name = "B"
    tolerance_db: float = quantity(0, 5, "allowed drift of a golden fiber", default=0.10, exclusive_minimum=True)
    expected_il_db: dict[float, tuple[IlDb, ...]] = field(default_factory=dict)
    check_every_cables: int = count(0, 1_000_000, "golden check every N cables (0: this trigger off)", default=10)
    check_every_min: float = quantity(0, 10_080, "golden check every M minutes (0: this trigger off)",
                                      default=60.0)
    certificate: Text = Field("", description="the golden cable's certificate (where expected_il_db comes from)")

    @pydantic.field_validator("expected_il_db", mode="before")
    @classmethod
    def _wavelength_keys(cls, value: Any) -> Any:
        return _wavelength_keyed(value, "1310 = [0.12, ...]")

    @property
    def certified(self) -> bool:
        return bool(self.expected_il_db)

    def __post_init__(self) -> None:
        wrong = next((w for w, values in self.expected_il_db.items() if len(values) != self.fiber_count), None)
        if wrong is not None:
            raise ValueError(f"expected_il_db at {wrong:g} nm does not have {self.fiber_count} numbers; "
                             "list the certified IL of every fiber, in fiber order")
        if self.check_every_cables == 0 and self.check_every_min == 0:
            raise ValueError("check_every_cables and check_every_min are both 0: drift would go unnoticed until "
                             "the end of the run; set check_every_cables (default 10) and/or check_every_min "
                             "(default 60)")


@section
class ReferenceSettings:
    """How references are taken and when one is implausible (bench.run.reference_health).

    `expected_power_dbm` (per wavelength, the source's output) with `cord_loss_window_db`
    (min, max loss of the reference cords and switch) bounds each launch position's reading;
    `max_spread_db` bounds the spread across positions; `max_step_db` bounds how far one
    position may move against the others since the previous reference of the same cords.
    """

    method: Literal["1-cord", "2-cord", "3-cord"] = "1-cord"
    cord_ids: tuple[Name, ...] = ()
    max_age_h: float = quantity(0, 720, "re-reference after this many hours", default=8.0, exclusive_minimum=True)
    max_tests: int = count(1, 1_000_000, "re-reference after this many cables", default=500)
    # Test-cord wear (bench.run.cord_wear): matings at which a cord is reported worn, and retired.
    # 1,000 is the MTP connector's rated mating life; a station usually sets a lower limit.
    cord_warning_matings: int = count(0, 10**9, "matings at which a test cord is reported worn", default=800)
    cord_retire_matings: int = count(1, 10**9, "matings at which a test cord is retired", default=1000)
    golden: GoldenCableSettings | None = None
    expected_power_dbm: dict[float, PowerDbm] = Field(default_factory=dict, description=(
        "the source's output per wavelength, e.g. { 1310 = -2.0, 1550 = -2.5 }"))
    cord_loss_window_db: tuple[LossDb, LossDb] = Field((0.0, 1.5), description=(
        "[min, max] loss of the reference path (cords and switch)"))
    # Up to 1000 dB: a test bench switches a check off by setting it out of reach.
    max_spread_db: float = quantity(0, 1000, "spread allowed across launch positions", default=1.5,
                                    exclusive_minimum=True)
    max_step_db: float = quantity(0, 1000, "step of one position against the others since the last reference",
                                  default=0.05, exclusive_minimum=True)

    @pydantic.field_validator("expected_power_dbm", mode="before")
    @classmethod
    def _power_keys(cls, value: Any) -> Any:
        return _wavelength_keyed(value, "{ 1310 = -2.0, 1550 = -2.5 }")

    @pydantic.field_validator("cord_loss_window_db")
    @classmethod
    def _window(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError(f"expected [min, max] dB, got {list(value)!r}; write the reference path's loss window "
                             "like [0.0, 1.5]")
        return value


@section
class TimingSection:
    """The `[timing]` table; the run receives it as `procedures.timing.TimingSettings`."""

    averaging_time_s: float = quantity(0, 10, "meter averaging time per reading", default=0.001,
                                       exclusive_minimum=True)
    settle_tolerance_db: float = quantity(0, 1, "two consecutive readings must agree within this", default=0.01,
                                          exclusive_minimum=True)
    settle_timeout_s: float = quantity(0, 600, default=2.0, exclusive_minimum=True)
    laser_on_settle_s: float = quantity(0, 600, default=0.0)
    # The instruments' specified times (data sheets; 0 = not specified). They set the floor under a cable's
    # cycle time and choose the measurement order (procedures.timing).
    switch_settle_s: float = quantity(0, 10, "switch move until the write's operation completes", default=0.0)
    wavelength_change_s: float = quantity(0, 60, "source wavelength change until it completes", default=0.0)
    query_round_trip_s: float = quantity(0, 10, "LAN/bus round trip of one query", default=0.0)
    order: Literal["auto", "wavelength-outer", "switch-outer"] = "auto"
    # How the host waits for a reply (drivers.scpi): "near-due" sleeps until just before the
    # reply is due (from the times above) and polls the link from then on, so neither the
    # kernel's wake-up latency nor a busy core is paid for the whole wait; "sleep" leaves it
    # to the kernel; "poll" polls from the start (a core busy while a cable is measured).
    reply_wait: Literal["near-due", "sleep", "poll"] = "near-due"

    def settings(self) -> TimingSettings:
        return TimingSettings(**dataclasses.asdict(self))


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


@section
class StationSection:
    name: Name
    backend: Literal["virtual", "sim", "visa"] = "virtual"
    visa_library: Text = "@py"
    sim_file: Text = ""
    store_path: Name = "results/bench.h5"
    expired_calibration: Literal["refuse", "warn"] = Field("refuse", description=(
        '"warn": test with instruments past calibration_due, naming them in every record'))


@section
class FixtureSection:
    launch_ports: Annotated[tuple[Annotated[int, Field(ge=1, le=1024, strict=True)], ...], Field(
        min_length=1, max_length=1024, description="switch port of fixture position 1, 2, ...")]
    receive_channels: Annotated[tuple[Name, ...], Field(
        min_length=1, max_length=1024, description='"<meter name>:<slot>" of end-B position 1, 2, ...')]
    polish: Polish = Field("", description='the test cords\' end faces at both ends: "APC", "UPC", "PC"')
    polish_a: Polish | None = None
    polish_b: Polish | None = None
    ports: tuple[FixturePort, ...] = Field((), description=(
        'named connector ports for harnesses: { label = "A1", end = "a", kind = "MPO-24", first = 1 }'))


@section
class RetestSection:
    policy: Literal["last", "best", "all_must_pass"] = "last"


@section
class StationFile:
    """A whole station file."""

    station: StationSection
    instruments: Annotated[tuple[instrument_union(), ...], Field(min_length=1)]  # type: ignore[valid-type]
    fixture: FixtureSection
    reference: ReferenceSettings = ReferenceSettings()
    retest: RetestSection = RetestSection()
    timing: TimingSection = TimingSection()
    launch_conditioner: LaunchConditionerSection | None = None
    # The optional [certificate] table as written (issuer, approval block); bench.report.issuer checks it.
    certificate: dict[Name, Any] = Field(default_factory=dict)
    # The [fleet] table as written; bench.fleet.settings.parse_fleet validates it (the fleet room
    # sits above config, so config keeps it opaque).
    fleet: dict[Name, Any] | None = None
    # The station's part of the uncertainty budget (bench.config.uncertainty_sections).
    uncertainty: StationUncertaintySection | None = None


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
    expired_calibration: str = "refuse"  # "warn": test, with the overdue instruments in every record
    fixture_ports: tuple[FixturePort, ...] = ()  # named connector ports for harnesses (bench.config.harness)
    # The [fleet] table as written; bench.fleet.settings.parse_fleet validates it.
    fleet: dict[str, Any] | None = None
    # [uncertainty]: source, meter and reference contributions to every IL reading (bench.grading.uncertainty)
    uncertainty: StationUncertaintySection | None = None

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


def parse_station(data: dict[str, Any], source: str = "<station>") -> StationConfig:
    """A station file already read into a dict, validated (ConfigError naming the field otherwise)."""
    _refuse_removed_keys(data, source)
    parsed: StationFile = validate(StationFile, data, source)
    reference = parsed.reference
    if not reference.cord_warning_matings < reference.cord_retire_matings:
        raise ConfigError(source, "reference.cord_warning_matings",
                          f"warning at {reference.cord_warning_matings}, retirement at "
                          f"{reference.cord_retire_matings} matings", "warn (≥ 0) before the retirement count")
    instruments = _instruments(parsed.instruments, source)
    launch_ports = _launch_ports(parsed.fixture, source)
    receive_channels = _receive_channels(parsed.fixture, source, instruments)
    switch = next(entry for entry in instruments if entry.role == "switch")
    port_count = switch.options.get("port_count")
    if isinstance(port_count, int) and max(launch_ports) > port_count:
        raise ConfigError(source, "fixture.launch_ports", f"port {max(launch_ports)} exceeds the switch's "
                          f"port_count {port_count}", "use ports the switch has, or fix port_count")
    head = parsed.station
    fixture = parsed.fixture
    return StationConfig(head.name, head.backend, instruments, launch_ports, receive_channels,
                         parsed.reference, parsed.timing.settings(), head.visa_library, head.sim_file, head.store_path,
                         source, parsed.retest.policy,
                         None if parsed.launch_conditioner is None else parsed.launch_conditioner.conditioner(),
                         fixture_polish(fixture.polish, fixture.polish_a, fixture.polish_b), dict(parsed.certificate),
                         expired_calibration=head.expired_calibration,
                         fixture_ports=check_fixture_ports(fixture.ports, source, len(launch_ports),
                                                           len(receive_channels)),
                         fleet=None if parsed.fleet is None else dict(parsed.fleet),
                         uncertainty=parsed.uncertainty)


def _table(data: Any, *path: str) -> dict[str, Any]:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _refuse_removed_keys(data: Any, source: str) -> None:
    """Keys an older station file may still carry, refused with what replaced them."""
    if "poll_replies" in _table(data, "timing"):
        raise ConfigError(source, "timing.poll_replies", "was replaced by timing.reply_wait",
                          'write reply_wait = "poll" (was poll_replies = true) or "sleep" (was false), '
                          'or leave it out for "near-due"')
    if "uncertainty_db" in _table(data, "reference"):
        raise ConfigError(source, "reference.uncertainty_db", "was removed: it had no effect (a negative IL is "
                          "judged against the recipe's decision rule U)",
                          "delete the line; give the station's contributions in [uncertainty] "
                          "(docs/grading.md, Uncertainty budget)")
    if "check_every_tests" in _table(data, "reference", "golden"):
        raise ConfigError(source, "reference.golden.check_every_tests", "was renamed check_every_cables",
                          "write check_every_cables = N (default 10) and, if wanted, check_every_min = M "
                          "(default 60)")


def _instruments(entries: tuple[InstrumentEntry, ...], source: str) -> tuple[InstrumentConfig, ...]:
    instruments = tuple(InstrumentConfig(entry.name, entry.role, entry.driver, entry.model, entry.address,
                                         entry.options(),
                                         str(entry.calibration_due) if entry.calibration_due else None,
                                         entry.timeout_s,
                                         str(entry.calibration_date) if entry.calibration_date else None)
                        for entry in entries)
    names = [entry.name for entry in instruments]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(source, f"instruments[{names.index(duplicate, names.index(duplicate) + 1)}].name",
                          f"name {duplicate!r} used twice", "give every instrument a unique name")
    for role in ROLES:
        found = sum(entry.role == role for entry in instruments)
        if found == 0:
            raise ConfigError(source, "instruments", f"no instrument with role '{role}'",
                              f"add an [[instruments]] entry with role = \"{role}\"")
        if role != "meter" and found > 1:
            raise ConfigError(source, "instruments", f"{found} instruments with role '{role}'",
                              f"keep exactly one {role}")
    return instruments


def _launch_ports(fixture: FixtureSection, source: str) -> tuple[int, ...]:
    if len(set(fixture.launch_ports)) != len(fixture.launch_ports):
        raise ConfigError(source, "fixture.launch_ports", "a switch port is listed twice",
                          "each fixture position needs its own switch port")
    return fixture.launch_ports


def _receive_channels(fixture: FixtureSection, source: str, instruments: tuple[InstrumentConfig, ...]
                      ) -> tuple[tuple[str, int], ...]:
    receive_channels: list[tuple[str, int]] = []
    meter_names = {entry.name for entry in instruments if entry.role == "meter"}
    for position, spec in enumerate(fixture.receive_channels):
        meter, _, slot = spec.rpartition(":")
        if meter not in meter_names or not slot.isascii() or not slot.isdigit() or not 1 <= int(slot) <= 1024:
            raise ConfigError(source, f"fixture.receive_channels[{position}]",
                              f"{spec!r} is not '<meter name>:<slot>' of a configured meter",
                              f"write it like \"{sorted(meter_names)[0]}:1\"")
        receive_channels.append((meter, int(slot)))
    if len(set(receive_channels)) != len(receive_channels):
        raise ConfigError(source, "fixture.receive_channels", "a meter channel is listed twice",
                          "each receive position needs its own detector")
    return tuple(receive_channels)


def load_station(path: str | Path) -> StationConfig:
    return parse_station(read_toml(path), str(path))
