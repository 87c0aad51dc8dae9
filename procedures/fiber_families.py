"""Fiber families (OS1a, OS2, OM1-OM5) and connector classes, as data from fiber_families.toml.

A recipe names a family; the family gives the test window (its mode), the wavelengths it
may be tested at, the cabled attenuation that makes the limit's fiber term, and the
default per-connection allowance. Numbers live in the TOML with their sources.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Two wavelengths closer than this are the same (a laser reports 1550.2 for 1550).
_SAME_NM = 0.5


@dataclass(frozen=True)
class ConnectorClass:
    name: str
    per_connection_db: float
    description: str
    source: str


@dataclass(frozen=True)
class FiberFamily:
    name: str
    mode: str  # "SM" or "MM": the test window and the grade table
    core_um: float
    test_wavelengths_nm: tuple[float, ...]
    optional_wavelengths_nm: tuple[float, ...]
    attenuation_db_per_km: Mapping[float, float]
    default_connector_class: str
    source: str

    @property
    def wavelengths_nm(self) -> tuple[float, ...]:
        """Every wavelength the family may be tested at (required first)."""
        return self.test_wavelengths_nm + self.optional_wavelengths_nm

    def allows(self, wavelength_nm: float) -> bool:
        return any(abs(wavelength_nm - w) <= _SAME_NM for w in self.wavelengths_nm)

    def attenuation_at(self, wavelength_nm: float) -> float | None:
        return next((value for w, value in self.attenuation_db_per_km.items()
                     if abs(wavelength_nm - w) <= _SAME_NM), None)


@cache
def _table() -> dict[str, dict]:
    text = resources.files("procedures").joinpath("fiber_families.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def fiber_families() -> dict[str, FiberFamily]:
    families = {}
    for name, entry in _table()["families"].items():
        families[name] = FiberFamily(
            name=name, mode=str(entry["mode"]), core_um=float(entry["core_um"]),
            test_wavelengths_nm=tuple(float(w) for w in entry["test_wavelengths_nm"]),
            optional_wavelengths_nm=tuple(float(w) for w in entry["optional_wavelengths_nm"]),
            attenuation_db_per_km={float(w): float(v) for w, v in entry["attenuation_db_per_km"].items()},
            default_connector_class=str(entry["default_connector_class"]), source=str(entry["source"]))
    return families


@cache
def connector_classes() -> dict[str, ConnectorClass]:
    return {name: ConnectorClass(name, float(entry["per_connection_db"]), str(entry["description"]),
                                 str(entry["source"]))
            for name, entry in _table()["connector_classes"].items()}
