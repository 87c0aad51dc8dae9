"""Build store-shaped lot tables from a simulated lot (helpers for the lot-statistics tests)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.config.recipe import Recipe
from bench.grading.cable import grade_cable

# Shapes the store hands back (fixed-width strings come back as bytes).
FIBER_DTYPE = np.dtype(
    [
        ("record_index", "<i8"),
        ("serial", "S32"),
        ("lot", "S16"),
        ("fiber_position", "<i4"),
        ("wavelength_nm", "<f8"),
        ("launch_position", "<i4"),
        ("receive_channel", "<i4"),
        ("reference_power_dbm", "<f8"),
        ("dut_power_dbm", "<f8"),
        ("insertion_loss_db", "<f8"),
        ("limit_db", "<f8"),
        ("margin_db", "<f8"),
        ("verdict", "S16"),
        ("reason", "S128"),
    ]
)
CABLE_DTYPE = np.dtype(
    [
        ("record_index", "<i8"),
        ("serial", "S32"),
        ("lot", "S16"),
        ("attempt", "<i4"),
        ("kind", "S32"),
        ("recipe_name", "S64"),
        ("outcome", "S16"),
    ]
)


class LotBuilder:
    """Appends graded cables as store rows, the way the orchestration + store would."""

    def __init__(self, recipe: Recipe, lot: str = "L1") -> None:
        self.recipe = recipe
        self.lot = lot
        self.fiber_rows: list[tuple] = []
        self.cable_rows: list[tuple] = []

    def add(
        self,
        serial: str,
        il_db: np.ndarray,
        *,
        attempt: int = 1,
        outcome: str | None = None,
        kind: str = "insertion_loss",
    ) -> str:
        record_index = len(self.cable_rows)
        wavelengths: Sequence[float] = self.recipe.wavelengths_nm
        verdict = grade_cable(self.recipe, il_db, wavelengths)
        for f in verdict.fibers:
            self.fiber_rows.append(
                (
                    record_index,
                    serial,
                    self.lot,
                    f.fiber_position,
                    f.wavelength_nm,
                    f.fiber_position,
                    f.fiber_position,
                    -3.0,
                    -3.0 - f.insertion_loss_db,
                    f.insertion_loss_db,
                    f.limit_db,
                    f.margin_db,
                    f.verdict,
                    f.reason[:128].encode(),
                )
            )
        final = outcome or verdict.verdict
        self.cable_rows.append((record_index, serial, self.lot, attempt, kind, self.recipe.name, final))
        return final

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.array(self.fiber_rows, dtype=FIBER_DTYPE), np.array(self.cable_rows, dtype=CABLE_DTYPE))


def simulate_lot(
    recipe: Recipe,
    n_cables: int,
    mean_db: Sequence[float],
    sigma_db: Sequence[float],
    seed: int = 20240611,
    lot: str = "L1",
) -> LotBuilder:
    """n_cables cables whose IL at wavelength i is drawn from N(mean_db[i], sigma_db[i])."""
    rng = np.random.default_rng(seed)
    builder = LotBuilder(recipe, lot)
    shape = (recipe.fiber_count,)
    for k in range(n_cables):
        il = np.stack([rng.normal(m, s, size=shape) for m, s in zip(mean_db, sigma_db, strict=True)])
        builder.add(f"MTP12-{k:06d}", il)
    return builder
