"""HDF5 results store: append-only tables, SWMR, crash recovery, per-record hashes.

Schema and rationale: docs/hdf5-schema.md.
"""

from bench.store.damage import DamagedRange, StoreDamagedError, UnreadableRecord
from bench.store.export import export_csv, export_json
from bench.store.reader import LoadedResults, load_references, load_results
from bench.store.schema import SCHEMA_VERSION
from bench.store.trusted import latest_trusted_reference
from bench.store.verify import VerifyExit, VerifyReport, verify_store
from bench.store.writer import ResultStore

__all__ = [
    "SCHEMA_VERSION",
    "DamagedRange",
    "LoadedResults",
    "ResultStore",
    "StoreDamagedError",
    "UnreadableRecord",
    "VerifyExit",
    "VerifyReport",
    "export_csv",
    "export_json",
    "latest_trusted_reference",
    "load_references",
    "load_results",
    "verify_store",
]
