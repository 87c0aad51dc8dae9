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


@cache
def polarity_maps() -> dict[int, dict[str, tuple[int, ...]]]:
    text = resources.files("procedures").joinpath("polarity_maps.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return {int(key.removeprefix("fibers_")): {name: tuple(map(int, positions))
                                               for name, positions in table.items()}
            for key, table in data.items()}


def expected_receive_positions(fiber_count: int, polarity: str) -> np.ndarray:
    """1-based end-B position for each end-A fiber position of a `polarity` cable."""
    maps = polarity_maps()
    if fiber_count not in maps:
        raise ValueError(f"no polarity maps for {fiber_count} fibers; known: {sorted(maps)}")
    if polarity not in maps[fiber_count]:
        raise ValueError(f"unknown polarity {polarity!r} for {fiber_count} fibers; "
                         f"known: {sorted(maps[fiber_count])}")
    return np.asarray(maps[fiber_count][polarity], dtype=np.int64)


@dataclass(frozen=True)
class PolarityResult:
    polarity_found: str  # "A", "B", "C", "B-row-keeping" or "miswired"
    receive_position: np.ndarray  # [launch] → 1-based brightest end-B position (0: dark)
    isolation_db: np.ndarray  # [launch] brightest minus next brightest, dB
    dark_positions: tuple[int, ...]
    low_isolation_positions: tuple[int, ...]
    mismatched_positions: tuple[int, ...]  # against the expected polarity, if given

    @property
    def ok(self) -> bool:
        return (self.polarity_found != "miswired" and not self.dark_positions
                and not self.low_isolation_positions)


def classify_polarity(power_dbm: np.ndarray, *, fiber_count: int, expected: str | None = None,
                      isolation_threshold_db: float = 20.0, dark_below_dbm: float = -60.0) -> PolarityResult:
    """Classify from `power_dbm[launch, receive]` (one wavelength)."""
    power = np.where(np.isnan(power_dbm), -np.inf, power_dbm)[:fiber_count, :fiber_count]
    brightest = np.argmax(power, axis=1)
    brightest_dbm = power[np.arange(fiber_count), brightest]
    others = power.copy()
    others[np.arange(fiber_count), brightest] = -np.inf
    isolation_db = brightest_dbm - np.max(others, axis=1) if fiber_count > 1 else np.full(1, np.inf)
    dark = brightest_dbm < dark_below_dbm
    receive_position = np.where(dark, 0, brightest + 1)
    low_isolation = ~dark & (isolation_db < isolation_threshold_db)
    found = "miswired"
    for name, template in polarity_maps().get(fiber_count, {}).items():
        lit = ~dark
        if lit.any() and np.array_equal(receive_position[lit], np.asarray(template)[lit]) and not dark.any():
            found = name
            break
    mismatched: tuple[int, ...] = ()
    if expected is not None:
        template = expected_receive_positions(fiber_count, expected)
        mismatched = tuple(int(p) + 1 for p in np.flatnonzero(~dark & (receive_position != template)))
    return PolarityResult(found, receive_position, isolation_db,
                          tuple(int(p) + 1 for p in np.flatnonzero(dark)),
                          tuple(int(p) + 1 for p in np.flatnonzero(low_isolation)), mismatched)
