"""A bench writer in its own process, for the crash, locking and SWMR tests.

    python store_writer_proc.py STORE PREFIX [MAX_CABLES]

Opens the store (recovering it if needed), prints "ready", then appends cables
SERIAL = PREFIX-<n> and prints "<record_index> <serial>" after each append
returns, i.e. once the cable is committed. With MAX_CABLES it then waits for
stdin to close, holding the store open.
"""

from __future__ import annotations

import sys

from store_fakes import fake_cable

from bench.store import ResultStore


def main() -> None:
    path, prefix = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with ResultStore(path, fsync=False) as store:
        print("ready", flush=True)
        n = 0
        while limit is None or n < limit:
            serial = f"{prefix}-{n}"
            index = store.append_cable(fake_cable(serial=serial, seed=n))
            print(index, serial, flush=True)
            n += 1
        sys.stdin.read()


if __name__ == "__main__":
    main()
