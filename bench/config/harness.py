"""Harnesses: cables with several connectors at an end, and the fixture ports they plug into.

Recipe side (`cable_type = "harness"`): `[[cable.end_a]]` and `[[cable.end_b]]` list each end's
connectors (label, connector, fibers), `[cable.fiber_map]` says where every fiber goes
(`"P1:3" = "L1:3"`: end-A connector P1 position 3 arrives at end-B connector L1 position 3)
and cites the drawing it comes from. Harness fibers are numbered 1..N in end-A order (connector
by connector, ferrule position by position); verdicts and records name those numbers.

Station side (`[fixture] ports`): named fixture ports, each a run of launch positions (end A)
or receive positions (end B): `{ label = "A1", end = "a", kind = "MPO-24", first = 1 }`.
`plan_harness` binds every harness connector to a free port of its kind, so the operator can be
told which connector goes where and the session knows each fiber's launch and receive position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from bench.config.schema import Name, count, section
from bench.errors import ConfigError

# Fixture port kinds: how many fixture positions a port spans, and which ferrule positions of
# the connector plugged into it carry a fiber (an MPO-8 uses 1-4 and 9-12 of a 12 ferrule).
PORT_POSITIONS = {"MPO-12": 12, "MPO-24": 24, "LC-duplex": 2}
CONNECTOR_POSITIONS = {("MPO-12", 8): (1, 2, 3, 4, 9, 10, 11, 12), ("MPO-12", 12): tuple(range(1, 13)),
                       ("MPO-24", 24): tuple(range(1, 25)), ("LC-duplex", 2): (1, 2)}
_ARRAY = re.compile(r"^(MTP|MPO)-(F|M)(-(APC|UPC|PC))?$")
_DUPLEX = re.compile(r"^LC(-(APC|UPC|PC))?$")
_FIBER = re.compile(r"^([A-Za-z0-9_-]+):([0-9]+)$")


@section
class HarnessConnector:
    """One `[[cable.end_a]]` / `[[cable.end_b]]` entry."""

    label: Name
    connector: Name = Field(description='"MTP-F", "MPO-M-APC" (arrays) or "LC-UPC" (duplex legs)')
    fibers: int = count(1, 24, "fibers the connector carries: 8, 12 or 24 (MPO/MTP), 2 (LC duplex)")

    @property
    def port_kind(self) -> str:
        if _DUPLEX.match(self.connector):
            return "LC-duplex"
        return "MPO-24" if self.fibers == 24 else "MPO-12"

    @property
    def positions(self) -> tuple[int, ...]:
        return CONNECTOR_POSITIONS[(self.port_kind, self.fibers)]


@dataclass(frozen=True)
class HarnessFiber:
    number: int  # 1..N in end-A order
    connector_a: str
    position_a: int
    connector_b: str
    position_b: int

    def describe(self) -> str:
        return f"{self.connector_a}:{self.position_a}->{self.connector_b}:{self.position_b}"


@section
class FiberMap:
    """`[cable.fiber_map]`: the drawing it comes from, and where every end-A fiber arrives at end B."""

    source: Name = Field(description="the drawing the map is copied from")
    map: dict[Name, Name] = Field(description='"<end-A connector>:<position>" = "<end-B connector>:<position>"')


@dataclass(frozen=True)
class Harness:
    end_a: tuple[HarnessConnector, ...]
    end_b: tuple[HarnessConnector, ...]
    fibers: tuple[HarnessFiber, ...]
    map_source: str

    def legs(self) -> tuple[tuple[str, HarnessConnector, tuple[int, ...]], ...]:
        """(end, connector, harness fiber numbers) for every connector at both ends."""
        rows = []
        for end, connectors, key in (("a", self.end_a, "connector_a"), ("b", self.end_b, "connector_b")):
            for connector in connectors:
                rows.append((end, connector, tuple(f.number for f in self.fibers
                                                   if getattr(f, key) == connector.label)))
        return tuple(rows)

    def as_dict(self) -> dict[str, Any]:
        return {"end_a": [c.__dict__ for c in self.end_a], "end_b": [c.__dict__ for c in self.end_b],
                "fiber_map": {f"{f.connector_a}:{f.position_a}": f"{f.connector_b}:{f.position_b}"
                              for f in self.fibers}, "map_source": self.map_source}


def _connectors(connectors: Sequence[HarnessConnector] | None, end: str, source: str
                ) -> tuple[HarnessConnector, ...]:
    key = f"end_{end}"
    if not connectors:
        raise ConfigError(source, f"cable.{key}", "a harness needs its connectors listed",
                          f"add [[cable.{key}]] tables with label, connector and fibers")
    for index, connector in enumerate(connectors):
        if not (_ARRAY.match(connector.connector) or _DUPLEX.match(connector.connector)):
            raise ConfigError(source, f"cable.{key}[{index}].connector", f"unknown connector {connector.connector!r}",
                              'use "MTP-F", "MPO-M-APC" (arrays) or "LC-UPC" (duplex legs)')
        if (connector.port_kind, connector.fibers) not in CONNECTOR_POSITIONS:
            raise ConfigError(source, f"cable.{key}[{index}].fibers",
                              f"{connector.fibers} fibers in a {connector.connector}",
                              "MPO/MTP connectors carry 8, 12 or 24 fibers, an LC duplex 2")
    labels = [c.label for c in connectors]
    if len(set(labels)) != len(labels):
        raise ConfigError(source, f"cable.{key}", "a connector label is used twice",
                          "give every connector its own label")
    return tuple(connectors)


def _endpoint(text: str, connectors: Mapping[str, HarnessConnector], source: str, field: str) -> tuple[str, int]:
    match = _FIBER.match(text)
    if match is None or match.group(1) not in connectors:
        raise ConfigError(source, field, f"{text!r} is not '<connector label>:<position>'",
                          f"use one of the connectors {', '.join(connectors)}, e.g. \"{next(iter(connectors))}:1\"")
    label, position = match.group(1), int(match.group(2))
    if position not in connectors[label].positions:
        raise ConfigError(source, field, f"position {position} carries no fiber in {label}",
                          f"use one of {', '.join(map(str, connectors[label].positions))}")
    return label, position


def parse_harness(cable: Any, source: str) -> Harness:
    """The harness of a validated `[cable]` section (its end_a, end_b, fiber_map and fiber_count)."""
    end_a, end_b = _connectors(cable.end_a, "a", source), _connectors(cable.end_b, "b", source)
    fiber_count = cable.fiber_count
    if cable.fiber_map is None:
        raise ConfigError(source, "cable.fiber_map", "a harness needs its fiber map",
                          'add [cable.fiber_map] with source = "<drawing>" and map = { "P1:1" = "L1:1", ... }')
    map_source, raw = cable.fiber_map.source, cable.fiber_map.map
    by_a, by_b = {c.label: c for c in end_a}, {c.label: c for c in end_b}
    pairs = []
    for key, value in raw.items():
        where = f"cable.fiber_map.map.{key}"
        pairs.append((_endpoint(key, by_a, source, where), _endpoint(str(value), by_b, source, where)))
    seen_b: dict[tuple[str, int], tuple[str, int]] = {}
    for a, b in pairs:
        if b in seen_b:
            raise ConfigError(source, f"cable.fiber_map.map.{a[0]}:{a[1]}",
                              f"{b[0]}:{b[1]} already receives {seen_b[b][0]}:{seen_b[b][1]}",
                              "every end-B position takes one fiber")
        seen_b[b] = a
    expected = {(c.label, p) for c in end_a for p in c.positions}
    missing = sorted(expected - {a for a, _ in pairs})
    if missing or len(pairs) != fiber_count:
        raise ConfigError(source, "cable.fiber_map.map", f"{len(pairs)} fibers mapped, the cable has {fiber_count}"
                          + (f"; unmapped: {', '.join(f'{c}:{p}' for c, p in missing[:4])}" if missing else ""),
                          "map every fiber of every end-A connector once, and make fiber_count their number")
    order = {(c.label, p): i for i, (c, p) in enumerate((c, p) for c in end_a for p in c.positions)}
    pairs.sort(key=lambda pair: order[pair[0]])
    fibers = tuple(HarnessFiber(n, a[0], a[1], b[0], b[1]) for n, (a, b) in enumerate(pairs, start=1))
    _check_same_polish(end_a, "a", source)
    _check_same_polish(end_b, "b", source)
    return Harness(end_a, end_b, fibers, map_source)


def _check_same_polish(connectors: Sequence[HarnessConnector], end: str, source: str) -> None:
    polishes = {c.connector.rsplit("-", 1)[-1] if c.connector.endswith(("APC", "UPC", "-PC")) else ""
                for c in connectors}
    if len(polishes) > 1:
        raise ConfigError(source, f"cable.end_{end}", f"end {end.upper()} mixes polishes {sorted(polishes)}",
                          "a fixture end has one polish: test such a harness on two stations, or fix the recipe")


# -------------------------------------------------------------------------- fixture ports


@section
class FixturePort:
    """One `[fixture] ports` entry."""

    label: Name
    end: Literal["a", "b"] = Field(description='"a": launch positions, "b": receive positions')
    kind: Literal["MPO-12", "MPO-24", "LC-duplex"] = Field(description="how many fixture positions it spans")
    first: int = count(1, 1024, "first fixture position it spans")

    def position(self, ferrule_position: int) -> int:
        return self.first + ferrule_position - 1


def check_fixture_ports(ports: tuple[FixturePort, ...], source: str, launch_count: int, receive_count: int
                        ) -> tuple[FixturePort, ...]:
    """The fixture's ports, each inside the fixture and none sharing a position with another."""
    for index, port in enumerate(ports):
        where = f"fixture.ports[{index}]"
        at_end = launch_count if port.end == "a" else receive_count
        if port.first < 1 or port.first + PORT_POSITIONS[port.kind] - 1 > at_end:
            raise ConfigError(source, f"{where}.first", f"positions {port.first}-"
                              f"{port.first + PORT_POSITIONS[port.kind] - 1} exceed the fixture's {at_end}",
                              "start the port inside the fixture's launch_ports / receive_channels")
    for end in ("a", "b"):
        taken: dict[int, str] = {}
        for port in (p for p in ports if p.end == end):
            for position in range(port.first, port.first + PORT_POSITIONS[port.kind]):
                if position in taken:
                    raise ConfigError(source, "fixture.ports", f"ports {taken[position]} and {port.label} share "
                                      f"end-{end.upper()} position {position}", "give each port its own positions")
                taken[position] = port.label
    return tuple(ports)


