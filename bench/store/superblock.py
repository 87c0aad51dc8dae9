"""Clear the file-consistency flags of an HDF5 superblock, as `h5clear -s -i 0` does.

A writer killed while it had the file open (SWMR or not) leaves these flags
set, and HDF5 then refuses every open except a SWMR read; its end-of-allocation
address may also be short of what it had written. h5clear is not a Python
dependency, so the store patches the flags byte and that address itself and
recomputes the superblock checksum (Bob Jenkins' lookup3 "hashlittle", as HDF5 uses).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def lookup3(data: bytes, initval: int = 0) -> int:
    """Jenkins lookup3 hashlittle of `data`, the checksum HDF5 puts on metadata."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _MASK
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & _MASK
        a = (a - c) & _MASK
        a ^= _rot(c, 4)
        c = (c + b) & _MASK
        b = (b - a) & _MASK
        b ^= _rot(a, 6)
        a = (a + c) & _MASK
        c = (c - b) & _MASK
        c ^= _rot(b, 8)
        b = (b + a) & _MASK
        a = (a - c) & _MASK
        a ^= _rot(c, 16)
        c = (c + b) & _MASK
        b = (b - a) & _MASK
        b ^= _rot(a, 19)
        a = (a + c) & _MASK
        c = (c - b) & _MASK
        c ^= _rot(b, 4)
        b = (b + a) & _MASK
        length -= 12
        i += 12
    if length == 0:
        return c
    tail = data[i:] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + int.from_bytes(tail[8:12], "little")) & _MASK
    c ^= b
    c = (c - _rot(b, 14)) & _MASK
    a ^= c
    a = (a - _rot(c, 11)) & _MASK
    b ^= a
    b = (b - _rot(a, 25)) & _MASK
    c ^= b
    c = (c - _rot(b, 16)) & _MASK
    a ^= c
    a = (a - _rot(c, 4)) & _MASK
    b ^= a
    b = (b - _rot(a, 14)) & _MASK
    c ^= b
    c = (c - _rot(b, 24)) & _MASK
    return c


class SuperblockError(Exception):
    """The superblock is not one this module knows how to patch."""


def _locate(fh, any_version: bool = False) -> tuple[int, bytearray]:
    """Return (offset, superblock bytes) of a version 2/3 superblock (any_version: the first 12
    bytes of an older one, which has no checksum and no consistency flags)."""
    # The superblock sits at 0 or, after a user block, at 512, 1024, 2048, ...
    offset = 0
    size = os.fstat(fh.fileno()).st_size
    while offset < size:
        fh.seek(offset)
        head = fh.read(12)
        if head[:8] == _SIGNATURE:
            version = head[8]
            if any_version and version not in (2, 3):
                return offset, bytearray(head)
            if version not in (2, 3):
                raise SuperblockError(f"superblock version {version} has no consistency flags to clear")
            size_of_offsets = head[9]
            fh.seek(offset)
            block = bytearray(fh.read(12 + 4 * size_of_offsets + 4))
            return offset, block
        offset = 512 if offset == 0 else offset * 2
    raise SuperblockError("no HDF5 superblock signature found")


@dataclass(frozen=True)
class SuperblockFacts:
    """What the superblock says about the file, read without HDF5 (so it cannot hang)."""

    version: int
    flags: int
    checksum_ok: bool
    base_address: int
    stored_eof: int  # end-of-file address HDF5 recorded, relative to base_address
    file_size: int

    @property
    def missing_bytes(self) -> int:
        """Bytes the file lacks compared with what HDF5 recorded (a truncated copy); 0 if none."""
        return max(0, self.base_address + self.stored_eof - self.file_size)

    @property
    def extra_bytes(self) -> int:
        """Bytes beyond the recorded end (appended data, or a writer that had not closed yet)."""
        return max(0, self.file_size - self.base_address - self.stored_eof)


def read_superblock(path: str) -> SuperblockFacts:
    """Parse the superblock and check its checksum (versions 2/3); SuperblockError if there is none."""
    with open(path, "rb") as fh:
        _, block = _locate(fh, any_version=True)
        size = os.fstat(fh.fileno()).st_size
    if block[8] not in (2, 3):
        # Versions 0/1 (other HDF5 writers' default) carry no checksum to check; such a file is
        # not one of ours, and the schema check says so.
        return SuperblockFacts(block[8], 0, True, 0, size, size)
    size_of_offsets = block[9]
    if size_of_offsets not in (2, 4, 8):
        raise SuperblockError(f"superblock gives {size_of_offsets}-byte addresses, which HDF5 never writes")
    base_address = int.from_bytes(block[12 : 12 + size_of_offsets], "little")
    eoa_at = 12 + 2 * size_of_offsets
    stored_eof = int.from_bytes(block[eoa_at : eoa_at + size_of_offsets], "little")
    checksum_ok = lookup3(bytes(block[:-4])) == int.from_bytes(block[-4:], "little")
    return SuperblockFacts(block[8], block[11], checksum_ok, base_address, stored_eof, size)


def consistency_flags(path: str) -> int:
    """The file-consistency flags byte (0 when the last writer closed cleanly)."""
    with open(path, "rb") as fh:
        _, block = _locate(fh)
        return block[11]


def clear_consistency_flags(path: str) -> bytes | None:
    """Clear the flags in place (and raise a stale end-of-allocation address to the file's
    end); return the original superblock bytes, or None if already clear.

    The checksum of the block as found is checked first, so a damaged
    superblock is never "repaired" into something that merely looks valid.
    """
    with open(path, "r+b") as fh:
        offset, block = _locate(fh)
        if block[11] == 0:
            return None
        stored = int.from_bytes(block[-4:], "little")
        if lookup3(bytes(block[:-4])) != stored:
            raise SuperblockError("superblock checksum does not match; not patching")
        original = bytes(block)
        block[11] = 0
        # The end-of-allocation address is written when the file closes; a writer killed after
        # extending the file leaves it short, and HDF5 then refuses to touch what lies beyond
        # ("addr overflow"). Like `h5clear -s --increment=0`, raise it to the file's end.
        size_of_offsets = block[9]
        base_address = int.from_bytes(block[12 : 12 + size_of_offsets], "little")
        eoa_at = 12 + 2 * size_of_offsets
        end_of_allocation = int.from_bytes(block[eoa_at : eoa_at + size_of_offsets], "little")
        end_of_file = os.fstat(fh.fileno()).st_size - base_address
        if end_of_allocation < end_of_file:
            block[eoa_at : eoa_at + size_of_offsets] = end_of_file.to_bytes(size_of_offsets, "little")
        block[-4:] = lookup3(bytes(block[:-4])).to_bytes(4, "little")
        fh.seek(offset)
        fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
        return original


def restore_superblock(path: str, original: bytes) -> None:
    """Put back the bytes `clear_consistency_flags` returned."""
    with open(path, "r+b") as fh:
        offset, _ = _locate(fh)
        fh.seek(offset)
        fh.write(original)
        fh.flush()
        os.fsync(fh.fileno())
