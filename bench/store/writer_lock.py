"""The store's one-writer lock, its HDF5 format bounds and the key rows: shared by the writer and repair."""

from __future__ import annotations

import errno
import fcntl
import os
import socket

import numpy as np

from bench.clock import utc_now_text
from bench.errors import StoreError
from bench.store.schema import CABLE_KEY_DTYPE

# HDF5 1.10 file format objects only: SWMR needs them, and HDFView / older
# h5py builds (HDF5 1.10+) can still read the file.
LIBVER = ("v110", "v110")


class WriterLock:
    """Exclusive lock on `<store>.lock`, holding the owner's pid for the error message.

    HDF5's own file lock is released once SWMR writing starts, so it cannot
    keep a second writer out on its own. The lock file is never deleted:
    deleting it would let two processes lock two different inodes.
    """

    def __init__(self, store_path: str) -> None:
        self.path = store_path + ".lock"
        self._fd: int | None = None

    def acquire(self, store_path: str) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o664)
        except OSError as exc:
            raise StoreError(
                f"cannot create the writer lock file {self.path} ({exc.strerror}): the directory of "
                f"{store_path} must be writable by the bench user"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "pid unknown"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
            raise StoreError(
                f"{store_path} is already open for writing by {holder} (lock file {self.path}). "
                "A store has one writer: close the other bench session first; reports and dashboards "
                "can read meanwhile with load_results() or `bench query`."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {utc_now_text()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def cable_keys(rows: np.ndarray) -> np.ndarray:
    keys = np.zeros(len(rows), dtype=CABLE_KEY_DTYPE)
    for name in CABLE_KEY_DTYPE.names:
        keys[name] = rows[name]
    return keys