@dataclass(frozen=True)
class HarnessPlan:
    """Where each harness connector plugs in, and each fiber's launch and expected receive position."""

    binding: tuple[tuple[HarnessConnector, FixturePort], ...]
    launch_positions: tuple[int, ...]  # [fiber] fixture launch position
    receive_positions: tuple[int, ...]  # [fiber] fixture receive position the map expects

    def instructions(self) -> list[str]:
        return [f"connect end-{port.end.upper()} connector {connector.label} ({connector.connector}, "
                f"{connector.fibers} fibers) to fixture port {port.label}" for connector, port in self.binding]

    def port_of(self, label: str) -> FixturePort:
        return next(port for connector, port in self.binding if connector.label == label)


def plan_harness(harness: Harness, ports: Sequence[FixturePort], source: str) -> HarnessPlan:
    """Bind connectors to ports in order (first free port of the kind at that end)."""
    free = list(ports)
    binding = []
    for end, connectors in (("a", harness.end_a), ("b", harness.end_b)):
        for connector in connectors:
            port = next((p for p in free if p.end == end and p.kind == connector.port_kind), None)
            if port is None:
                raise ConfigError(source, "fixture.ports", f"no free end-{end.upper()} {connector.port_kind} port "
                                  f"for harness connector {connector.label}",
                                  f"add a {{ end = \"{end}\", kind = \"{connector.port_kind}\" }} port to the fixture, "
                                  "or run the recipe on a harness station")
            free.remove(port)
            binding.append((connector, port))
    by_label = {connector.label: port for connector, port in binding}
    launch = tuple(by_label[f.connector_a].position(f.position_a) for f in harness.fibers)
    receive = tuple(by_label[f.connector_b].position(f.position_b) for f in harness.fibers)
    return HarnessPlan(tuple(binding), launch, receive)
