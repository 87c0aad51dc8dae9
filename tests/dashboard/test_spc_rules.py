"""The SPC rules on constructed series: each fires on its own pattern, none fires on a calm series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.dashboard.spc import evaluate, individuals_chart, load_rules
from bench.errors import ConfigError

RULES = {rule.name: rule for rule in load_rules()}
# A baseline with mean 0 and mean moving range 1.128, so sigma is exactly 1.
BASELINE = np.array([0.564, -0.564] * 10)


def _fired(values: list[float], name: str) -> list[int]:
    chart = individuals_chart(values, BASELINE)
    return [v.index for v in evaluate([RULES[name]], chart)]


def test_the_baseline_gives_the_centre_and_sigma():
    chart = individuals_chart([0.0], BASELINE)
    assert chart.center == pytest.approx(0.0)
    assert chart.sigma == pytest.approx(1.0)
    assert (chart.lcl, chart.ucl) == pytest.approx((-3.0, 3.0))
    assert chart.mr_ucl == pytest.approx(3.267 * 1.128)


CALM = [0.3, 0.5, -0.2, 0.1, -0.4, -0.1, 0.6, 0.2, -0.3, 0.4, 0.0, -0.6, 0.7, 0.3, -0.2, 0.1]


@pytest.mark.parametrize(("name", "series", "fires_at"), [
    ("WE1", [0.0, 3.2, 0.0], [1]),
    ("WE1", [0.0, -3.5], [1]),
    ("WE2", [2.1, 0.0, 2.5], [2]),
    ("WE2", [2.1, -2.5, 0.0], []),  # beyond 2 sigma, but on opposite sides
    ("WE3", [1.2, 1.5, 0.2, 1.1, 1.3], [4]),
    ("WE4", [0.1] * 8, [7]),
    ("WE4", [0.1] * 7 + [-0.1], []),
    ("N3", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], [5]),
    ("N3", [0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.1], [5]),
    ("N4", [0.5, -0.5] * 7, [13]),
    ("N7", [0.1, -0.1] * 7 + [0.1], [14]),
    ("N8", [1.5, -1.5] * 4, [7]),
])
def test_each_rule_fires_on_its_pattern(name, series, fires_at):
    assert _fired(series, name) == fires_at


@pytest.mark.parametrize("name", ["WE1", "WE2", "WE3", "WE4", "N3", "N4", "N8"])
def test_a_calm_series_fires_nothing(name):
    assert _fired(CALM, name) == []


def test_a_slow_creep_under_the_limit_is_flagged_before_it_reaches_the_limit():
    limit_db = 0.75
    rng = np.random.default_rng(7)
    baseline = 0.30 + rng.normal(0, 0.02, 25)
    creeping = 0.30 + rng.normal(0, 0.02, 30) + np.linspace(0, 0.4, 30)
    chart = individuals_chart(creeping, baseline)
    first = min(v.index for v in evaluate(load_rules(), chart))
    assert creeping[first] < limit_db
    assert (creeping[: first + 1] < limit_db).all()


def test_a_short_baseline_is_refused():
    with pytest.raises(ValueError, match="at least 5"):
        individuals_chart([0.1, 0.2], [0.1, 0.2, 0.3])


def _rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "field", "words"), [
    ('[[rule]]\nname = "X"\nkind = "zonee"\npoints = 1\n', "rule[0].kind", "unknown kind"),
    ('[[rule]]\nname = "X"\nkind = "zone"\npoints = 3\ncount = 4\nsigma = 1.0\n', "rule[0].count", "between 1"),
    ('[[rule]]\nname = "X"\nkind = "trend"\npoints = 2\n', "rule[0].points", "≥ 3"),
    ('[[rule]]\nname = "X"\nkind = "zone"\npoints = 1\nsigmaa = 3.0\n', "rule[0].sigmaa", "unknown key"),
    ('[[rule]]\nname = "X"\nkind = "zone"\npoints = 1\n[[rule]]\nname = "X"\nkind = "trend"\npoints = 6\n',
     "rule.name", "two rules"),
    ("", "rule", "no [[rule]]"),
])
def test_a_bad_rules_file_names_the_field(tmp_path, text, field, words):
    with pytest.raises(ConfigError) as caught:
        load_rules(_rules_file(tmp_path, text))
    assert caught.value.field == field
    assert words in caught.value.problem


def test_rules_are_data(tmp_path):
    path = _rules_file(tmp_path, '[[rule]]\nname = "TWO-HIGH"\nkind = "zone"\npoints = 2\ncount = 2\nsigma = 1.5\n')
    chart = individuals_chart([1.6, 1.7, 0.0], BASELINE)
    assert [(v.rule, v.index) for v in evaluate(load_rules(path), chart)] == [("TWO-HIGH", 1)]
