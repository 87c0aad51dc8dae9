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
                      attenuation_db_per_km, max_mean_il_db (see Limits), min_isolation_db
    [decision_rule]   kind ("simple" | "guarded"), uncertainty_db (U), coverage_factor (k)

The tables' fields, types and ranges are declared in `bench.config.recipe_schema` (the
schema layer); see docs/grading.md for the full reference and bench/examples/recipe_*.toml.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bench.config import recipe_schema as rules
from bench.config.decision_rule import DecisionRule
from bench.config.harness import Harness, parse_harness
from bench.config.recipe_schema import (
    CABLE_TYPES,
    FIBER_TYPE_WINDOWS_NM,
    FIBER_TYPES,
    WAVELENGTH_TOLERANCE_NM,
    RecipeFile,
)
from bench.config.schema import validate
from bench.errors import ConfigError
from procedures.polarity import DEFAULT_MIN_ISOLATION_DB, maps_for

__all__ = ["CABLE_TYPES", "FIBER_TYPES", "FIBER_TYPE_WINDOWS_NM", "WAVELENGTH_TOLERANCE_NM", "Limits", "Recipe",
           "fiber_positions_for", "load_recipe", "parse_recipe"]


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
    # A lit position within this many dB of a fiber's own light is a leak (procedures.polarity).
    min_isolation_db: float = DEFAULT_MIN_ISOLATION_DB

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
            "min_isolation_db": self.min_isolation_db,
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
    harness: Harness | None = None  # several connectors per end (bench.config.harness); None: one per end

    @property
    def fiber_positions(self) -> tuple[int, ...]:
        """Ferrule positions carrying a fiber (a harness: its fiber numbers 1..N), in grade_cable's column order."""
        if self.harness is not None:
            return tuple(fiber.number for fiber in self.harness.fibers)
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
            "harness": None if self.harness is None else self.harness.as_dict(),
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
        raise ConfigError(source, "<file>", "the recipe file does not exist",
                          "check the path, or copy one of bench/examples/recipe_*.toml") from None
    except OSError as exc:
        raise ConfigError(source, "<file>", f"the recipe file cannot be read ({exc.strerror})",
                          "check the path and its permissions") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, "<file>", "the file is not UTF-8 text", "save the recipe as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "<toml>", f"malformed TOML ({exc})",
                          "correct the syntax at the line given; compare with bench/examples/recipe_demo.toml"
                          ) from None
    return parse_recipe(data, source, station_wavelengths_nm=station_wavelengths_nm,
                        station_fiber_capacity=station_fiber_capacity,
                        source_sha256=hashlib.sha256(raw).hexdigest())


def parse_recipe(
    data: Mapping[str, Any],
    source: str = "<recipe>",
    *,
    station_wavelengths_nm: Iterable[float] | None = None,
    station_fiber_capacity: int | Iterable[int] | None = None,
    source_sha256: str | None = None,
) -> Recipe:
    """Validate a recipe already parsed into a dict (same rules and errors as load_recipe)."""
    parsed: RecipeFile = validate(RecipeFile, data, source)
    cable = parsed.cable
    rules.check_cable(source, cable)
    fiber_type, family = rules.fiber_family(source, cable)
    wavelengths_nm = rules.check_wavelengths(source, parsed.test.wavelengths_nm, fiber_type, station_wavelengths_nm)
    if family is not None:
        rules.check_family_wavelengths(source, family, wavelengths_nm)
        parsed = dataclasses.replace(parsed, limits=rules.family_defaults(parsed.limits, family, wavelengths_nm))
    limits = _limits(source, parsed, wavelengths_nm)
    rules.check_rule(source, parsed.decision_rule)
    if station_fiber_capacity is not None:
        rules.check_capacity(source, cable.fiber_count, station_fiber_capacity)
    rule = parsed.decision_rule
    cable_fields = rules.as_keyword_arguments(cable, (f.name for f in dataclasses.fields(Recipe)))
    cable_fields["leg_map"] = None if cable.leg_map is None else MappingProxyType(dict(cable.leg_map))
    cable_fields["fiber_type"] = fiber_type
    if cable.cable_type == "harness":  # the fiber map is the polarity; its first connectors name the ends
        harness = parse_harness(cable, source)
        cable_fields.update(polarity="map", connector_a=harness.end_a[0].connector,
                            connector_b=harness.end_b[0].connector, harness=harness)
    return Recipe(
        name=parsed.recipe.name,
        product=parsed.recipe.product,
        description=parsed.recipe.description,
        wavelengths_nm=wavelengths_nm,
        limits=limits,
        decision_rule=DecisionRule(kind=rule.kind, uncertainty_db=rule.uncertainty_db,
                                   coverage_factor=rule.coverage_factor),
        source=source,
        source_sha256=source_sha256,
        **cable_fields,
    )


def _limits(source: str, parsed: RecipeFile, wavelengths_nm: tuple[float, ...]) -> Limits:
    """The limits with a value for every test wavelength, refused if a limit is 0 dB or can never bind."""
    given = parsed.limits
    if given.max_il_db is None and given.per_connection_db == 0:
        raise ConfigError(source, "limits.max_il_db", "no per-fiber limit is given",
                          "set max_il_db (per wavelength) and/or per_connection_db")

    def table(key: str) -> Mapping[float, float] | None:
        value = getattr(given, key)
        return None if value is None else MappingProxyType(rules.per_wavelength(source, key, value, wavelengths_nm))

    result = Limits(max_il_db=table("max_il_db") or MappingProxyType(dict.fromkeys(wavelengths_nm, 0.0)),
                    per_connection_db=given.per_connection_db, connections=given.connections,
                    attenuation_db_per_km=table("attenuation_db_per_km") or MappingProxyType({}),
                    max_mean_il_db=table("max_mean_il_db"), min_isolation_db=given.min_isolation_db)
    length_m = parsed.cable.length_m
    for wl in wavelengths_nm:
        per_fiber = result.max_il_db_at(wl, length_m)
        if not per_fiber > 0:
            raise ConfigError(source, "limits.max_il_db", f"the per-fiber limit at {wl:g} nm comes to 0 dB",
                              "no real cable meets 0 dB; set max_il_db or per_connection_db")
        mean_limit = result.max_mean_il_db_at(wl, length_m)
        if mean_limit is not None and mean_limit > per_fiber:
            raise ConfigError(source, "limits.max_mean_il_db",
                              f"the mean limit {mean_limit:.3f} dB at {wl:g} nm exceeds the per-fiber limit "
                              f"{per_fiber:.3f} dB, so it can never bind",
                              "set the mean limit below the per-fiber limit, or remove it")
    return result
