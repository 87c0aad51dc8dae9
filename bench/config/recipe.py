"""Product recipes: what a cable is and what insertion loss it may have.

A recipe is a TOML file describing one product (or one product family): fiber
count, connectors at each end, polarity, fiber type, length, test wavelengths,
limits, the decision rule and an optional serial-number pattern. It is read and
checked once, at the edge, before any instrument is touched; everything inside
the toolkit then trusts the frozen :class:`Recipe` object.

File layout (all tables required unless marked optional)::

    [recipe]          name, product, description (optional)
    [cable]           fiber_count, polarity, fiber_type, connector_a, connector_b,
                      cable_type, length_m, serial_pattern (optional)
    [cable.leg_map]   optional, fan-outs only: leg label = fiber position
    [test]            wavelengths_nm
    [limits]          max_il_db, per_connection_db, connections,
                      attenuation_db_per_km, max_mean_il_db (see Limits)
    [decision_rule]   kind ("simple" | "guarded"), uncertainty_db (U), coverage_factor (k)

See docs/grading.md for the full reference and bench/examples/recipe_*.toml.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bench.config.decision_rule import DECISION_RULE_KINDS, DecisionRule
from bench.errors import ConfigError
from procedures.fiber_families import FiberFamily, connector_classes, fiber_families
from procedures.polarity import maps_for, polarity_maps

# Two wavelengths closer than this are the same test wavelength: station files
# write 1550 where a laser reports 1550.2, and nobody means a different limit.
WAVELENGTH_TOLERANCE_NM = 0.5

FIBER_TYPES = ("SM", "MM")
CABLE_TYPES = ("trunk", "fanout")

# Wavelength windows each fiber type is tested in. A single-mode recipe at
# 850 nm or a multimode recipe at 1550 nm is a typo, not a product.
FIBER_TYPE_WINDOWS_NM = {"SM": (1260.0, 1650.0), "MM": (800.0, 1380.0)}

# Array connectors carry a gender (F = unpinned, M = pinned); simplex/duplex
# connectors on fan-out legs do not. An optional polish suffix is allowed.
_ARRAY_CONNECTOR = re.compile(r"^(MTP|MPO)-(F|M)(-(APC|UPC|PC))?$")
_LEG_CONNECTOR = re.compile(r"^(LC|SC|FC|ST)(-(APC|UPC|PC))?$")

_TOP_KEYS = {"recipe", "cable", "test", "limits", "decision_rule"}
_RECIPE_KEYS = {"name", "product", "description"}
_CABLE_KEYS = {
    "fiber_count",
    "polarity",
    "fiber_type",
    "fiber_family",
    "connector_a",
    "connector_b",
    "cable_type",
    "length_m",
    "serial_pattern",
    "leg_map",
}
_TEST_KEYS = {"wavelengths_nm"}
_LIMIT_KEYS = {"max_il_db", "per_connection_db", "connections", "attenuation_db_per_km", "max_mean_il_db"}
_RULE_KEYS = {"kind", "uncertainty_db", "coverage_factor"}


def fiber_positions_for(fiber_count: int) -> tuple[int, ...]:
    """Ferrule positions that carry a fiber, as procedures/polarity_maps.toml lists them.

    An 8-fiber MPO uses positions 1-4 and 9-12 of a 12-position ferrule; every
    other count fills positions 1..N. Verdicts and leg maps name these positions,
    so a certificate says "fiber 9" where the technician sees fiber 9.
    """
    return maps_for(fiber_count).positions


def _lookup_wavelength(table: Mapping[float, float], wavelength_nm: float) -> float | None:
    for known_nm, value in table.items():
        if abs(known_nm - wavelength_nm) <= WAVELENGTH_TOLERANCE_NM:
            return value
    return None


@dataclass(frozen=True)
class Limits:
    """Insertion-loss limits of a product family.

    Per-fiber limit at wavelength λ for a cable of length L::

        max_il_db[λ] + connections × per_connection_db + attenuation_db_per_km[λ] × L / 1000

    so one recipe serves every length of the family. The optional cable-mean
    limit gets the same length term (fiber attenuation moves every fiber, hence
    the mean, by the same amount) but no connector term: a mean limit is written
    for the connections the product has, not per connection.
    """

    max_il_db: Mapping[float, float]
    per_connection_db: float = 0.0
    connections: int = 2
    attenuation_db_per_km: Mapping[float, float] = field(default_factory=lambda: MappingProxyType({}))
    max_mean_il_db: Mapping[float, float] | None = None

    def length_term_db(self, wavelength_nm: float, length_m: float) -> float:
        attenuation = _lookup_wavelength(self.attenuation_db_per_km, wavelength_nm) or 0.0
        return attenuation * length_m / 1000.0

    def max_il_db_at(self, wavelength_nm: float, length_m: float) -> float:
        base = _lookup_wavelength(self.max_il_db, wavelength_nm)
        if base is None:
            raise ValueError(f"no insertion-loss limit at {wavelength_nm:g} nm")
        return base + self.connections * self.per_connection_db + self.length_term_db(wavelength_nm, length_m)

    def max_mean_il_db_at(self, wavelength_nm: float, length_m: float) -> float | None:
        if self.max_mean_il_db is None:
            return None
        base = _lookup_wavelength(self.max_mean_il_db, wavelength_nm)
        if base is None:
            return None
        return base + self.length_term_db(wavelength_nm, length_m)

    def as_dict(self) -> dict[str, Any]:
        def table(values: Mapping[float, float] | None) -> dict[str, float] | None:
            return None if values is None else {f"{k:g}": v for k, v in values.items()}

        return {
            "max_il_db": table(self.max_il_db),
            "per_connection_db": self.per_connection_db,
            "connections": self.connections,
            "attenuation_db_per_km": table(self.attenuation_db_per_km),
            "max_mean_il_db": table(self.max_mean_il_db),
        }


@dataclass(frozen=True)
class Recipe:
    """A validated product recipe. Build it with :func:`load_recipe` or :func:`parse_recipe`."""

    name: str
    product: str
    fiber_count: int
    polarity: str
    fiber_type: str
    connector_a: str
    connector_b: str
    cable_type: str
    length_m: float
    wavelengths_nm: tuple[float, ...]
    limits: Limits
    decision_rule: DecisionRule
    serial_pattern: str | None = None
    leg_map: Mapping[str, int] | None = None
    description: str = ""
    source: str = "<recipe>"
    source_sha256: str | None = None
    fiber_family: str | None = None  # OS1a, OS2, OM1-OM5 (procedures/fiber_families.toml); None: SM/MM only

    @property
    def fiber_positions(self) -> tuple[int, ...]:
        """Ferrule positions carrying a fiber, in the column order grade_cable expects."""
        return fiber_positions_for(self.fiber_count)

    def max_il_db(self, wavelength_nm: float, length_m: float | None = None) -> float:
        """Per-fiber IL limit at a wavelength, length and connector terms included.

        `length_m` overrides the recipe's nominal length for a cable of the same
        family cut to another length.
        """
        return self.limits.max_il_db_at(wavelength_nm, self.length_m if length_m is None else length_m)

    def max_mean_il_db(self, wavelength_nm: float, length_m: float | None = None) -> float | None:
        """Cable-mean IL limit at a wavelength, or None when the recipe sets none."""
        return self.limits.max_mean_il_db_at(wavelength_nm, self.length_m if length_m is None else length_m)

    def with_length(self, length_m: float) -> Recipe:
        """The same product family at another length (limits follow the length term)."""
        if isinstance(length_m, bool) or not isinstance(length_m, int | float) or not length_m > 0:
            raise ConfigError(
                self.source,
                "cable.length_m",
                f"length {length_m!r} is not a positive number",
                "give the cable length in metres, e.g. 12.5",
            )
        return replace(self, length_m=float(length_m))

    def check_serial(self, serial: str) -> None:
        """Refuse a serial number the recipe's pattern does not accept (or an empty one)."""
        if not isinstance(serial, str) or not serial.strip():
            raise ConfigError(
                "serial",
                "serial",
                "the serial number is empty",
                "scan or type the serial number printed on the cable label",
            )
        if self.serial_pattern is not None and re.fullmatch(self.serial_pattern, serial) is None:
            raise ConfigError(
                "serial",
                "serial",
                f"'{serial}' does not match the pattern {self.serial_pattern!r} of recipe '{self.name}'",
                "check the label and the selected recipe; rescan the serial number",
            )

    def as_dict(self) -> dict[str, Any]:
        """JSON-able snapshot stored with every record, including the limits actually applied."""
        return {
            "name": self.name,
            "product": self.product,
            "description": self.description,
            "fiber_count": self.fiber_count,
            "fiber_positions": list(self.fiber_positions),
            "polarity": self.polarity,
            "fiber_type": self.fiber_type,
            "fiber_family": self.fiber_family,
            "connector_a": self.connector_a,
            "connector_b": self.connector_b,
            "cable_type": self.cable_type,
            "length_m": self.length_m,
            "wavelengths_nm": list(self.wavelengths_nm),
            "serial_pattern": self.serial_pattern,
            "leg_map": None if self.leg_map is None else dict(self.leg_map),
            "limits": self.limits.as_dict(),
            "applied_limits_db": {
                f"{wl:g}": {"max_il_db": self.max_il_db(wl), "max_mean_il_db": self.max_mean_il_db(wl)}
                for wl in self.wavelengths_nm
            },
            "decision_rule": self.decision_rule.as_dict(),
            "source": self.source,
            "source_sha256": self.source_sha256,
        }


