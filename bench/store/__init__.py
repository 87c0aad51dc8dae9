"""HDF5 results store: append-only tables, SWMR, crash recovery, per-record hashes.

Schema and rationale: docs/hdf5-schema.md.
"""

from bench.store.export import export_csv, export_json
from bench.store.reader import LoadedResults, VerifyReport, load_references, load_results, verify_store
from bench.store.schema import SCHEMA_VERSION
from bench.store.writer import ResultStore

__all__ = [
    "SCHEMA_VERSION",
    "LoadedResults",
    "ResultStore",
    "VerifyReport",
    "export_csv",
    "export_json",
    "load_references",
    "load_results",
    "verify_store",
]
