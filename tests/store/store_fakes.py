"""Fake cable and reference records for the store tests (numpy random, no bench needed)."""

from __future__ import annotations

import numpy as np

from bench.records import CableRecord, FiberResult, ReferenceRecord

RECIPE = {
    "name": "MPO12-SM-typeB",
    "limits_db": {"1310": 0.35, "1550": 0.35},
    "decision_rule": "guarded",
    "polarity": "B",
    "notes": "snapshot as loaded, with ümlaut",
}
INSTRUMENTS = (
    {"role": "meter", "model": "N7745A", "serial": "MY123", "firmware": "1.2", "calibration_due": "2026-01-31"},
    {"role": "switch", "model": "N7734A", "serial": "MY456", "firmware": "2.0", "calibration_due": "2026-03-31"},
)


def fake_reference(reference_id: str = "REF-1", station: str = "ST1", n: int = 12,
                   wavelengths: tuple[float, ...] = (1310.0, 1550.0), taken_utc: str = "2024-05-01T07:00:00Z",
                   seed: int = 0) -> ReferenceRecord:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(-70.0, 2.0, (len(wavelengths), n, n))
    for w in range(len(wavelengths)):
        matrix[w, np.arange(n), np.arange(n)] = rng.normal(-3.0, 0.05, n)
    return ReferenceRecord(
        reference_id=reference_id, method="1-cord", taken_utc=taken_utc, station_name=station,
        operator="alice", cord_ids=("TC-1", "TC-2"), wavelengths_nm=wavelengths,
        launch_positions=tuple(range(1, n + 1)), receive_channels=tuple(range(1, n + 1)),
        reference_power_dbm=matrix[:, np.arange(n), np.arange(n)].copy(), power_matrix_dbm=matrix,
        instruments=INSTRUMENTS,
    )


def fake_cable(serial: str = "SN0001", lot: str = "LOT-A", attempt: int = 1, n: int = 12,
               wavelengths: tuple[float, ...] = (1310.0, 1550.0), started_utc: str = "2024-05-01T08:00:00Z",
               outcome: str | None = None, reference_id: str = "REF-1", seed: int = 0,
               extra: dict | None = None) -> CableRecord:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(-70.0, 2.0, (len(wavelengths), n, n))
    fibers = []
    for w, wavelength in enumerate(wavelengths):
        ref = rng.normal(-3.0, 0.05, n)
        il = np.clip(np.abs(rng.normal(0.15, 0.05, n)), 0.0, 0.34)
        for p in range(n):
            dut = ref[p] - il[p]
            matrix[w, p, n - 1 - p] = dut
            margin = 0.35 - il[p]
            fibers.append(FiberResult(
                fiber_position=p + 1, wavelength_nm=wavelength, launch_position=p + 1, receive_channel=n - p,
                reference_power_dbm=float(ref[p]), dut_power_dbm=float(dut), insertion_loss_db=float(il[p]),
                limit_db=0.35, margin_db=float(margin), verdict="PASS" if margin >= 0 else "FAIL",
                reason="" if margin >= 0 else f"IL {il[p]:.3f} dB > 0.35 dB",
            ))
    if outcome is None:
        outcome = "PASS" if all(f.verdict == "PASS" for f in fibers) else "FAIL"
    matrix[0, 0, 0] = np.nan  # a dark channel below the meter floor
    return CableRecord(
        serial=serial, lot=lot, attempt=attempt, recipe_name=RECIPE["name"], recipe_snapshot=RECIPE,
        station_name="ST1", operator="bob", software_version="0.1.0", started_utc=started_utc,
        finished_utc=started_utc.replace("00Z", "45Z"), outcome=outcome,
        reason="" if outcome == "PASS" else "fiber over limit", decision_rule="guarded",
        uncertainty_db=0.1, coverage_factor=2.0, reference_id=reference_id, polarity_found="B",
        instruments=INSTRUMENTS, wavelengths_nm=wavelengths, power_matrix_dbm=matrix, fibers=tuple(fibers),
        extra=extra if extra is not None else {"ambient_c": 22.5},
    )
