"""Test-cord wear: every cable tested is one mating of each reference cord (and each harness
fixture port) it touches. Counts live in a small JSON ledger beside the results file, so they
survive sessions; a cord at the station's retirement count stops testing, naming the cord,
until it is replaced (a new cord id in the station file) and a new reference is taken.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from bench.errors import BenchError


class CordRetired(BenchError):
    """A test cord reached its retirement count: replace it, give it a new id, re-reference."""


class CordLedger:
    """Mating counts per cord id; written atomically after every change (no count is lost to a crash
    between two cables, at most the one in flight)."""

    def __init__(self, path: Path | None, *, warning_matings: int, retire_matings: int) -> None:
        self.path = path
        self.warning_matings = warning_matings
        self.retire_matings = retire_matings
        self.counts: dict[str, int] = {}
        if path is not None and path.exists():
            self.counts = {str(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        elif path is not None:
            self._save()  # created with the session, not by the first cable: a cable's data never makes a file

    @classmethod
    def beside(cls, store_path: str | Path | None, **limits: int) -> CordLedger:
        return cls(None if store_path is None else Path(f"{store_path}.cords.json"), **limits)

    def retired(self, cords: Iterable[str]) -> list[str]:
        return [cord for cord in cords if self.counts.get(cord, 0) >= self.retire_matings]

    def check(self, cords: Iterable[str]) -> None:
        retired = self.retired(cords)
        if retired:
            raise CordRetired(
                f"test cord {', '.join(retired)} reached its retirement count of {self.retire_matings} matings "
                f"({', '.join(f'{c}: {self.counts[c]}' for c in retired)}); replace it, put the new cord's id in "
                "the station file's reference.cord_ids (or use a new fixture port), restart and take a new reference")

    def mate(self, cords: Iterable[str]) -> dict[str, int]:
        """One more mating of each cord; the counts after it."""
        cords = list(cords)
        for cord in cords:
            self.counts[cord] = self.counts.get(cord, 0) + 1
        self._save()
        return {cord: self.counts[cord] for cord in cords}

    def warnings(self, cords: Iterable[str]) -> list[str]:
        return [f"test cord {cord} has {self.counts[cord]} matings (warning at {self.warning_matings}, "
                f"retired at {self.retire_matings}): order its replacement"
                for cord in cords if self.warning_matings and self.counts.get(cord, 0) >= self.warning_matings]

    def _save(self) -> None:
        if self.path is None:
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.counts, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.path)
