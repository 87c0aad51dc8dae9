"""The README's Python API imports resolve, and the former module paths still work for one release, with a warning."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_import_lines() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "README.md has no python example block"
    return [line for block in blocks for line in block.splitlines() if line.startswith(("from ", "import "))]


def test_readme_example_imports_resolve_to_the_api() -> None:
    lines = _readme_import_lines()
    namespace: dict[str, object] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - the README's own import lines
    for name in ("load_station", "load_recipe", "TestSession", "open_station", "ResultStore"):
        assert callable(namespace[name]), f"README import of {name} does not give a callable"


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
