"""Rows of a numpy structured array as one PostgreSQL binary COPY stream, built without a Python loop.

Why: the fiber rows are most of a batch (48 per cable); formatting them one by one costs more
than the server's whole work on them. Binary COPY is big-endian fixed-width fields, each after
its int32 length, so rows whose text fields have the same byte lengths share one numpy record
layout: the rows are grouped by those lengths and each group is written as one array.
Format: PostgreSQL's documentation, "COPY", section "Binary Format".
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
# column kind -> big-endian numpy type (PostgreSQL bigint, integer, double precision)
_FIXED = {"int8": ">i8", "int4": ">i4", "float8": ">f8"}


def binary_copy(rows: np.ndarray, columns: Sequence[tuple[str, str]]) -> bytes:
    """The COPY ... FROM STDIN (FORMAT BINARY) stream of `rows`; kinds: int8, int4, float8, text
    (text columns as numpy unicode, or as UTF-8 bytes the way the store keeps them)."""
    texts = {name: rows[name] if rows[name].dtype.kind == "S" else np.char.encode(rows[name], "utf-8")
             for name, kind in columns if kind == "text"}
    if texts:
        lengths = np.stack([np.char.str_len(texts[name]) for name in texts], axis=1).astype(np.int64)
        # One integer per combination of lengths (each < 2**20 bytes): a 1-D unique is fast.
        key = np.zeros(len(rows), dtype=np.int64)
        for k in range(lengths.shape[1]):
            key = key * (1 << 20) + lengths[:, k]
        _keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        groups, inverse = lengths[first], inverse.reshape(-1)
    else:
        groups, inverse = np.zeros((1, 0), dtype=np.int64), np.zeros(len(rows), dtype=np.int64)
    parts = [SIGNATURE]
    for g, group_lengths in enumerate(groups):
        selected = inverse == g
        width = dict(zip(texts, group_lengths.tolist(), strict=True))
        layout: list[tuple[str, str]] = [("field_count", ">i2")]
        for name, kind in columns:
            layout.append((f"{name}__length", ">i4"))
            if kind in _FIXED:
                layout.append((name, _FIXED[kind]))
            elif width[name]:
                layout.append((name, f"S{width[name]}"))
        out = np.empty(int(selected.sum()), dtype=layout)
        out["field_count"] = len(columns)
        for name, kind in columns:
            if kind in _FIXED:
                out[f"{name}__length"] = np.dtype(_FIXED[kind]).itemsize
                out[name] = rows[name][selected]
            else:
                out[f"{name}__length"] = width[name]
                if width[name]:
                    out[name] = texts[name][selected]
        parts.append(out.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)
