"""Errors raised at the edge of the toolkit, before any instrument is touched."""

from __future__ import annotations


class BenchError(Exception):
    """Base of every error the bench reports to an operator or a line script."""


class ConfigError(BenchError):
    """A configuration or recipe file is wrong: names the file, the field and the fix."""

    def __init__(self, source: str, field: str, problem: str, fix: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{source}: field '{field}': {problem}. Fix: {fix}")


class StoreError(BenchError):
    """The results store cannot be used as asked (locked, newer schema, not a file, ...)."""
