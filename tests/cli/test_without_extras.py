"""`pip install .` (README's first command) brings no optional extra: bench must run without them,
and a command that needs one says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Importing a name set to None in sys.modules raises ImportError, as an absent package does.
_WITHOUT_EXTRAS = textwrap.dedent("""
    import sys
    for name in ("starlette", "jinja2", "uvicorn", "psycopg", "playwright"):
        sys.modules[name] = None
    from bench.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, *args], capture_output=True, text=True,
                          timeout=120)


def test_bench_runs_without_the_optional_extras() -> None:
    result = _bench("--help")
    assert result.returncode == 0, result.stderr
    assert "dashboard" in result.stdout and "demo" in result.stdout


def test_the_dashboard_without_its_extra_names_the_install(tmp_path) -> None:
    result = _bench("dashboard", str(tmp_path / "none.h5"))
    assert result.returncode == 2, result.stderr
    assert "pip install 'mpo-bench[dashboard]'" in result.stderr
    assert "Traceback" not in result.stderr
