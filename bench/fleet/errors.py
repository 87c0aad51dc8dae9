"""The fleet's one error type."""

from __future__ import annotations

from bench.errors import BenchError


class FleetError(BenchError):
    """The fleet database refused, is unreachable, or holds what the forwarder must not merge."""
