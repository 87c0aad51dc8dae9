"""Polarity maps (data from polarity_maps.toml) and classification of a measured cable.

From the launch × receive power matrix: for each launch position the receive
position carrying its light (argmax), checked for isolation against every
other channel, then compared with each template.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

# What a recipe's `[limits] min_isolation_db` defaults to (bench.config.recipe_schema, where the
# figure is justified; docs/grading.md): light in another position within this many dB of a
# fiber's own light is a leak.
DEFAULT_MIN_ISOLATION_DB = 40.0


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
    """What the launch × receive matrix says about a cable's wiring.

    `polarity_found` is a template name when every lit fiber arrives where that
    template puts it (dark fibers are reported separately, they are opens, not
    wiring), otherwise "miswired". The fault lists are in end-A ferrule positions
    and are named against `compared_with`: the expected polarity when given,
    else the template the cable resembles most.
    """

    polarity_found: str  # a template name ("A", "B", "C", "B-row-keeping") or "miswired"
    receive_position: np.ndarray  # [fiber] → brightest end-B position (0: dark)
    isolation_db: np.ndarray  # [fiber] brightest minus next brightest, dB (inf when nothing else is lit)
    dark_positions: tuple[int, ...]  # end-A positions with no light anywhere
    low_isolation_positions: tuple[int, ...]
    mismatched_positions: tuple[int, ...]  # end-A positions not where the expected polarity puts them
    compared_with: str = ""  # template the faults below are named against
    crossed_pairs: tuple[tuple[int, int], ...] = ()  # two fibers swapped with each other
    misrouted: tuple[tuple[int, int], ...] = ()  # (end-A position, end-B position found) not a clean swap
    leaks: tuple[tuple[int, int, float], ...] = ()  # (end-A position, end-B position leaked into, dB below)
    isolation_threshold_db: float = DEFAULT_MIN_ISOLATION_DB
    # end-A position → (end-B position its light arrived at, the one the expected polarity puts it at)
    light_went_to: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.polarity_found != "miswired" and not self.dark_positions
                and not self.low_isolation_positions)

    @property
    def isolation_margin_db(self) -> float:
        """Worst lit fiber's isolation minus the threshold (negative: a leak); NaN if nothing is lit."""
        lit = self.isolation_db[self.receive_position > 0]
        return float(np.min(lit) - self.isolation_threshold_db) if lit.size else float("nan")

    def describe(self) -> str:
        """One sentence for a record's reason."""
        parts = [f"polarity {self.polarity_found}"
                 + (f" (compared with {self.compared_with})" if self.polarity_found == "miswired"
                    and self.compared_with else "")]
        if self.crossed_pairs:
            parts.append("crossed " + ", ".join(f"{a}<->{b}" for a, b in self.crossed_pairs))
        if self.misrouted:
            parts.append("misrouted " + ", ".join(f"{a}->{b}" for a, b in self.misrouted))
        if self.dark_positions:
            parts.append(f"dark {list(self.dark_positions)}")
        if self.leaks:
            parts.append("leaking " + ", ".join(f"{a}->{b} ({level:.1f} dB below)" for a, b, level in self.leaks))
        margin = self.isolation_margin_db
        if not np.isnan(margin):
            parts.append(f"isolation margin {margin:+.1f} dB over the {self.isolation_threshold_db:g} dB minimum"
                         " (limits.min_isolation_db)")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, object]:
        """JSON-able summary for a record's `extra`."""
        margin = self.isolation_margin_db
        return {"polarity_found": self.polarity_found, "compared_with": self.compared_with,
                "receive_position": [int(p) for p in self.receive_position],
                "isolation_db": [None if not np.isfinite(v) else round(float(v), 3) for v in self.isolation_db],
                "isolation_threshold_db": self.isolation_threshold_db,
                "isolation_margin_db": None if np.isnan(margin) else round(margin, 3),
                "dark_positions": list(self.dark_positions),
                "crossed_pairs": [list(p) for p in self.crossed_pairs],
                "misrouted": [list(p) for p in self.misrouted],
                "leaks": [[a, b, round(level, 2)] for a, b, level in self.leaks],
                "low_isolation_positions": list(self.low_isolation_positions)}


