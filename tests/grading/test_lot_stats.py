"""Lot statistics: recovery of a known distribution, yield rules, Cpk, IEC 61753-1 grades."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from lot_sim import LotBuilder, simulate_lot

from bench.errors import ConfigError
from bench.grading.lot_stats import iec_grade, load_grade_tables, lot_statistics

# Quantiles without scipy (it is not a dependency):
#  * normal: z(0.995) = 2.5758293035489 (tabulated constant);
#  * Student t: Cornish-Fisher expansion in 1/ν, error < 1e-4 for ν > 30;
#  * chi-square: Wilson-Hilferty, χ²_p(ν) ≈ ν (1 − 2/(9ν) + z_p √(2/(9ν)))³, relative error
#    well below 1e-3 for ν in the hundreds, far smaller than the width of the intervals tested.
Z_995 = 2.5758293035489


def t_quantile(z: float, nu: int) -> float:
    return z + (z**3 + z) / (4 * nu) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)


def chi2_quantile(z: float, nu: int) -> float:
    a = 2.0 / (9.0 * nu)
    return nu * (1.0 - a + z * math.sqrt(a)) ** 3


def mean_interval_99(mean: float, std: float, n: int) -> tuple[float, float]:
    half = t_quantile(Z_995, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


def sigma_interval_99(std: float, n: int) -> tuple[float, float]:
    nu = n - 1
    return std * math.sqrt(nu / chi2_quantile(Z_995, nu)), std * math.sqrt(nu / chi2_quantile(-Z_995, nu))


def test_quantile_approximations_match_tabulated_values():
    assert t_quantile(Z_995, 60) == pytest.approx(2.660, abs=2e-3)
    assert chi2_quantile(Z_995, 100) == pytest.approx(140.169, rel=2e-3)
    assert chi2_quantile(-Z_995, 100) == pytest.approx(67.328, rel=2e-3)


TRUE_MEAN_DB = (0.30, 0.20)
TRUE_SIGMA_DB = (0.08, 0.06)


@pytest.fixture(scope="module")
def simulated(request):
    from pathlib import Path

    from bench.config.recipe import load_recipe
    from bench.config.station import load_station
    from bench.grading.uncertainty import with_budget

    examples = Path(__file__).resolve().parents[2] / "bench" / "examples"
    recipe = with_budget(load_station(examples / "station_demo.toml"), load_recipe(examples / "recipe_demo.toml"))
    builder = simulate_lot(recipe, 150, TRUE_MEAN_DB, TRUE_SIGMA_DB)
    fibers, cables = builder.tables()
    return recipe, fibers, cables, lot_statistics(fibers, cables, lot="L1")


def test_lot_statistics_recover_the_true_mean_and_sigma_per_wavelength(simulated):
    _, _, _, stats = simulated
    assert [s.wavelength_nm for s in stats.per_wavelength] == [1310.0, 1550.0]
    for overall, mu, sigma in zip(stats.per_wavelength, TRUE_MEAN_DB, TRUE_SIGMA_DB, strict=True):
        assert overall.n == 150 * 12
        low, high = mean_interval_99(overall.mean_db, overall.std_db, overall.n)
        assert low <= mu <= high
        low, high = sigma_interval_99(overall.std_db, overall.n)
        assert low <= sigma <= high


def test_per_position_intervals_cover_the_truth_at_about_their_confidence(simulated):
    _, _, _, stats = simulated
    covered = []
    for cell in stats.per_position:
        mu, sigma = dict(zip((1310.0, 1550.0), zip(TRUE_MEAN_DB, TRUE_SIGMA_DB, strict=True), strict=True))[
            cell.wavelength_nm
        ]
        assert cell.n == 150
        m_low, m_high = mean_interval_99(cell.mean_db, cell.std_db, cell.n)
        s_low, s_high = sigma_interval_99(cell.std_db, cell.n)
        covered += [m_low <= mu <= m_high, s_low <= sigma <= s_high]
    assert len(covered) == 2 * 24
    # 48 intervals at 99 %: expect ~0.5 misses; 3 or more happens with probability < 2 %.
    assert sum(not c for c in covered) <= 2


def test_percentiles_max_cpk_and_yield_of_the_simulated_lot(simulated):
    _, fibers, _, stats = simulated
    il_1310 = fibers["insertion_loss_db"][fibers["wavelength_nm"] == 1310.0]
    overall = stats.per_wavelength[0]
    assert overall.max_db == pytest.approx(il_1310.max())
    assert overall.p97_db == pytest.approx(np.percentile(il_1310, 97))
    assert overall.p50_db <= overall.p95_db <= overall.p97_db <= overall.max_db
    assert overall.limit_db == pytest.approx(0.75)
    assert overall.cpk == pytest.approx((0.75 - il_1310.mean()) / (3 * il_1310.std(ddof=1)))
    # true Cpk = (0.75 - 0.30) / (3 × 0.08) = 1.875
    assert overall.cpk == pytest.approx(1.875, rel=0.1)
    # fraction above 0.75 dB at 1310 nm is ~1.0e-8 per fiber: every cable passes
    assert stats.n_cables == 150 and stats.yield_fraction == 1.0 and stats.outcomes["PASS"] == 150


def test_simulated_lot_grade(simulated):
    _, _, _, stats = simulated
    # Whole IL charged to one connection. 1310 nm: mean 0.30 > 0.25 -> D;
    # 1550 nm: mean 0.20, p97 ≈ 0.20 + 1.88 × 0.06 = 0.31 -> C. The worse governs.
    assert stats.grade_by_wavelength == {1310.0: "D", 1550.0: "C"}
    assert stats.grade == "D"
    halved = lot_statistics(*simulated[1:3], connections=2)
    # Per connection: 1310 nm mean 0.15 > 0.12 -> C; 1550 nm mean 0.10, p97 ≈ 0.16 -> B.
    assert halved.grade_by_wavelength == {1310.0: "C", 1550.0: "B"}
    assert halved.grade_connections == 2
    assert halved.grade == "C"


def test_retests_count_once_and_errors_are_left_out(demo_recipe):
    builder = LotBuilder(demo_recipe)
    good = np.full((2, 12), 0.30)
    bad = good.copy()
    bad[0, 4] = 0.95
    builder.add("MTP12-000001", bad)  # FAIL, then reworked and passes
    builder.add("MTP12-000001", good + 0.1, attempt=2)
    builder.add("MTP12-000002", good)  # PASS first time
    broken_reference = good.copy()
    broken_reference[1, 1] = -0.4
    builder.add("MTP12-000003", broken_reference)  # ERROR: only record of this cable
    dark = good.copy()
    dark[1, 2] = np.nan
    builder.add("MTP12-000004", dark)  # FAIL, open fiber
    builder.add("MTP12-000005", good, outcome="ABORTED")
    builder.add("MTP12-000002", good + 5.0, kind="durability")  # not an IL test: ignored
    stats = lot_statistics(*builder.tables())

    assert stats.n_cables == 5
    assert stats.outcomes == {"PASS": 2, "CONDITIONAL": 0, "FAIL": 1, "ERROR": 1, "ABORTED": 1}
    assert stats.yield_fraction == pytest.approx(2 / 5)
    assert stats.first_pass_yield == pytest.approx(1 / 5)
    at_1550 = stats.per_wavelength[1]
    # serial 1 (attempt 2), serial 2 and serial 4 -> 3 cables × 12 readings, one of them dark
    assert at_1550.n == 35 and at_1550.n_no_light == 1
    assert at_1550.n_not_pass == 1
    assert at_1550.max_db == pytest.approx(0.40)
    position_3 = next(s for s in stats.per_position if s.wavelength_nm == 1550.0 and s.fiber_position == 3)
    assert (position_3.n, position_3.n_no_light) == (2, 1)


def test_statistics_without_cable_table_use_every_row(simulated):
    _, fibers, _, _ = simulated
    stats = lot_statistics(fibers)
    assert stats.per_wavelength[0].n == fibers.size // 2
    assert stats.yield_fraction is None


def test_empty_lot_is_not_an_error():
    stats = lot_statistics(
        np.zeros(
            0,
            dtype=[
                ("fiber_position", "<i4"),
                ("wavelength_nm", "<f8"),
                ("insertion_loss_db", "<f8"),
                ("record_index", "<i8"),
            ],
        )
    )
    assert stats.per_wavelength == () and stats.grade is None
    assert "Lot" in stats.format_table()


def test_cpk_is_undefined_without_spread():
    fibers = np.array(
        [(0, 1, 1310.0, 0.3, 0.75, b"PASS"), (0, 1, 1310.0, 0.3, 0.75, b"PASS")],
        dtype=[
            ("record_index", "<i8"),
            ("fiber_position", "<i4"),
            ("wavelength_nm", "<f8"),
            ("insertion_loss_db", "<f8"),
            ("limit_db", "<f8"),
            ("verdict", "S16"),
        ],
    )
    assert lot_statistics(fibers).per_wavelength[0].cpk is None


def test_to_dict_is_json_and_table_names_grade(simulated):
    _, _, _, stats = simulated
    data = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert data["iec_61753_1"]["grade"] == "D"
    assert data["yield"] == 1.0
    assert len(data["per_position"]) == 24
    text = stats.format_table()
    assert "Lot L1" in text and "IEC 61753-1 grade (SM, IL / 1 connection(s)): D" in text
    assert "Yield: 100.0 %" in text


# ---------------------------------------------------------------- grade table


@pytest.mark.parametrize(
    ("mean_db", "p97_db", "expected"),
    [
        (0.07, 0.15, "A"),  # both exactly on grade A
        (0.0701, 0.10, "B"),
        (0.05, 0.16, "B"),  # the 97 % value alone decides
        (0.12, 0.25, "B"),
        (0.25, 0.50, "C"),
        (0.50, 1.00, "D"),
        (0.51, 0.90, None),
        (0.40, 1.01, None),
        (math.nan, 0.1, None),
    ],
)
def test_iec_grade_boundaries(mean_db, p97_db, expected):
    assert iec_grade(mean_db, p97_db) == expected


def test_grade_table_is_data_and_multimode_has_none():
    tables = load_grade_tables()
    assert [g.grade for g in tables["SM"].grades] == ["A", "B", "C", "D"]
    assert iec_grade(0.01, 0.02, fiber_type="MM") is None


def test_worst_wavelength_governs_the_lot_grade(demo_recipe):
    builder = LotBuilder(demo_recipe)
    rng = np.random.default_rng(7)
    for k in range(40):
        il = np.stack([rng.normal(0.05, 0.02, 12), rng.normal(0.20, 0.05, 12)])
        builder.add(f"MTP12-{k:06d}", il)
    stats = lot_statistics(*builder.tables())
    assert stats.grade_by_wavelength[1310.0] == "A"
    assert stats.grade_by_wavelength[1550.0] == "C"
    assert stats.grade == "C"


def test_unordered_grade_table_is_refused(tmp_path):
    path = tmp_path / "grades.toml"
    path.write_text(
        '[SM]\n[[SM.grades]]\ngrade = "B"\nmean_db = 0.12\np97_db = 0.25\n'
        '[[SM.grades]]\ngrade = "A"\nmean_db = 0.07\np97_db = 0.15\n'
    )
    with pytest.raises(ConfigError, match="best first") as refused:
        load_grade_tables(path)
    assert refused.value.source == str(path) and refused.value.field == "SM.grades[1]"
    path.write_text('[SM]\n[[SM.grades]]\ngrade = "A"\nmean_db = nan\np97_db = 0.15\n')
    with pytest.raises(ConfigError, match="finite") as refused:
        load_grade_tables(path)
    assert refused.value.field == "SM.grades[0].mean_db"
