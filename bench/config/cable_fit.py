"""What a station's fixture offers a cable, and whether a recipe's cable fits it.

Station side: the multimode launch conditioner (IEC 61280-4-1 encircled flux) and the
polish of the fixture's connectors at each end. Recipe side: the fiber's mode and the
polish written in its connector names (``MTP-F-APC``). `check_recipe_on_station` refuses
a mismatch from the configuration alone, so it runs before any instrument is opened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, Field, Strict

from bench.config.harness import plan_harness
from bench.config.schema import Name, Text, date_from_text, section
from bench.errors import ConfigError

# An encircled-flux launch needs a device qualified for it: an EF-compliant test cord or
# a mode controller. A mandrel wrap alone filters high-order modes but does not make the
# launch EF-compliant (IEC 61280-4-1; TIA-568.3-E requires EF for multimode), so it is refused.
LAUNCH_CONDITIONER_KINDS = ("ef-cord", "mode-controller")
POLISHES = ("APC", "UPC", "PC")


@dataclass(frozen=True)
class LaunchConditioner:
    """The device that gives a multimode station its encircled-flux launch."""

    kind: str  # one of LAUNCH_CONDITIONER_KINDS
    serial: str
    certificate: str
    model: str = ""
    certificate_due: str | None = None
    standard: str = "IEC 61280-4-1 encircled flux"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "serial": self.serial, "certificate": self.certificate,
                "certificate_due": self.certificate_due, "standard": self.standard}

    def describe(self) -> str:
        return (f"{self.standard}: {self.kind} {self.model + ' ' if self.model else ''}serial {self.serial}, "
                f"certificate {self.certificate}" + (f" (due {self.certificate_due})" if self.certificate_due else ""))


@section
class LaunchConditionerSection:
    """The station file's `[launch_conditioner]` table."""

    kind: Name = Field(description='"ef-cord" (an EF-compliant test cord) or "mode-controller"')
    serial: Name
    certificate: Name
    model: Text = ""
    certificate_due: Annotated[dt.date, Strict()] | None = Field(None, description="YYYY-MM-DD")
    standard: Name = "IEC 61280-4-1 encircled flux"

    @pydantic.field_validator("kind")
    @classmethod
    def _encircled_flux(cls, kind: str) -> str:
        if kind == "mandrel":
            raise ValueError("a mandrel wrap alone is not an encircled-flux launch; use an EF-compliant test cord "
                             '("ef-cord") or a mode controller ("mode-controller"), IEC 61280-4-1')
        if kind not in LAUNCH_CONDITIONER_KINDS:
            raise ValueError(f"is an unknown kind; use one of {', '.join(LAUNCH_CONDITIONER_KINDS)}")
        return kind

    @pydantic.field_validator("certificate_due", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        return date_from_text(value)

    def conditioner(self) -> LaunchConditioner:
        return LaunchConditioner(self.kind, self.serial.strip(), self.certificate.strip(), self.model,
                                 None if self.certificate_due is None else str(self.certificate_due), self.standard)


def _polish(value: str) -> str:
    if value and value not in POLISHES:
        raise ValueError(f"unknown polish {value!r}; use one of {', '.join(POLISHES)} (or leave it out)")
    return value


Polish = Annotated[str, Strict(), AfterValidator(_polish)]


def fixture_polish(polish: str, polish_a: str | None, polish_b: str | None) -> tuple[str, str]:
    """(end A, end B) polish of the fixture's connectors: `polish` for both, `polish_a`/`polish_b` per end.

    "" (not stated) checks nothing: stations written before polish was a field keep working.
    """
    return (polish if polish_a is None else polish_a, polish if polish_b is None else polish_b)


def connector_polish(connector: str) -> str:
    """The polish a connector name states ("MTP-F-APC" → "APC"), or "" when it states none."""
    suffix = connector.rsplit("-", 1)[-1]
    return suffix if suffix in POLISHES else ""


def _angled(polish: str) -> bool:
    return polish == "APC"  # PC and UPC are both flat physical contact and intermate


def check_recipe_on_station(recipe: Any, station: Any) -> None:
    """Refuse a recipe whose cable the station's fixture cannot test correctly (no instrument is touched)."""
    if recipe.fiber_type == "MM" and station.launch_conditioner is None:
        raise ConfigError(station.source_path, "launch_conditioner",
                          f"recipe '{recipe.name}' is multimode, and multimode insertion loss is comparable only "
                          f"under an encircled-flux launch (IEC 61280-4-1), but the station names no launch "
                          f"conditioner", "add a [launch_conditioner] table (kind, serial, certificate) to the "
                          "station file, or run the recipe on a multimode station")
    if recipe.harness is not None:
        plan_harness(recipe.harness, station.fixture_ports, station.source_path)  # a port for every connector
    for end, connector, fixture_polish in (("a", recipe.connector_a, station.fixture_polish[0]),
                                           ("b", recipe.connector_b, station.fixture_polish[1])):
        polish = connector_polish(connector)
        if not polish and _angled(fixture_polish):
            raise ConfigError(recipe.source, f"cable.connector_{end}",
                              f"{connector!r} does not say its polish and the station's end-{end.upper()} "
                              f"fixture is APC", f"write the polish, e.g. \"{connector}-APC\"")
        if polish and fixture_polish and _angled(polish) != _angled(fixture_polish):
            raise ConfigError(station.source_path, f"fixture.polish_{end}",
                              f"recipe '{recipe.name}' has {polish} connectors at end {end.upper()} ({connector}), "
                              f"the station's fixture is {fixture_polish} there; mating {polish} to "
                              f"{fixture_polish} damages both end faces and reads a false loss",
                              f"run the recipe on a station with {polish} test cords at end {end.upper()}")


def cable_setup(recipe: Any, station: Any) -> dict[str, Any]:
    """What a record says about how the cable met the bench (launch condition, polish at each end)."""
    conditioner = station.launch_conditioner
    return {"launch_conditioner": conditioner.as_dict() if conditioner is not None and recipe.fiber_type == "MM"
            else None,
            "connector_polish": {"a": connector_polish(recipe.connector_a) or "unstated",
                                 "b": connector_polish(recipe.connector_b) or "unstated"},
            "fixture_polish": {"a": station.fixture_polish[0] or "unstated",
                               "b": station.fixture_polish[1] or "unstated"}}


def setup_rows(setup: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Certificate / report rows for a record's `cable_setup` (absent in records before it existed)."""
    if not setup:
        return []
    rows = []
    conditioner = setup.get("launch_conditioner")
    if conditioner:
        rows.append(("Launch condition", f"{conditioner.get('standard', '')}: {conditioner.get('kind', '')} "
                     f"{conditioner.get('serial', '')}, certificate {conditioner.get('certificate', '')}"))
    polish, fixture = setup.get("connector_polish") or {}, setup.get("fixture_polish") or {}
    if polish:
        rows.append(("Polish", f"end A {polish.get('a', '?')}, end B {polish.get('b', '?')} "
                     f"(fixture {fixture.get('a', '?')} / {fixture.get('b', '?')})"))
    return rows + _leg_rows(setup.get("legs") or [])


# Up to this many legs get a row each on a certificate; more are summed up in one row.
LEG_ROWS_MAX = 4


def _leg_rows(legs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    if len(legs) > LEG_ROWS_MAX:
        bad = [f"{leg.get('label')} {leg.get('verdict')} "
               f"{sorted({*leg.get('failing_fibers', ()), *leg.get('miswired_fibers', ())})}"
               for leg in legs if leg.get("verdict") != "PASS"]
        ends = {end: sum(leg.get("end") == end for leg in legs) for end in ("a", "b")}
        return [("Legs", f"{len(legs)} ({ends['a']} at end A, {ends['b']} at end B): "
                 + ("all PASS" if not bad else "not passing " + "; ".join(bad)))]
    rows = []
    for leg in legs:
        fibers = leg.get("fibers") or []
        worst = leg.get("worst_il_db")
        bad = sorted({*leg.get("failing_fibers", ()), *leg.get("miswired_fibers", ())})
        rows.append((f"Leg {leg.get('label')} (end {str(leg.get('end')).upper()})",
                     f"{leg.get('verdict') or '-'}: fibers {_ranges(fibers)} on port {leg.get('port')}"
                     + (f", worst {worst:.3f} dB" if worst is not None else "")
                     + (f", not passing {bad}" if bad else "")))
    return rows


def _ranges(numbers: list[int]) -> str:
    """[5, 6, 7, 8, 17, 18] → "5-8, 17-18"."""
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs) or "-"
