"""Labels, the deferred interrupt, the station's timing reaching the procedures, and who opens which station."""

from __future__ import annotations

import os
import signal
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from bench.config.station import load_station, parse_station
from bench.errors import ConfigError
from bench.operator.interrupt import DeferredInterrupt
from bench.operator.line import open_line_bench
from bench.run.labels import check_label
from bench.sim_launch import SimOptions, example_path, open_bench, open_virtual_line_bench
from procedures.timing import TimingSettings, plan

STATION = example_path("station_demo.toml")
RECIPE = example_path("recipe_demo.toml")


# -- labels ----------------------------------------------------------------------------------

def test_label_is_stripped_and_any_printable_text_is_data() -> None:
    assert check_label("lot", "  LOT-42 \n") == "LOT-42"
    assert check_label("serial number", "Ünïcødé-序列号-🔌") == "Ünïcødé-序列号-🔌"
    assert check_label("serial number", "\u202eRTL") == "\u202eRTL"  # not a control character: stored exactly


@pytest.mark.parametrize(("value", "problem"), [
    ("", "is empty"), ("   ", "is empty"), (None, "is empty"),
    ("tab\there", "control character '\\t'"), ("esc\x1b[31m", "control character '\\x1b'"),
    ("x" * 65, "65 bytes long, the store keeps at most 64"), ("序" * 22, "66 bytes long"),
])
def test_bad_labels_name_the_label_problem_and_fix(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_label("operator name", value)
    assert problem in refused.value.problem and refused.value.field == "operator name" and refused.value.fix


# -- deferred interrupt ------------------------------------------------------------------------

class SteppedClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_second_ctrl_c_forces_only_after_the_grace_time() -> None:
    clock = SteppedClock()
    with DeferredInterrupt(force_after_s=3.0, clock=clock) as guard:
        os.kill(os.getpid(), signal.SIGINT)
        assert guard.requested and not guard.forced  # first Ctrl-C: a flag, nothing raised
        clock.now_s += 2.9
        os.kill(os.getpid(), signal.SIGINT)
        assert not guard.forced  # too soon: still waiting for the safe point
        clock.now_s += 0.1
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert guard.forced
    with pytest.raises(KeyboardInterrupt):
        guard.check()


def test_guarded_progress_stops_at_the_next_safe_point() -> None:
    seen: list[tuple[int, int]] = []
    with DeferredInterrupt() as guard:
        progress = guard.wrap(lambda w, launch, n_w, n_launch: seen.append((w, launch)))
        progress(0, 0, 1, 12)
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            progress(0, 1, 1, 12)
    assert seen == [(0, 0)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- timing --------------------------------------------------------------------------------------

def test_the_station_timing_table_is_the_type_the_procedures_measure_with() -> None:
    """One timing type: every [timing] key a station file sets arrives, unchanged, in the settings
    the acquisition and the timing floor read (no copy field by field that could drop one)."""
    data = tomllib.loads(STATION.read_text(encoding="utf-8"))
    chosen = {"averaging_time_s": 0.002, "settle_tolerance_db": 0.02, "settle_timeout_s": 3.0,
              "laser_on_settle_s": 0.5, "switch_settle_s": 0.005, "wavelength_change_s": 0.05,
              "query_round_trip_s": 0.0003, "order": "switch-outer", "reply_wait": "sleep"}
    data["timing"] = chosen
    timing = parse_station(data, "station.toml").timing
    assert isinstance(timing, TimingSettings)
    assert {name: getattr(timing, name) for name in chosen} == chosen
    floor = plan((1310.0, 1550.0), [1, 2], timing, order=timing.order)  # the floor reads the same object
    # 4 steps x 2 readings x (averaging + round trip), 2 switch moves, 2 wavelength changes and the laser's warm-up
    assert floor.order == "switch-outer" and floor.readings == 8 and floor.bound_s >= 0.5 + 8 * 0.0023


# -- who opens which station -------------------------------------------------------------------

def test_production_api_refuses_a_virtual_station_with_the_way_to_open_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="open_virtual_line_bench"):
        with open_line_bench(STATION, RECIPE, operator="op", lot="L", store=tmp_path / "r.h5"):
            pass
    assert not (tmp_path / "r.h5").exists()


def test_simulation_options_are_refused_on_a_real_station(tmp_path: Path) -> None:
    real = replace(load_station(STATION), backend="visa")
    for sim in (SimOptions(fail_serials=("MTP12-000001",)), SimOptions(meter_latency_s=0.01)):
        with pytest.raises(ConfigError, match="only apply to a virtual station"):
            with open_bench(real, RECIPE, operator="op", lot="L", store=tmp_path / "r.h5", sim=sim):
                pass
    with pytest.raises(ConfigError, match="backend"):
        with open_virtual_line_bench(real, RECIPE, operator="op", lot="L", store=tmp_path / "r.h5"):
            pass
    assert not (tmp_path / "r.h5").exists()


def test_bad_operator_is_refused_before_the_simulator_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="operator name is empty"):
        with open_bench(STATION, RECIPE, operator=" ", lot="L", store=tmp_path / "r.h5"):
            pass
    assert not (tmp_path / "r.h5").exists()
