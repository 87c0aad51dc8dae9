"""Each page, rendered by headless Chromium, shows the numbers an independent computation gives.

The truth: what the test sessions returned (conftest.FilledStore.outcomes) and the store read back
with `bench.store` (not through the dashboard's source). Screenshots go to a temporary directory
(`--docs-img docs/img` regenerates the documentation's, see docs/dashboard.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from urllib.parse import urlencode

import numpy as np
from playwright.sync_api import expect

from bench.dashboard import Hdf5Source, create_app
from bench.store import ResultStore, load_references, load_results

from .conftest import (
    CALM_CABLES,
    DAY1,
    DAY2,
    DAY3,
    SUSPECT_REASON,
    TREND_POSITION,
    TREND_PRODUCT,
    TREND_WAVELENGTH,
    FilledStore,
    ServedApp,
    noon,
)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %"


def _expected_day(filled: FilledStore, day: dt.date) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """(station, recipe) → (cables, latest PASS, first tested, first PASS) from the sessions' own outcomes."""
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for tested in filled.outcomes:
        if tested.day == day:
            groups[(tested.station_name, tested.recipe_name)].append(tested)
    out = {}
    for key, rows in groups.items():
        latest = {}
        for row in sorted(rows, key=lambda r: r.attempt):
            latest[row.serial] = row.outcome
        firsts = [r for r in rows if r.attempt == 1]
        out[key] = (len(latest), sum(o == "PASS" for o in latest.values()), len(firsts),
                    sum(r.outcome == "PASS" for r in firsts))
    return out


def _cells(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"{selector} tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")


def test_plant_today_shows_yield_and_first_pass_yield_per_station_and_product(page, dashboard_url, filled_store,
                                                                              screenshot):
    page.goto(f"{dashboard_url}/")
    expected = _expected_day(filled_store, DAY3)
    cables, passed, first, first_pass = (sum(v[i] for v in expected.values()) for i in range(4))
    assert page.inner_text("#title") == f"Plant on {DAY3.isoformat()}"
    assert page.inner_text("#cables-tested") == str(cables)
    assert page.inner_text("#yield") == _pct(passed, cables)
    assert page.inner_text("#first-pass-yield") == _pct(first_pass, first)
    rows = _cells(page, "#per-station tbody")
    assert {(r[0], r[1]): tuple(int(x) for x in (r[2], r[3], r[5], r[6])) for r in rows} == expected
    lots = {r[0] for r in _cells(page, "#lots tbody")}
    assert lots == {t.lot for t in filled_store.outcomes if t.day == DAY3}
    screenshot(page, "today")

    page.goto(f"{dashboard_url}/?day={DAY2.isoformat()}")
    day2 = _expected_day(filled_store, DAY2)
    assert page.inner_text("#cables-tested") == str(sum(v[0] for v in day2.values()))
    assert page.locator("script").count() == 0  # a past day does not refresh itself


def test_plant_today_updates_itself_when_a_cable_is_stored(page, store_copy, filled_store):
    app = create_app(Hdf5Source(store_copy), refresh_s=1, clock=noon(DAY3))
    with ServedApp(app) as served:
        page.goto(f"{served.url}/")
        before = int(page.inner_text("#cables-tested"))
        results = load_results(store_copy, lot="LOT-B")
        tested = results.cables[results.cables["kind"] == "insertion_loss"]
        record = results.cable_record(int(tested["record_index"][0]))
        with ResultStore(store_copy, fsync=False) as store:
            store.append_cable(dataclasses.replace(record, serial="MTP12-399999", attempt=1))
        # The page fetches itself again every second; wait (bounded) for the new count, no reload.
        expect(page.locator("#cables-tested")).to_have_text(str(before + 1), timeout=15_000)
        assert page.inner_text("#title") == f"Plant on {DAY3.isoformat()}"