def _faults_against(positions: np.ndarray, receive_position: np.ndarray, template: np.ndarray
                    ) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Crossed pairs (a and b arrive at each other's place) and the other misroutes."""
    wrong = [i for i in range(positions.size) if receive_position[i] and receive_position[i] != template[i]]
    crossed: list[tuple[int, int]] = []
    paired: set[int] = set()
    for i in wrong:
        for j in wrong:
            if j > i and i not in paired and j not in paired \
                    and receive_position[i] == template[j] and receive_position[j] == template[i]:
                crossed.append((int(positions[i]), int(positions[j])))
                paired.update((i, j))
    misrouted = tuple((int(positions[i]), int(receive_position[i])) for i in wrong if i not in paired)
    return tuple(crossed), misrouted


def classify_polarity(power_dbm: np.ndarray, receive_position_of_channel: np.ndarray, *,
                      fiber_count: int, expected: str | None = None,
                      isolation_threshold_db: float = DEFAULT_MIN_ISOLATION_DB,
                      dark_below_dbm: float = -60.0) -> PolarityResult:
    """Classify from `power_dbm[fiber, channel]` (one wavelength).

    `receive_position_of_channel[c]` is the end-B ferrule position detector c sees
    (from the reference; 0 for a detector on no position), so the templates are
    compared in ferrule terms. Leaks are channels lit within
    `isolation_threshold_db` of a fiber's own light (the recipe's `min_isolation_db`) and
    at or above `dark_below_dbm`: a reading under the dark threshold is the meter's floor,
    not light, so a threshold deeper than the floor cannot fail a sound cable.
    """
    maps = maps_for(fiber_count)
    return classify_wiring(power_dbm, receive_position_of_channel, positions=maps.positions,
                           templates=maps.templates, expected=expected,
                           isolation_threshold_db=isolation_threshold_db, dark_below_dbm=dark_below_dbm)


def classify_wiring(power_dbm: np.ndarray, receive_position_of_channel: np.ndarray, *,
                    positions: tuple[int, ...], templates: dict[str, tuple[int, ...]], expected: str | None = None,
                    isolation_threshold_db: float = DEFAULT_MIN_ISOLATION_DB,
                    dark_below_dbm: float = -60.0) -> PolarityResult:
    """Classify against explicit templates: `positions` name the fibers (rows of `power_dbm`) in the
    result, each template gives the receive position of every fiber. A harness's fiber map is one."""
    positions = np.asarray(positions)
    channel_position = np.asarray(receive_position_of_channel)
    power = np.where(np.isnan(power_dbm), -np.inf, power_dbm)
    power = np.where(channel_position[None, :] > 0, power, -np.inf)  # detectors off the fixture see nothing
    rows = np.arange(power.shape[0])
    brightest = np.argmax(power, axis=1)
    brightest_dbm = power[rows, brightest]
    others = power.copy()
    others[rows, brightest] = -np.inf
    with np.errstate(invalid="ignore"):
        isolation_db = brightest_dbm - np.max(others, axis=1)
    dark = ~(brightest_dbm >= dark_below_dbm)
    isolation_db = np.where(dark, np.nan, isolation_db)
    receive_position = np.where(dark, 0, channel_position[brightest])
    measurable = np.where(others >= dark_below_dbm, others, -np.inf)
    low_isolation = ~dark & (isolation_db < isolation_threshold_db) & np.isfinite(np.max(measurable, axis=1))
    leaks = []
    for i in np.flatnonzero(low_isolation):
        for channel in np.flatnonzero(measurable[i] > brightest_dbm[i] - isolation_threshold_db):
            leaks.append((int(positions[i]), int(channel_position[channel]),
                          float(brightest_dbm[i] - others[i, channel])))
    templates = {name: np.asarray(t) for name, t in templates.items()}
    lit = ~dark
    found = "miswired"
    if lit.any():
        order = sorted(templates, key=lambda name: name != expected)  # the expected one wins a tie
        found = next((name for name in order
                      if np.array_equal(receive_position[lit], templates[name][lit])), "miswired")
    compared_with = expected if expected is not None else (
        found if found != "miswired"
        else max(templates, key=lambda name: int(np.sum(receive_position == templates[name]))))
    crossed, misrouted = _faults_against(positions, receive_position, templates[compared_with])
    mismatched: tuple[int, ...] = ()
    went_to: dict[int, tuple[int, int]] = {}
    if expected is not None:
        template = templates[expected]
        wrong = ~dark & (receive_position != template)
        mismatched = tuple(int(p) for p in positions[wrong])
        went_to = {int(positions[i]): (int(receive_position[i]), int(template[i])) for i in np.flatnonzero(wrong)}
    return PolarityResult(found, receive_position, isolation_db, tuple(int(p) for p in positions[dark]),
                          tuple(int(p) for p in positions[low_isolation]), mismatched, compared_with,
                          crossed, misrouted, tuple(leaks), isolation_threshold_db, went_to)
