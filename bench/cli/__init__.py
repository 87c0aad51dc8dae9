"""The `bench` command line (top floor): argument parsing and printing only, the work is done below.

`main` is the console-script entry point; `python -m bench.cli` runs it too.
"""

from bench.cli.main import main

__all__ = ["main"]
