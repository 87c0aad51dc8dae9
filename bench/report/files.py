"""Safe output files: names built from untrusted text (serials, lots), never overwriting."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import BinaryIO

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 80


def safe_file_stem(text: str, *, max_length: int = MAX_STEM) -> str:
    """A file-name stem made of [A-Za-z0-9._-] only, derived from untrusted `text`.

    Anything else ('/', '..', spaces, control characters, non-ASCII) becomes '_';
    leading dots and dashes are dropped (no hidden files, no option look-alikes).
    When the stem differs from the text, 8 hex digits of the text's sha256 are
    appended, so two serials that clean up to the same stem still get two names.
    """
    cleaned = _UNSAFE.sub("_", text).lstrip(".-_")[:max_length].rstrip(".")
    if cleaned != text or not cleaned:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = f"{cleaned}-{digest}" if cleaned else f"x-{digest}"
    return cleaned


def create_exclusive(directory: str | Path, stem: str, suffix: str) -> tuple[Path, BinaryIO]:
    """Create and open (binary, write) a new file `<stem><suffix>` in `directory`.

    The file is created with O_EXCL, so an existing file is never overwritten,
    even by a concurrent writer: on a clash `-2`, `-3`, ... is appended to the stem.
    `stem` must already be safe (see safe_file_stem).
    """
    if "/" in stem or "\\" in stem or stem.startswith("."):
        raise ValueError(f"unsafe file stem {stem!r}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, 10_000):
        path = folder / f"{stem}{'' if number == 1 else f'-{number}'}{suffix}"
        try:
            return path, open(path, "xb")  # noqa: SIM115 - the caller closes it
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: 9999 files named {stem}*{suffix} exist already")
