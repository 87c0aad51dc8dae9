"""The README's Python API imports resolve, and the former module paths still work for one release, with a warning."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from bench.store import load_results

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Python example, executed verbatim in an empty folder (no results/ folder yet)."""
    monkeypatch.chdir(tmp_path)
    for block in _readme_python_blocks():
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - the README's own code
    verdict, *_ = capsys.readouterr().out.split()
    assert verdict == "PASS"
    assert len(load_results(tmp_path / "results" / "line3.h5")) == 1


@pytest.mark.parametrize(("old", "new", "names"), [
    ("bench.recipe", "bench.config", ("load_recipe", "Recipe")),
    ("bench.session", "bench.run", ("TestSession", "CableOutcome", "ReferenceRequired")),
    ("bench.station", "bench.run", ("open_station", "Station")),
])
def test_former_paths_warn_and_give_the_same_objects(old: str, new: str, names: tuple[str, ...],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        alias = importlib.import_module(old)
    current = importlib.import_module(new)
    for name in names:
        assert getattr(alias, name) is getattr(current, name)
