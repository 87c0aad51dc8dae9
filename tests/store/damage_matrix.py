"""The store's damage matrix: each kind of damage × what verify, the next writer and repair do.

    python tests/store/damage_matrix.py [--cables N]     # prints the table (docs/reliability.md)

Also imported by test_store_damage.py, which asserts the same outcomes case by case.
A case damages a copy of a store holding one reference and N cables SN0000…, then:
runs `bench verify` (its verdict, exit code, time), opens a writer and appends a
cable, runs `bench repair` if the writer refused, appends again, and counts how many
of the original records are still readable, byte for byte, under their own numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from store_fakes import fake_cable, fake_reference  # noqa: E402

from bench.errors import StoreError  # noqa: E402
from bench.store import ResultStore, StoreDamagedError, load_results  # noqa: E402
from bench.store.repair import repair_store  # noqa: E402
from bench.store.watchdog import verify_without_hanging  # noqa: E402

TABLES = ("cables", "cable_keys", "fibers", "power_matrix_dbm", "references", "reference_values_dbm",
          "blob_index", "blob_bytes")
TRUNCATIONS = (1, 100, 1000, 4096, 20_000)


def build_store(path: Path, cables: int = 40) -> None:
    with ResultStore(path, fsync=False) as store:
        store.add_reference(fake_reference())
        for i in range(cables):
            store.append_cable(fake_cable(serial=f"SN{i:04d}", seed=i))


def _chunks(path: Path, table: str) -> list[tuple[int, int, int]]:
    """(first row, byte offset, stored size) of each written chunk of a table."""
    out: list[tuple[int, int, int]] = []
    with h5py.File(path, "r") as f:
        ds = f[table]
        ds.id.chunk_iter(lambda info: out.append((int(info.chunk_offset[0]), info.byte_offset, info.size)))
    return sorted(out)


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 0xFF]))


def flip_in_chunk(table: str, which: str) -> Callable[[Path], str]:
    """Flip one byte of the first, a middle or the last chunk of a table: the middle byte of a
    compressed chunk; in an uncompressed one, a byte in the middle of a written row."""

    def damage(path: Path) -> str:
        chunks = _chunks(path, table)
        k = {"first": 0, "middle": len(chunks) // 2, "last": len(chunks) - 1}[which]
        first_row, offset, size = chunks[k]
        with h5py.File(path, "r") as f:
            ds = f[table]
            compressed = ds.compression is not None
            rows_here = min(ds.chunks[0], ds.shape[0] - first_row)
            itemsize = ds.dtype.itemsize
        if compressed:
            _flip(path, offset + size // 2)
        else:
            _flip(path, offset + (rows_here // 2) * itemsize + itemsize // 2)
        return f"chunk {k + 1} of {len(chunks)}"

    return damage


def truncate(n_bytes: int) -> Callable[[Path], str]:
    def damage(path: Path) -> str:
        os.truncate(path, path.stat().st_size - n_bytes)
        return ""

    return damage


def zero_superblock(path: Path) -> str:
    with open(path, "r+b") as fh:
        fh.seek(20)
        fh.write(bytes(8))
    return "8 zero bytes at offset 20"


def append_garbage(path: Path) -> str:
    with open(path, "ab") as fh:
        fh.write(os.urandom(4096))
    return "4096 random bytes"


def cases() -> list[tuple[str, Callable[[Path], str]]]:
    out: list[tuple[str, Callable[[Path], str]]] = [(f"truncated by {n} B", truncate(n)) for n in TRUNCATIONS]
    for table in TABLES:
        for which in ("first", "middle", "last"):
            out.append((f"flipped byte, {which} chunk of {table}", flip_in_chunk(table, which)))
    out.append(("superblock: 8 zero bytes at offset 20", zero_superblock))
    out.append(("appended garbage (4 KiB)", append_garbage))
    return out


@dataclass
class Outcome:
    case: str
    detail: str
    verify: str  # verdict word
    exit_code: int
    verify_s: float
    unreadable: int  # records verify could not read
    tampered: int
    writer: str  # what the next writer did
    repaired: bool
    preserved: int  # original records readable and identical afterwards
    readable_before: int  # what verify could read
    new_index: int | None
    index_reused: bool
    verify_summary: str


def _originals(base: Path) -> dict[int, tuple]:
    res = load_results(base)
    return {int(r["record_index"]): tuple(r.tolist()) for r in res.cables}


def run_case(base: Path, work: Path, name: str, damage: Callable[[Path], str],
             originals: dict[int, tuple]) -> Outcome:
    path = work / "results.h5"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copy(base, path)
    detail = damage(path)
    t0 = time.monotonic()
    report, refused = verify_without_hanging(path)
    verify_s = time.monotonic() - t0
    if report is None:
        verdict, code, unreadable, tampered, readable = refused.status.name, int(refused.status), len(originals), 0, 0
        summary = refused.message.split(":", 1)[-1].strip()[:90]
    else:
        verdict, code = report.status.name, int(report.status)
        unreadable, tampered = len(report.unreadable), len(report.bad) + len(report.bad_references)
        readable = report.n_readable - len(report.bad)
        summary = "; ".join(r.describe() for r in report.damaged)[:90] or \
            "; ".join(f"{i} {w}" for i, _, w in report.bad)[:90]
    repaired, new_index = False, None
    writer = ""
    try:
        with ResultStore(path, fsync=False) as store:
            new_index = store.append_cable(fake_cable(serial="NEW", seed=999))
        writer = f"appends (record {new_index})"
    except StoreDamagedError as exc:
        writer = "refuses: damaged (" + ("truncated" if "truncated" in str(exc) else
                                         "superblock" if "superblock" in str(exc) else "unreadable records") + ")"
        try:
            repair_store(path)
            repaired = True
            with ResultStore(path, fsync=False) as store:
                new_index = store.append_cable(fake_cable(serial="NEW", seed=999))
            writer += f"; after repair appends (record {new_index})"
        except StoreError as repair_exc:
            writer += "; repair refuses: " + ("superblock damaged" if "superblock" in str(repair_exc)
                                              else str(repair_exc)[:60])
    except StoreError as exc:
        writer = f"refuses: {str(exc)[:60]}"
    preserved = 0
    try:
        after = load_results(path)
        preserved = sum(1 for r in after.cables if originals.get(int(r["record_index"])) == tuple(r.tolist()))
    except StoreError:
        pass
    reused = new_index is not None and new_index in originals
    return Outcome(name, detail, verdict, code, verify_s, unreadable, tampered, writer, repaired, preserved,
                   readable, new_index, reused, summary)


def run_matrix(work: Path, cables: int = 40) -> list[Outcome]:
    base = work / "base.h5"
    work.mkdir(parents=True, exist_ok=True)
    build_store(base, cables)
    originals = _originals(base)
    return [run_case(base, work / f"case{k}", name, damage, originals) for k, (name, damage) in enumerate(cases())]


def table(outcomes: list[Outcome], cables: int) -> str:
    lines = [
        f"Store: 1 reference + {cables} cables (cables: 8 rows per chunk; fibers: 48 rows = 2 cables per chunk).",
        "",
        "| damage | `bench verify` (exit) | unreadable / tampered records | next writer | original records "
        "preserved | new record number | reused? |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        name = o.case + (f" ({o.detail})" if o.detail else "")
        lines.append(
            f"| {name} | {o.verify} ({o.exit_code}), {o.verify_s:.1f} s | {o.unreadable} / {o.tampered} | {o.writer} "
            f"| {o.preserved} of {cables} | {'-' if o.new_index is None else o.new_index} "
            f"| {'YES' if o.index_reused else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cables", type=int, default=40)
    parser.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_matrix(Path(args.work or tmp), args.cables)
        print(table(outcomes, args.cables))


if __name__ == "__main__":
    main()
