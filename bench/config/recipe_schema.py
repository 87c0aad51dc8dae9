"""A recipe file's schema: its tables, their fields and ranges, and the rules between fields.

Each table is a `@section` class (see `bench.config.schema`): adding a recipe field is one line
in its class (and, if the run needs it, one in `bench.config.recipe.Recipe`, which takes every
`[cable]` field of the same name). The rules that tie fields together (a polarity the fiber
count defines, connectors that match the cable type, a limit for every test wavelength) follow
the classes and raise `ConfigError` naming the field, as the schema's own refusals do.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Strict, Tag

from bench.config.harness import FiberMap, HarnessConnector
from bench.config.schema import Name, Text, count, quantity, register_tags, section
from bench.errors import ConfigError
from procedures.fiber_families import FiberFamily, connector_classes, fiber_families
from procedures.polarity import DEFAULT_MIN_ISOLATION_DB, maps_for, polarity_maps

# Two wavelengths of one recipe closer than this are the same test wavelength (a wavelength
# listed twice, a limit table keyed 1550.2 for a test at 1550): nobody means a different limit.
# A recipe wavelength against the station's is matched exactly (check_wavelengths): what the
# run sends to the source is the station's wavelength, so the recipe must name it as written.
WAVELENGTH_TOLERANCE_NM = 0.5

FIBER_TYPES = ("SM", "MM")
CABLE_TYPES = ("trunk", "fanout", "harness")

# Wavelength windows each fiber type is tested in. A single-mode recipe at
# 850 nm or a multimode recipe at 1550 nm is a typo, not a product.
FIBER_TYPE_WINDOWS_NM = {"SM": (1260.0, 1650.0), "MM": (800.0, 1380.0)}

# Array connectors carry a gender (F = unpinned, M = pinned); simplex/duplex
# connectors on fan-out legs do not. An optional polish suffix is allowed.
ARRAY_CONNECTOR = re.compile(r"^(MTP|MPO)-(F|M)(-(APC|UPC|PC))?$")
LEG_CONNECTOR = re.compile(r"^(LC|SC|FC|ST)(-(APC|UPC|PC))?$")

MAX_LOSS_DB = 30.0  # no passive MPO cable is specified above this; a larger limit is a typo

# `[limits] min_isolation_db`: how far below a fiber's own light any other lit position must stay.
# No standard found states a figure for fiber-to-fiber leakage in a passive cable (IEC 61300-3-9
# defines far-end crosstalk, the ratio of the power at a nominally isolated port to the reference
# port, and how to measure it, not a limit), so the default comes from physics and the meter: the
# fibers of a sound cable are separate waveguides and put no measurable light into each other;
# a fiber's own light arrives at about 0 to -3 dBm, the dark threshold is -60 dBm, so a 40 dB
# minimum puts the leak line at about -43 dBm, well above the floor, while any light a sound
# bench shows in a neighbour (switch and meter crosstalk, -65 dB on the virtual bench) stays
# below it. docs/grading.md gives the full argument.
ISOLATION_RANGE_DB = (10.0, 80.0)


def _wavelength_key(key: str) -> str:
    try:
        wavelength = float(key)
    except ValueError:
        raise ValueError("is not a wavelength in nm; key the table by wavelength, e.g. { 1310 = 0.75 }") from None
    if not 600 <= wavelength <= 1700:
        raise ValueError("is outside 600..1700 nm; key the table by a test wavelength")
    return key


Wavelength = Annotated[float, Field(ge=600, le=1700, strict=True, description="nm")]
LossDb = Annotated[float, Field(ge=0, le=MAX_LOSS_DB, strict=True, description="dB")]
WavelengthKey = Annotated[str, AfterValidator(_wavelength_key)]
register_tags("number", "table")
# One number for every wavelength, or a table keyed by wavelength in nm ({ 1310 = 0.4 }).
PerWavelength = Annotated[
    Annotated[LossDb, Tag("number")] | Annotated[dict[WavelengthKey, LossDb], Tag("table")],
    Discriminator(lambda value: "table" if isinstance(value, Mapping) else "number")]


@section
class RecipeHead:
    name: Name
    product: Name
    description: Text = ""


@section
class CableSection:
    fiber_count: int = count(1, 144, "8, 12, 16, 24 or 32 (the counts procedures/polarity_maps.toml defines)")
    # polarity and the connectors are required for a trunk or fan-out (check_cable); a harness
    # states them per connector and in its fiber map instead.
    polarity: Name | None = Field(None, description='"A", "B", "C" (or "B-row-keeping" for 24/32); '
                                  "not for a harness")
    fiber_type: Literal["SM", "MM"] | None = Field(None, description="given by fiber_family when that is set")
    fiber_family: Name | None = Field(None, description="OS1a, OS2, OM1-OM5 (procedures/fiber_families.toml)")
    connector_a: Name | None = Field(None, description='MPO/MTP with gender, optional polish: "MTP-F", '
                                     '"MPO-M-APC"; not for a harness')
    connector_b: Name | None = Field(None, description='an array connector (trunk) or a leg connector such as '
                                     '"LC-UPC"; not for a harness')
    cable_type: Literal["trunk", "fanout", "harness"] = Field()
    length_m: float = quantity(0, 100_000, "cable length in metres", exclusive_minimum=True)
    serial_pattern: Name | None = Field(None, description="Python regular expression the whole serial must match")
    leg_map: dict[Name, Annotated[int, Strict()]] | None = Field(None, description="fan-outs: leg label = ferrule "
                                                                             "position")
    end_a: tuple[HarnessConnector, ...] | None = Field(None, description="a harness's end-A connectors")
    end_b: tuple[HarnessConnector, ...] | None = Field(None, description="a harness's end-B connectors")
    fiber_map: FiberMap | None = Field(None, description="a harness's fiber map (bench.config.harness)")


@section
class TestSection:
    wavelengths_nm: Annotated[tuple[Wavelength, ...], Field(min_length=1, max_length=16)]


@section
class LimitsSection:
    max_il_db: PerWavelength | None = None
    per_connection_db: float = quantity(0, 5, "allowance per mated connection", default=0.0)
    connections: int = count(0, 8, "mated connections the reference method includes (1-cord: 2)", default=2)
    attenuation_db_per_km: PerWavelength | None = None
    max_mean_il_db: PerWavelength | None = None
    min_isolation_db: float = quantity(*ISOLATION_RANGE_DB, "light at any other position must stay this far below a "
                                       "fiber's own (a leak otherwise)", default=DEFAULT_MIN_ISOLATION_DB)


@section
class DecisionRuleSection:
    kind: Literal["simple", "guarded"]
    uncertainty_db: float = quantity(0, 5, "expanded uncertainty U of one IL reading")
    coverage_factor: float = quantity(0, 10, "k", default=2.0, exclusive_minimum=True)


@section
class RecipeFile:
    """A whole recipe file."""

    recipe: RecipeHead
    cable: CableSection
    test: TestSection
    limits: LimitsSection
    decision_rule: DecisionRuleSection


# --------------------------------------------------------------------------- rules between fields


def fiber_family(source: str, cable: CableSection) -> tuple[str, FiberFamily | None]:
    """(mode "SM"/"MM", family or None). `fiber_type` alone is the pre-family form, still valid."""
    families = fiber_families()
    if cable.fiber_family is None:
        if cable.fiber_type is None:
            raise ConfigError(source, "cable.fiber_family", "missing",
                              f"name the fiber family: one of {', '.join(families)}")
        return cable.fiber_type, None
    if cable.fiber_family not in families:
        raise ConfigError(source, "cable.fiber_family", f"unknown value {cable.fiber_family!r}",
                          f"use one of {', '.join(repr(name) for name in families)}")
    family = families[cable.fiber_family]
    if cable.fiber_type is not None and cable.fiber_type != family.mode:
        raise ConfigError(source, "cable.fiber_type", f"{cable.fiber_type!r} contradicts fiber_family "
                          f"{family.name!r} ({family.mode})", "remove fiber_type: the family gives it")
    return family.mode, family


def check_family_wavelengths(source: str, family: FiberFamily, wavelengths_nm: tuple[float, ...]) -> None:
    for wavelength_nm in wavelengths_nm:
        if not family.allows(wavelength_nm):
            raise ConfigError(source, "test.wavelengths_nm", f"{family.name} is not tested at {wavelength_nm:g} nm",
                              f"use {family.name}'s wavelengths: "
                              f"{', '.join(f'{w:g}' for w in family.wavelengths_nm)} nm")


def family_defaults(limits: LimitsSection, family: FiberFamily, wavelengths_nm: tuple[float, ...]) -> LimitsSection:
    """The recipe's limits, with the family's cabled attenuation and connector class where it gives none."""
    if limits.attenuation_db_per_km is None:
        limits = dataclasses.replace(limits, attenuation_db_per_km={
            f"{w:g}": family.attenuation_at(w) or 0.0 for w in wavelengths_nm})
    if limits.max_il_db is None and limits.per_connection_db == 0:
        limits = dataclasses.replace(
            limits, per_connection_db=connector_classes()[family.default_connector_class].per_connection_db)
    return limits


_HARNESS_KEYS = ("end_a", "end_b", "fiber_map")


def check_cable(source: str, cable: CableSection) -> None:
    """Fiber count, polarity, connectors, serial pattern and leg map agree with each other."""
    if cable.cable_type == "harness":
        _check_harness_keys(source, cable)
    else:
        _check_single_connector_cable(source, cable)
    if cable.serial_pattern is not None:
        try:
            re.compile(cable.serial_pattern)
        except re.error as exc:
            raise ConfigError(source, "cable.serial_pattern", f"not a valid regular expression ({exc})",
                              'write a Python regular expression, e.g. "^MTP12-[0-9]{6}$"') from None


def _check_harness_keys(source: str, cable: CableSection) -> None:
    for key in ("polarity", "connector_a", "connector_b", "leg_map"):
        if getattr(cable, key) is not None:
            raise ConfigError(source, f"cable.{key}", "a harness states this per connector and in its fiber map",
                              "remove it; list the connectors in [[cable.end_a]] / [[cable.end_b]]")


def _check_single_connector_cable(source: str, cable: CableSection) -> None:
    key = next((key for key in _HARNESS_KEYS if getattr(cable, key) is not None), None)
    if key is not None:
        raise ConfigError(source, f"cable.{key}", f"only a harness lists {key}",
                          'set cable_type = "harness", or remove it')
    for key in ("polarity", "connector_a", "connector_b"):
        if getattr(cable, key) is None:
            raise ConfigError(source, f"cable.{key}", "required field is missing",
                              f"add '{key} = ...' (see bench/examples/ for a complete file)")
    # Fiber counts and polarities are those the polarity maps define: a recipe
    # the polarity check could not verify is refused here, not mid-test.
    known_counts = sorted(polarity_maps())
    if cable.fiber_count not in known_counts:
        raise ConfigError(source, "cable.fiber_count", f"{cable.fiber_count} fibers is not an MPO/MTP fiber count",
                          f"use one of {', '.join(map(str, known_counts))}")
    polarities = tuple(maps_for(cable.fiber_count).templates)
    if cable.polarity not in polarities:
        raise ConfigError(source, "cable.polarity", f"unknown value {cable.polarity!r}",
                          f"use one of {', '.join(repr(p) for p in polarities)}")
    _check_connectors(source, cable.cable_type, cable.connector_a, cable.connector_b)
    if cable.leg_map is not None:
        _check_leg_map(source, cable.leg_map, cable.cable_type, cable.fiber_count)


def _check_connectors(source: str, cable_type: str, connector_a: str, connector_b: str) -> None:
    for field_name, connector in (("connector_a", connector_a), ("connector_b", connector_b)):
        if not (ARRAY_CONNECTOR.match(connector) or LEG_CONNECTOR.match(connector)):
            raise ConfigError(source, f"cable.{field_name}", f"unknown connector {connector!r}",
                              'use e.g. "MTP-F", "MPO-M", "MTP-F-APC" for array ends or "LC", "SC-APC" for legs')
    if not ARRAY_CONNECTOR.match(connector_a):
        raise ConfigError(source, "cable.connector_a", f"end A is {connector_a!r}, not an MPO/MTP connector",
                          "put the array connector (MPO/MTP) at end A; fan-out legs go at end B")
    b_is_array = bool(ARRAY_CONNECTOR.match(connector_b))
    if cable_type == "trunk" and not b_is_array:
        raise ConfigError(source, "cable.connector_b", f"a trunk needs MPO/MTP at both ends, end B is {connector_b!r}",
                          'set cable_type = "fanout" or an MPO/MTP connector at end B')
    if cable_type == "fanout" and b_is_array:
        raise ConfigError(source, "cable.connector_b", f"a fan-out ends in legs, end B is {connector_b!r}",
                          'set cable_type = "trunk" or a leg connector such as "LC" at end B')


def _check_leg_map(source: str, leg_map: Mapping[str, int], cable_type: str, fiber_count: int) -> None:
    if cable_type != "fanout":
        raise ConfigError(source, "cable.leg_map", "a trunk has no legs",
                          'remove [cable.leg_map] or set cable_type = "fanout"')
    positions = maps_for(fiber_count).positions
    seen: dict[int, str] = {}
    for label, position in leg_map.items():
        if position not in positions:
            raise ConfigError(source, f"cable.leg_map.{label}",
                              f"position {position} does not carry a fiber in a {fiber_count}-fiber ferrule",
                              f"use one of {', '.join(map(str, positions))}")
        if position in seen:
            raise ConfigError(source, f"cable.leg_map.{label}",
                              f"position {position} is already leg '{seen[position]}'",
                              "give every leg its own fiber position")
        seen[position] = label
    if len(leg_map) != fiber_count:
        missing = [p for p in positions if p not in seen]
        raise ConfigError(source, "cable.leg_map", f"{len(leg_map)} legs for {fiber_count} fibers",
                          f"map a leg to each of positions {', '.join(map(str, missing))}")


def close_to(wavelength_nm: float, others: Iterable[float]) -> bool:
    return any(abs(wavelength_nm - other) <= WAVELENGTH_TOLERANCE_NM for other in others)


def check_wavelengths(source: str, wavelengths_nm: tuple[float, ...], fiber_type: str,
                      station_wavelengths_nm: Iterable[float] | None) -> tuple[float, ...]:
    """The test wavelengths, each in the fiber type's window, listed once, and each one of the station's
    wavelengths exactly as its station file writes it (a 0.4 nm difference is refused with the fix)."""
    low, high = FIBER_TYPE_WINDOWS_NM[fiber_type]
    station = None if station_wavelengths_nm is None else [float(w) for w in station_wavelengths_nm]
    for index, wl in enumerate(wavelengths_nm):
        if not low <= wl <= high:
            raise ConfigError(source, "test.wavelengths_nm",
                              f"{wl:g} nm is outside the {fiber_type} test window {low:g}-{high:g} nm",
                              "SM is tested at 1310/1550 (1490/1625) nm, MM at 850/1300 (953) nm; "
                              "check fiber_type and wavelengths_nm")
        if close_to(wl, wavelengths_nm[:index]):
            raise ConfigError(source, "test.wavelengths_nm", f"{wl:g} nm is listed twice", "list each wavelength once")
        if station is not None and wl not in station:
            refuse_station_wavelength(source, wl, station)
    return wavelengths_nm


def refuse_station_wavelength(source: str, wavelength_nm: float, station: list[float]) -> None:
    """A recipe wavelength the station does not list: a near miss names the station's value to write."""
    given = ", ".join(f"{s:g}" for s in station) or "none"
    near = [s for s in station if abs(s - wavelength_nm) <= WAVELENGTH_TOLERANCE_NM]
    if near:
        raise ConfigError(source, "test.wavelengths_nm", f"{wavelength_nm:g} nm is not one of the station's "
                          f"wavelengths ({given} nm); the source is set to the station's wavelength exactly",
                          f"write {near[0]:g}, as the station file writes it")
    raise ConfigError(source, "test.wavelengths_nm", f"the station cannot produce {wavelength_nm:g} nm "
                      f"(its sources give {given} nm)",
                      "run this recipe on a station with that source, or remove the wavelength")