def _latest_verdict_fibers(lot: str, path) -> tuple[np.ndarray, np.ndarray]:
    results = load_results(path, lot=lot)
    cables = results.cables[(results.cables["kind"] == "insertion_loss")
                            & np.isin(results.cables["outcome"], ["PASS", "CONDITIONAL", "FAIL"])]
    latest = {}
    for row in cables:
        latest[str(row["serial"])] = int(row["record_index"])
    fibers = results.fibers[np.isin(results.fibers["record_index"], list(latest.values()))]
    return results.cables, fibers


def test_lot_page_counts_distributions_pareto_retests_and_certificates(page, dashboard_url, filled_store, screenshot):
    page.goto(f"{dashboard_url}/lot?{urlencode({'name': 'LOT-B'})}")
    tested = [t for t in filled_store.outcomes if t.lot == "LOT-B"]
    latest = {}
    for t in sorted(tested, key=lambda t: t.attempt):
        latest[t.serial] = t.outcome
    for row in _cells(page, "#outcomes tbody"):
        assert int(row[1]) == sum(o == row[0] for o in latest.values()), row
        assert int(row[2]) == sum(t.outcome == row[0] for t in tested), row
    assert page.inner_text("#cables-total") == str(len(latest))

    _, fibers = _latest_verdict_fibers("LOT-B", filled_store.path)
    for row in _cells(page, "#il-summary tbody"):
        at = fibers[fibers["wavelength_nm"] == float(row[0].split()[0])]
        il = at["insertion_loss_db"][np.isfinite(at["insertion_loss_db"])]
        assert int(row[1]) == len(il)
        assert float(row[2]) == round(float(il.mean()), 3)
        assert float(row[3]) == round(float(il.max()), 3)
        assert float(row[4]) == 0.75
    for chart in ("#histograms", "#heatmap", "#pareto-chart"):
        assert page.locator(f"{chart} svg").count() == 1

    # The one cable still failing (seeded fault at k = 7) is the whole Pareto: one cause per bad position.
    bad = fibers[(fibers["verdict"] == "FAIL")]
    expected_causes = {f"IL over limit at position {p}": 1 for p in set(bad["fiber_position"].tolist())}
    assert {r[0]: int(r[1]) for r in _cells(page, "#pareto tbody")} == expected_causes

    retests = _cells(page, "#retests tbody")
    assert retests == [["MTP12-300003", "#1 FAIL, #2 PASS", "PASS"]]
    assert page.inner_text("#suspect") == "None."  # no SUSPECT mark in LOT-B
    screenshot(page, "lot")

    link = page.locator("#cables a", has_text="PDF").first
    response = page.request.get(f"{dashboard_url}{link.get_attribute('href')}")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


def test_lot_page_lists_the_suspect_records_of_the_store(page, dashboard_url, filled_store):
    page.goto(f"{dashboard_url}/lot?{urlencode({'name': 'LOT-A'})}")
    rows = _cells(page, "#suspect tbody")
    assert [r[0] for r in rows] == filled_store.suspect_serials
    assert rows[0][2] == SUSPECT_REASON


def test_station_page_lists_references_golden_checks_and_cord_matings(page, dashboard_url, filled_store, screenshot):
    name = filled_store.station.name
    page.goto(f"{dashboard_url}/station?{urlencode({'name': name})}")
    references = [r for r in load_references(filled_store.path) if r.station_name == name]
    assert len(references) == filled_store.references
    rows = _cells(page, "#references tbody")
    assert [r[0] for r in rows] == [r.reference_id for r in references]
    per_reference = defaultdict(int)
    cables = load_results(filled_store.path).cables
    for row in cables[cables["kind"] == "insertion_loss"]:
        per_reference[str(row["reference_id"])] += 1
    assert [int(r[5]) for r in rows] == [per_reference[r.reference_id] for r in references]
    assert page.inner_text("#cables-tested") == str(sum(per_reference.values()))

    golden = _cells(page, "#golden tbody")
    assert len(golden) == filled_store.golden_checks
    assert {r[3] for r in golden} == {"PASS"}
    assert page.locator("#drift svg").count() == 1
    matings = {r[0]: int(r[1]) for r in _cells(page, "#matings tbody")}
    assert matings == {cord: sum(per_reference.values()) for cord in filled_store.station.reference.cord_ids}
    latest = load_results(filled_store.path)
    listed = latest.instruments(int(latest.cables["record_index"][-1]))
    shown = {r[0]: r[4] for r in _cells(page, "#calibration tbody")}
    assert shown == {i["name"]: i["calibration_due"] or "not given" for i in listed}
    screenshot(page, "station")