# --------------------------------------------------------------------------- loading


def load_recipe(
    path: str | Path,
    *,
    station_wavelengths_nm: Iterable[float] | None = None,
    station_fiber_capacity: int | Iterable[int] | None = None,
) -> Recipe:
    """Read and validate a recipe file; raise ConfigError naming file, field and fix.

    `station_wavelengths_nm` (the wavelengths the station's sources can produce)
    and `station_fiber_capacity` (the largest fiber count the fixture takes, or
    the collection of counts it takes) are checked when given, so a recipe the
    station cannot run is refused before any instrument is touched.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            source,
            "<file>",
            "the recipe file does not exist",
            "check the path, or copy one of bench/examples/recipe_*.toml",
        ) from None
    except OSError as exc:
        raise ConfigError(
            source,
            "<file>",
            f"the recipe file cannot be read ({exc.strerror})",
            "check the path and its permissions",
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, "<file>", "the file is not UTF-8 text", "save the recipe as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            source,
            "<toml>",
            f"malformed TOML ({exc})",
            "correct the syntax at the line given; compare with bench/examples/recipe_demo.toml",
        ) from None
    return parse_recipe(
        data,
        source,
        station_wavelengths_nm=station_wavelengths_nm,
        station_fiber_capacity=station_fiber_capacity,
        source_sha256=hashlib.sha256(raw).hexdigest(),
    )


def parse_recipe(
    data: Mapping[str, Any],
    source: str = "<recipe>",
    *,
    station_wavelengths_nm: Iterable[float] | None = None,
    station_fiber_capacity: int | Iterable[int] | None = None,
    source_sha256: str | None = None,
) -> Recipe:
    """Validate a recipe already parsed into a dict (same rules and errors as load_recipe)."""
    check = _Checker(source)
    if not isinstance(data, Mapping):
        raise ConfigError(source, "<root>", "the recipe is not a table", "write the recipe as TOML tables")
    check.keys(data, _TOP_KEYS, "", required={"recipe", "cable", "test", "limits", "decision_rule"})

    head = check.table(data, "recipe")
    check.keys(head, _RECIPE_KEYS, "recipe", required={"name", "product"})
    name = check.text(head, "name", "recipe")
    product = check.text(head, "product", "recipe")
    description = check.text(head, "description", "recipe", required=False) or ""

    cable = check.table(data, "cable")
    check.keys(cable, _CABLE_KEYS, "cable",
               required=_CABLE_KEYS - {"serial_pattern", "leg_map", "fiber_type", "fiber_family"})
    fiber_count = check.integer(cable, "fiber_count", "cable")
    # Fiber counts and polarities are those the polarity maps define: a recipe
    # the polarity check could not verify is refused here, not mid-test.
    known_counts = sorted(polarity_maps())
    if fiber_count not in known_counts:
        raise ConfigError(
            source,
            "cable.fiber_count",
            f"{fiber_count} fibers is not an MPO/MTP fiber count",
            f"use one of {', '.join(map(str, known_counts))}",
        )
    polarity = check.choice(cable, "polarity", "cable", tuple(maps_for(fiber_count).templates))
    fiber_type, family = _parse_fiber_family(check, cable)
    cable_type = check.choice(cable, "cable_type", "cable", CABLE_TYPES)
    connector_a = check.text(cable, "connector_a", "cable")
    connector_b = check.text(cable, "connector_b", "cable")
    _check_connectors(source, cable_type, connector_a, connector_b)
    length_m = check.number(cable, "length_m", "cable")
    if not length_m > 0:
        raise ConfigError(
            source,
            "cable.length_m",
            f"length {length_m:g} m is not positive",
            "give the cable length in metres, e.g. 10.0",
        )
    serial_pattern = check.text(cable, "serial_pattern", "cable", required=False)
    if serial_pattern is not None:
        try:
            re.compile(serial_pattern)
        except re.error as exc:
            raise ConfigError(
                source,
                "cable.serial_pattern",
                f"not a valid regular expression ({exc})",
                'write a Python regular expression, e.g. "^MTP12-[0-9]{6}$"',
            ) from None
    leg_map = _parse_leg_map(check, cable, cable_type, fiber_count)

    test = check.table(data, "test")
    check.keys(test, _TEST_KEYS, "test", required=_TEST_KEYS)
    wavelengths_nm = _parse_wavelengths(check, test, fiber_type, station_wavelengths_nm)
    if family is not None:
        _check_family_wavelengths(source, family, wavelengths_nm)

    limits = _parse_limits(check, check.table(data, "limits"), wavelengths_nm, length_m, family)
    decision_rule = _parse_rule(check, check.table(data, "decision_rule"))

    if station_fiber_capacity is not None:
        _check_capacity(source, fiber_count, station_fiber_capacity)

    return Recipe(
        name=name,
        product=product,
        description=description,
        fiber_count=fiber_count,
        polarity=polarity,
        fiber_type=fiber_type,
        connector_a=connector_a,
        connector_b=connector_b,
        cable_type=cable_type,
        length_m=length_m,
        wavelengths_nm=wavelengths_nm,
        limits=limits,
        decision_rule=decision_rule,
        serial_pattern=serial_pattern,
        leg_map=leg_map,
        source=source,
        source_sha256=source_sha256,
        fiber_family=None if family is None else family.name,
    )


class _Checker:
    """Typed field access that turns every mistake into a ConfigError naming the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def _fail(self, where: str, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(self.source, f"{where}.{key}" if where else key, problem, fix)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str, *, required: set[str]) -> None:
        for key in table:
            if key not in allowed:
                raise self._fail(where, key, "unknown key", f"remove it or use one of: {', '.join(sorted(allowed))}")
        for key in sorted(required):
            if key not in table:
                raise self._fail(where, key, "missing", f"add '{key}' (see bench/examples/recipe_demo.toml)")

    def table(self, parent: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
        value = parent[key]
        if not isinstance(value, Mapping):
            raise self._fail(
                where, key, f"expected a table, got {type(value).__name__}", f"write it as a [{key}] table"
            )
        return value

    def text(self, table: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
        if key not in table:
            if required:
                raise self._fail(where, key, "missing", f"add '{key}'")
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self._fail(where, key, f"expected non-empty text, got {value!r}", 'write it in quotes: "..."')
        return value

    def choice(self, table: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...]) -> str:
        value = self.text(table, key, where)
        if value not in choices:
            raise self._fail(
                where, key, f"unknown value {value!r}", f"use one of {', '.join(repr(c) for c in choices)}"
            )
        return value

    def integer(self, table: Mapping[str, Any], key: str, where: str) -> int:
        value = table[key]
        # bool is an int in Python; `true` for a fiber count is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(where, key, f"expected a whole number, got {value!r}", "write a number without quotes")
        return value

    def number(self, table: Mapping[str, Any], key: str, where: str) -> float:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(where, key, f"expected a number, got {value!r}", "write a number without quotes")
        if not math.isfinite(value):
            raise self._fail(where, key, f"{value} is not a finite number", "write a finite number")
        return float(value)


def _check_connectors(source: str, cable_type: str, connector_a: str, connector_b: str) -> None:
    for field_name, connector in (("connector_a", connector_a), ("connector_b", connector_b)):
        if not (_ARRAY_CONNECTOR.match(connector) or _LEG_CONNECTOR.match(connector)):
            raise ConfigError(
                source,
                f"cable.{field_name}",
                f"unknown connector {connector!r}",
                'use e.g. "MTP-F", "MPO-M", "MTP-F-APC" for array ends or "LC", "SC-APC" for legs',
            )
    if not _ARRAY_CONNECTOR.match(connector_a):
        raise ConfigError(
            source,
            "cable.connector_a",
            f"end A is {connector_a!r}, not an MPO/MTP connector",
            "put the array connector (MPO/MTP) at end A; fan-out legs go at end B",
        )
    b_is_array = bool(_ARRAY_CONNECTOR.match(connector_b))
    if cable_type == "trunk" and not b_is_array:
        raise ConfigError(
            source,
            "cable.connector_b",
            f"a trunk needs MPO/MTP at both ends, end B is {connector_b!r}",
            'set cable_type = "fanout" or an MPO/MTP connector at end B',
        )
    if cable_type == "fanout" and b_is_array:
        raise ConfigError(
            source,
            "cable.connector_b",
            f"a fan-out ends in legs, end B is {connector_b!r}",
            'set cable_type = "trunk" or a leg connector such as "LC" at end B',
        )


def _parse_leg_map(
    check: _Checker, cable: Mapping[str, Any], cable_type: str, fiber_count: int
) -> Mapping[str, int] | None:
    if "leg_map" not in cable:
        return None
    source = check.source
    if cable_type != "fanout":
        raise ConfigError(
            source,
            "cable.leg_map",
            "a trunk has no legs",
            'remove [cable.leg_map] or set cable_type = "fanout"',
        )
    table = check.table(cable, "leg_map", "cable")
    positions = fiber_positions_for(fiber_count)
    seen: dict[int, str] = {}
    legs: dict[str, int] = {}
    for label, position in table.items():
        if isinstance(position, bool) or not isinstance(position, int):
            raise ConfigError(
                source,
                f"cable.leg_map.{label}",
                f"expected a fiber position, got {position!r}",
                "write the ferrule position as a whole number",
            )
        if position not in positions:
            raise ConfigError(
                source,
                f"cable.leg_map.{label}",
                f"position {position} does not carry a fiber in a {fiber_count}-fiber ferrule",
                f"use one of {', '.join(map(str, positions))}",
            )
        if position in seen:
            raise ConfigError(
                source,
                f"cable.leg_map.{label}",
                f"position {position} is already leg '{seen[position]}'",
                "give every leg its own fiber position",
            )
        seen[position] = label
        legs[label] = position
    if len(legs) != fiber_count:
        missing = [p for p in positions if p not in seen]
        raise ConfigError(
            source,
            "cable.leg_map",
            f"{len(legs)} legs for {fiber_count} fibers",
            f"map a leg to each of positions {', '.join(map(str, missing))}",
        )
    return MappingProxyType(legs)


def _parse_wavelengths(
    check: _Checker, test: Mapping[str, Any], fiber_type: str, station_wavelengths_nm: Iterable[float] | None
) -> tuple[float, ...]:
    source = check.source
    values = test["wavelengths_nm"]
    if not isinstance(values, list) or not values:
        raise ConfigError(
            source,
            "test.wavelengths_nm",
            f"expected a non-empty list, got {values!r}",
            "write e.g. wavelengths_nm = [1310, 1550]",
        )
    wavelengths: list[float] = []
    low, high = FIBER_TYPE_WINDOWS_NM[fiber_type]
    station = None if station_wavelengths_nm is None else [float(w) for w in station_wavelengths_nm]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(
                source,
                "test.wavelengths_nm",
                f"{value!r} is not a wavelength in nm",
                "write numbers in nanometres, e.g. 1310",
            )
        wl = float(value)
        if not low <= wl <= high:
            raise ConfigError(
                source,
                "test.wavelengths_nm",
                f"{wl:g} nm is outside the {fiber_type} test window {low:g}-{high:g} nm",
                "SM is tested at 1310/1550 (1490/1625) nm, MM at 850/1300 (953) nm; "
                "check fiber_type and wavelengths_nm",
            )
        if any(abs(wl - other) <= WAVELENGTH_TOLERANCE_NM for other in wavelengths):
            raise ConfigError(source, "test.wavelengths_nm", f"{wl:g} nm is listed twice", "list each wavelength once")
        if station is not None and not any(abs(wl - s) <= WAVELENGTH_TOLERANCE_NM for s in station):
            raise ConfigError(
                source,
                "test.wavelengths_nm",
                f"the station cannot produce {wl:g} nm "
                f"(its sources give {', '.join(f'{s:g}' for s in station) or 'none'} nm)",
                "run this recipe on a station with that source, or remove the wavelength",
            )
        wavelengths.append(wl)
    return tuple(wavelengths)


def _per_wavelength(
    check: _Checker, limits: Mapping[str, Any], key: str, wavelengths_nm: tuple[float, ...]
) -> dict[float, float]:
    """A number for every wavelength, or a table keyed by wavelength in nm (e.g. {1310 = 0.4})."""
    source = check.source
    value = limits[key]
    fix = f"write {key} = 0.75 (all wavelengths) or {key} = {{ 1310 = 0.75, 1550 = 0.75 }}"
    if isinstance(value, Mapping):
        table: dict[float, float] = {}
        for wl_key, limit in value.items():
            try:
                wl = float(wl_key)
            except ValueError:
                raise ConfigError(source, f"limits.{key}.{wl_key}", "the key is not a wavelength in nm", fix) from None
            if not any(abs(wl - w) <= WAVELENGTH_TOLERANCE_NM for w in wavelengths_nm):
                raise ConfigError(
                    source,
                    f"limits.{key}.{wl_key}",
                    f"{wl:g} nm is not a test wavelength",
                    "key the table by the wavelengths listed in test.wavelengths_nm",
                )
            table[wl] = _non_negative(source, f"limits.{key}.{wl_key}", limit)
        for wl in wavelengths_nm:
            if _lookup_wavelength(table, wl) is None:
                raise ConfigError(source, f"limits.{key}", f"no value for {wl:g} nm", fix)
        return {wl: _lookup_wavelength(table, wl) for wl in wavelengths_nm}  # type: ignore[misc]
    number = _non_negative(source, f"limits.{key}", value)
    return dict.fromkeys(wavelengths_nm, number)


def _non_negative(source: str, field_name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(
            source, field_name, f"expected a number of dB, got {value!r}", "write a number without quotes"
        )
    if value < 0:
        raise ConfigError(
            source,
            field_name,
            f"{value:g} dB is negative; a loss limit cannot be",
            "write the allowed loss as a positive number of dB",
        )
    return float(value)


def _parse_limits(
    check: _Checker, limits: Mapping[str, Any], wavelengths_nm: tuple[float, ...], length_m: float,
    family: FiberFamily | None = None,
) -> Limits:
    source = check.source
    check.keys(limits, _LIMIT_KEYS, "limits", required=set())
    if family is not None:
        limits = _family_defaults(limits, family, wavelengths_nm)
    if "max_il_db" not in limits and "per_connection_db" not in limits:
        raise ConfigError(
            source,
            "limits.max_il_db",
            "no per-fiber limit is given",
            "set max_il_db (per wavelength) and/or per_connection_db",
        )
    max_il = (
        _per_wavelength(check, limits, "max_il_db", wavelengths_nm)
        if "max_il_db" in limits
        else dict.fromkeys(wavelengths_nm, 0.0)
    )
    per_connection = _non_negative(source, "limits.per_connection_db", limits.get("per_connection_db", 0.0))
    connections = limits.get("connections", 2)
    if isinstance(connections, bool) or not isinstance(connections, int) or not 0 <= connections <= 8:
        raise ConfigError(
            source,
            "limits.connections",
            f"expected 0-8 mated connections, got {connections!r}",
            "count the mated connections included by the reference method (1-cord: 2)",
        )
    attenuation = (
        _per_wavelength(check, limits, "attenuation_db_per_km", wavelengths_nm)
        if "attenuation_db_per_km" in limits
        else {}
    )
    mean = _per_wavelength(check, limits, "max_mean_il_db", wavelengths_nm) if "max_mean_il_db" in limits else None
    result = Limits(
        max_il_db=MappingProxyType(max_il),
        per_connection_db=per_connection,
        connections=connections,
        attenuation_db_per_km=MappingProxyType(attenuation),
        max_mean_il_db=None if mean is None else MappingProxyType(mean),
    )
    for wl in wavelengths_nm:
        per_fiber = result.max_il_db_at(wl, length_m)
        if not per_fiber > 0:
            raise ConfigError(
                source,
                "limits.max_il_db",
                f"the per-fiber limit at {wl:g} nm comes to 0 dB",
                "no real cable meets 0 dB; set max_il_db or per_connection_db",
            )
        mean_limit = result.max_mean_il_db_at(wl, length_m)
        if mean_limit is not None and mean_limit > per_fiber:
            raise ConfigError(
                source,
                "limits.max_mean_il_db",
                f"the mean limit {mean_limit:.3f} dB at {wl:g} nm exceeds the per-fiber limit "
                f"{per_fiber:.3f} dB, so it can never bind",
                "set the mean limit below the per-fiber limit, or remove it",
            )
    return result


def _parse_rule(check: _Checker, rule: Mapping[str, Any]) -> DecisionRule:
    source = check.source
    check.keys(rule, _RULE_KEYS, "decision_rule", required={"kind", "uncertainty_db"})
    kind = check.choice(rule, "kind", "decision_rule", DECISION_RULE_KINDS)
    uncertainty = _non_negative(source, "decision_rule.uncertainty_db", rule["uncertainty_db"])
    coverage = check.number(rule, "coverage_factor", "decision_rule") if "coverage_factor" in rule else 2.0
    if not coverage > 0:
        raise ConfigError(
            source,
            "decision_rule.coverage_factor",
            f"k = {coverage:g} is not positive",
            "use k = 2 (about 95 % coverage)",
        )
    if kind == "guarded" and uncertainty == 0:
        raise ConfigError(
            source,
            "decision_rule.uncertainty_db",
            "guarded acceptance with U = 0 is simple acceptance",
            'give the expanded uncertainty U of the station, or use kind = "simple"',
        )
    return DecisionRule(kind=kind, uncertainty_db=uncertainty, coverage_factor=coverage)


def _check_capacity(source: str, fiber_count: int, capacity: int | Iterable[int]) -> None:
    if isinstance(capacity, int):
        if fiber_count > capacity:
            raise ConfigError(
                source,
                "cable.fiber_count",
                f"the fixture takes at most {capacity} fibers, the recipe has {fiber_count}",
                "run this recipe on a station whose fixture takes the cable",
            )
        return
    counts = sorted(int(c) for c in capacity)
    if fiber_count not in counts:
        raise ConfigError(
            source,
            "cable.fiber_count",
            f"the fixture takes {', '.join(map(str, counts))}-fiber cables, not {fiber_count}",
            "run this recipe on a station whose fixture takes the cable",
        )


# -------------------------------------------------------------------------- fiber families


def _parse_fiber_family(check: _Checker, cable: Mapping[str, Any]) -> tuple[str, FiberFamily | None]:
    """(mode "SM"/"MM", family or None). `fiber_type` alone is the pre-family form, still valid."""
    source = check.source
    families = fiber_families()
    if "fiber_family" not in cable:
        if "fiber_type" not in cable:
            raise ConfigError(source, "cable.fiber_family", "missing",
                              f"name the fiber family: one of {', '.join(families)}")
        return check.choice(cable, "fiber_type", "cable", FIBER_TYPES), None
    name = check.choice(cable, "fiber_family", "cable", tuple(families))
    family = families[name]
    if "fiber_type" in cable and cable["fiber_type"] != family.mode:
        raise ConfigError(source, "cable.fiber_type", f"{cable['fiber_type']!r} contradicts fiber_family "
                          f"{name!r} ({family.mode})", "remove fiber_type: the family gives it")
    return family.mode, family


def _check_family_wavelengths(source: str, family: FiberFamily, wavelengths_nm: tuple[float, ...]) -> None:
    for wavelength_nm in wavelengths_nm:
        if not family.allows(wavelength_nm):
            raise ConfigError(source, "test.wavelengths_nm", f"{family.name} is not tested at {wavelength_nm:g} nm",
                              f"use {family.name}'s wavelengths: "
                              f"{', '.join(f'{w:g}' for w in family.wavelengths_nm)} nm")


def _family_defaults(limits: Mapping[str, Any], family: FiberFamily,
                     wavelengths_nm: tuple[float, ...]) -> Mapping[str, Any]:
    """The recipe's limits, with the family's cabled attenuation and connector class where it gives none."""
    filled = dict(limits)
    if "attenuation_db_per_km" not in filled:
        filled["attenuation_db_per_km"] = {f"{w:g}": family.attenuation_at(w) or 0.0 for w in wavelengths_nm}
    if "max_il_db" not in filled and "per_connection_db" not in filled:
        filled["per_connection_db"] = connector_classes()[family.default_connector_class].per_connection_db
    return filled
