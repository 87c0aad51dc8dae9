"""Shared fixtures for the grading tests: example recipes and a minimal valid recipe dict."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import load_station
from bench.grading.uncertainty import with_budget

EXAMPLES = Path(__file__).resolve().parents[2] / "bench" / "examples"

MINIMAL_RECIPE = {
    "recipe": {"name": "T12", "product": "test trunk"},
    "cable": {
        "fiber_count": 12,
        "polarity": "B",
        "fiber_type": "SM",
        "connector_a": "MTP-F",
        "connector_b": "MTP-F",
        "cable_type": "trunk",
        "length_m": 10.0,
    },
    "test": {"wavelengths_nm": [1310, 1550]},
    "limits": {"max_il_db": 0.75},
    "decision_rule": {"kind": "simple", "uncertainty_db": 0.1},
}


@pytest.fixture
def recipe_dict() -> dict:
    """A fresh, valid recipe dict each test may break in one place."""
    return copy.deepcopy(MINIMAL_RECIPE)


@pytest.fixture
def demo_recipe() -> Recipe:
    """The demo recipe as the demo station grades it: U from their uncertainty budget."""
    return with_budget(load_station(EXAMPLES / "station_demo.toml"), load_recipe(EXAMPLES / "recipe_demo.toml"))