def test_serial_page_shows_every_attempt_with_its_fibers(page, dashboard_url, filled_store, screenshot):
    page.goto(f"{dashboard_url}/serial?{urlencode({'serial': 'MTP12-300003'})}")
    results = load_results(filled_store.path, serial="MTP12-300003")
    sections = page.locator("section.attempt")
    assert sections.count() == len(results.cables) == 2
    assert page.inner_text("#final") == "PASS"
    for k, row in enumerate(results.cables):
        section = sections.nth(k)
        assert section.get_attribute("data-attempt") == str(row["attempt"])
        assert section.locator(".outcome").inner_text() == row["outcome"]
        shown = section.locator("table.fibers tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.innerText))")
        mine = results.fibers[results.fibers["record_index"] == row["record_index"]]
        mine = mine[np.lexsort((mine["wavelength_nm"], mine["fiber_position"]))]
        assert len(shown) == len(mine) == 24
        assert [float(s[4]) for s in shown] == [round(float(v), 3) for v in mine["insertion_loss_db"]]
        assert [s[7] for s in shown] == mine["verdict"].tolist()
    screenshot(page, "serial")


def test_spc_flags_the_creeping_position_before_any_cable_fails(page, dashboard_url, filled_store, screenshot):
    trend = load_results(filled_store.path, lot="TREND")
    assert set(trend.cables["outcome"][trend.cables["kind"] == "insertion_loss"].tolist()) == {"PASS"}

    page.goto(f"{dashboard_url}/spc?{urlencode({'product': TREND_PRODUCT})}")
    cell = page.locator(f"#spc-grid td[data-wavelength='{TREND_WAVELENGTH}'][data-position='{TREND_POSITION}']")
    assert cell.get_attribute("class") == "early"  # rules fired, every observation under the limit
    screenshot(page, "spc")

    cell.locator("a").click()
    page.wait_for_selector("#spc-chart svg")
    assert page.locator("#early-warning").count() == 1
    flagged = _cells(page, "#violations tbody")
    serials = [r[1] for r in flagged]
    assert serials, "no rule fired on the creeping position"
    creeping = set(filled_store.trend_serials[CALM_CABLES:])
    assert set(serials) <= creeping  # nothing flagged while the process was steady
    assert all(float(r[3]) < 0.75 for r in flagged)
    # The limits come from the first 20 observations, computed here with numpy alone.
    tested = trend.cables["record_index"][trend.cables["kind"] == "insertion_loss"]
    fibers = trend.fibers[(trend.fibers["wavelength_nm"] == TREND_WAVELENGTH)
                          & (trend.fibers["fiber_position"] == TREND_POSITION)
                          & np.isin(trend.fibers["record_index"], tested)]
    baseline = fibers["insertion_loss_db"][:20]
    assert float(page.inner_text("#center")) == round(float(baseline.mean()), 4)
    assert float(page.inner_text("#sigma")) == round(float(np.abs(np.diff(baseline)).mean() / 1.128), 4)
    screenshot(page, "spc-chart")


def test_a_past_day_has_its_own_numbers(page, dashboard_url, filled_store):
    page.goto(f"{dashboard_url}/?day={DAY1.isoformat()}")
    expected = _expected_day(filled_store, DAY1)
    assert page.inner_text("#cables-tested") == str(sum(v[0] for v in expected.values()))
    rows = _cells(page, "#per-station tbody")
    assert [r[1] for r in rows] == [TREND_PRODUCT]