def per_wavelength(source: str, key: str, value: float | Mapping[str, float],
                   wavelengths_nm: tuple[float, ...]) -> dict[float, float]:
    """`value` (one number, or a table keyed by wavelength) as a value for every test wavelength."""
    if not isinstance(value, Mapping):
        return dict.fromkeys(wavelengths_nm, float(value))
    table: dict[float, float] = {}
    for wl_key, limit in value.items():
        if not close_to(float(wl_key), wavelengths_nm):
            raise ConfigError(source, f"limits.{key}.{wl_key}", f"{float(wl_key):g} nm is not a test wavelength",
                              "key the table by the wavelengths listed in test.wavelengths_nm")
        table[float(wl_key)] = float(limit)
    result = {}
    for wl in wavelengths_nm:
        found = [limit for known, limit in table.items() if abs(known - wl) <= WAVELENGTH_TOLERANCE_NM]
        if not found:
            raise ConfigError(source, f"limits.{key}", f"no value for {wl:g} nm",
                              f"write {key} = 0.75 (all wavelengths) or {key} = {{ 1310 = 0.75, 1550 = 0.75 }}")
        result[wl] = found[0]
    return result


def check_rule(source: str, rule: DecisionRuleSection) -> None:
    if rule.kind == "guarded" and rule.uncertainty_db == 0:
        raise ConfigError(source, "decision_rule.uncertainty_db", "guarded acceptance with U = 0 is simple acceptance",
                          'give the expanded uncertainty U of the station, or use kind = "simple"')


def check_capacity(source: str, fiber_count: int, capacity: int | Iterable[int]) -> None:
    """The station's fixture takes a cable of `fiber_count` fibers."""
    if isinstance(capacity, int):
        if fiber_count > capacity:
            raise ConfigError(source, "cable.fiber_count",
                              f"the fixture takes at most {capacity} fibers, the recipe has {fiber_count}",
                              "run this recipe on a station whose fixture takes the cable")
        return
    counts = sorted(int(c) for c in capacity)
    if fiber_count not in counts:
        raise ConfigError(source, "cable.fiber_count",
                          f"the fixture takes {', '.join(map(str, counts))}-fiber cables, not {fiber_count}",
                          "run this recipe on a station whose fixture takes the cable")


def as_keyword_arguments(section_object: Any, names: Iterable[str]) -> dict[str, Any]:
    """The fields of `section_object` that `names` (a dataclass's fields) also has."""
    wanted = set(names)
    return {name: value for name, value in vars(section_object).items() if name in wanted}
