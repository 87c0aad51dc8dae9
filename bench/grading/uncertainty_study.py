"""A stored repeatability study (bench.run.studies) as a contribution to the uncertainty budget.

The study's summary record holds σ per [wavelength][fiber] over N matings. The pooled σ is
their RMS over every fiber and wavelength with a finite σ (each has the same number of
matings, so the RMS is the pooled standard deviation). As `reference_repeatability` it is
used as is; as `connector_repeatability` (per mated connection) it is divided by
√(connections of the study's recipe), since each re-mating re-made that many connections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import ConfigError
from bench.store import load_results

REPEATABILITY_SUMMARY = "repeatability_summary"  # the kind bench.run.studies stores
AS_NAMES = ("connector_repeatability", "reference_repeatability")


@dataclass(frozen=True)
class PooledRepeatability:
    study_id: str
    serial: str
    matings: int
    n_sigmas: int  # fiber × wavelength cells pooled
    pooled_sigma_db: float  # RMS of σ over fibers and wavelengths
    connections: int  # mated connections of the study's recipe
    date: str  # when the study finished (UTC date)

    @property
    def readings(self) -> int:
        return self.matings * self.n_sigmas

    def value_db(self, name: str) -> float:
        """u of `name`: the pooled σ, per connection for connector_repeatability."""
        if name == "connector_repeatability":
            return self.pooled_sigma_db / math.sqrt(self.connections) if self.connections else self.pooled_sigma_db
        return self.pooled_sigma_db

    def basis(self, name: str) -> str:
        per = (f", per connection (÷√{self.connections})"
               if name == "connector_repeatability" and self.connections > 1 else "")
        return (f"bench repeatability study {self.study_id}: {self.matings} matings, pooled σ over "
                f"{self.readings} readings ({self.n_sigmas} fiber×wavelength σ, RMS){per}, {self.date}")

    def toml_line(self, name: str = "connector_repeatability") -> str:
        return (f'{name} = {{ value_db = {self.value_db(name):.4f}, distribution = "normal", '
                f'basis = "{self.basis(name)}" }}')


def pooled_repeatability(store_path: str | Path, study_id: str) -> PooledRepeatability:
    """The pooled σ of the stored repeatability study `study_id` (ConfigError if there is none)."""
    results = load_results(store_path)
    rows = results.cables
    for kind, index in zip(rows["kind"], rows["record_index"], strict=True):
        if str(kind.decode() if isinstance(kind, bytes) else kind) != REPEATABILITY_SUMMARY:
            continue
        extra = results.extra(int(index))
        if extra.get("study_id") != study_id:
            continue
        sigma = np.asarray(extra["sigma_db"], dtype=float)
        finite = sigma[np.isfinite(sigma)]
        if finite.size == 0:
            raise ConfigError(str(store_path), "--study", f"study {study_id} has no finite σ (no light on any "
                              "fiber)", "run the study again on a cable that passes light")
        record = results.cable_record(int(index))
        connections = int(results.recipe_snapshot(int(index)).get("limits", {}).get("connections", 2))
        return PooledRepeatability(study_id, record.serial, int(extra["matings"]), int(finite.size),
                                   float(np.sqrt(np.mean(finite ** 2))), connections, record.finished_utc[:10])
    raise ConfigError(str(store_path), "--study", f"no repeatability study {study_id!r} in the store",
                      "give the study_id a repeatability study stored (bench query shows kind "
                      "repeatability_summary records)")
