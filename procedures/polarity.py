"""Polarity maps (data from polarity_maps.toml) and classification of a measured cable.

From the launch × receive power matrix: for each launch position the receive
position carrying its light (argmax), checked for isolation against every
other channel, then compared with each template.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class PolarityMaps:
    positions: tuple[int, ...]  # end-A ferrule positions carrying a fiber
    templates: dict[str, tuple[int, ...]]  # polarity → end-B position per entry of `positions`


@cache
def polarity_maps() -> dict[int, PolarityMaps]:
    text = resources.files("procedures").joinpath("polarity_maps.toml").read_text(encoding="utf-8")
    maps = {}
    for key, table in tomllib.loads(text).items():
        table = dict(table)
        positions = tuple(int(p) for p in table.pop("positions"))
        maps[int(key.removeprefix("fibers_"))] = PolarityMaps(
            positions, {name: tuple(int(p) for p in values) for name, values in table.items()})
    return maps


def maps_for(fiber_count: int) -> PolarityMaps:
    maps = polarity_maps()
    if fiber_count not in maps:
        raise ValueError(f"no polarity maps for {fiber_count} fibers; known: {sorted(maps)}")
    return maps[fiber_count]


def fiber_positions(fiber_count: int) -> np.ndarray:
    return np.asarray(maps_for(fiber_count).positions, dtype=np.int64)


def expected_receive_positions(fiber_count: int, polarity: str) -> np.ndarray:
    """End-B ferrule position for each fiber (in `fiber_positions` order) of a `polarity` cable."""
    templates = maps_for(fiber_count).templates
    if polarity not in templates:
        raise ValueError(f"unknown polarity {polarity!r} for {fiber_count} fibers; known: {sorted(templates)}")
    return np.asarray(templates[polarity], dtype=np.int64)


@dataclass(frozen=True)
class PolarityResult:
    polarity_found: str  # a template name ("A", "B", "C", "B-row-keeping") or "miswired"
    receive_position: np.ndarray  # [fiber] → brightest end-B position (0: dark)
    isolation_db: np.ndarray  # [fiber] brightest minus next brightest, dB
    dark_positions: tuple[int, ...]  # end-A positions with no light anywhere
    low_isolation_positions: tuple[int, ...]
    mismatched_positions: tuple[int, ...]  # end-A positions not where the expected polarity puts them

    @property
    def ok(self) -> bool:
        return (self.polarity_found != "miswired" and not self.dark_positions
                and not self.low_isolation_positions)


def classify_polarity(power_dbm: np.ndarray, receive_position_of_channel: np.ndarray, *,
                      fiber_count: int, expected: str | None = None,
                      isolation_threshold_db: float = 20.0, dark_below_dbm: float = -60.0) -> PolarityResult:
    """Classify from `power_dbm[fiber, channel]` (one wavelength).

    `receive_position_of_channel[c]` is the end-B ferrule position detector c sees
    (from the reference), so the templates are compared in ferrule terms.
    """
    maps = maps_for(fiber_count)
    positions = np.asarray(maps.positions)
    power = np.where(np.isnan(power_dbm), -np.inf, power_dbm)
    rows = np.arange(power.shape[0])
    brightest = np.argmax(power, axis=1)
    brightest_dbm = power[rows, brightest]
    others = power.copy()
    others[rows, brightest] = -np.inf
    isolation_db = brightest_dbm - np.max(others, axis=1)
    dark = ~(brightest_dbm >= dark_below_dbm)
    receive_position = np.where(dark, 0, np.asarray(receive_position_of_channel)[brightest])
    low_isolation = ~dark & (isolation_db < isolation_threshold_db)
    found = "miswired"
    if not dark.any():
        for name, template in maps.templates.items():
            if np.array_equal(receive_position, np.asarray(template)):
                found = name
                break
    mismatched: tuple[int, ...] = ()
    if expected is not None:
        template = expected_receive_positions(fiber_count, expected)
        mismatched = tuple(int(p) for p in positions[~dark & (receive_position != template)])
    return PolarityResult(found, receive_position, isolation_db, tuple(int(p) for p in positions[dark]),
                          tuple(int(p) for p in positions[low_isolation]), mismatched)
