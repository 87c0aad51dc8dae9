"""The pytest plugin as a user's CI meets it: a project of its own, run by pytest in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import REPO, child_env

USER_PROJECT = REPO / "examples" / "user_project"


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder,
                          env=child_env(), capture_output=True, text=True, timeout=300)


def test_the_example_user_project_passes_with_the_plugins_fixtures_only() -> None:
    assert not list(USER_PROJECT.rglob("conftest.py"))  # nothing copied from our suite
    done = run_pytest(USER_PROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


def test_a_station_the_plugin_cannot_simulate_is_refused_in_words(tmp_path: Path) -> None:
    station = tmp_path / "real.toml"
    station.write_text((USER_PROJECT / "station.toml").read_text().replace('backend = "virtual"', 'backend = "visa"'))
    (tmp_path / "test_x.py").write_text("def test_x(line_bench):\n    pass\n")
    done = run_pytest(tmp_path, f"--bench-station={station}", f"--bench-recipe={USER_PROJECT / 'recipe.toml'}")
    assert done.returncode == 1
    assert 'the plugin simulates a station with backend = "virtual"' in done.stdout


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    probe = ("import sys, bench.testing.plugin\n"
             "heavy = ('numpy', 'h5py', 'matplotlib', 'reportlab', 'pyvisa', 'sim_instruments', 'bench.store',"
             " 'bench.operator')\n"
             "print(sorted(m for m in heavy if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], env=child_env(), capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"
