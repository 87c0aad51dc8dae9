"""A throw-away PostgreSQL server on 127.0.0.1 in a temporary directory (tests, benchmarks, demos).

It runs the server binaries the machine has (Debian's /usr/lib/postgresql/<version>/bin, else
`initdb`/`postgres` on PATH). PostgreSQL refuses to run as root, and CI runs as root: then the
data directory is given to the unprivileged `nobody` account and initdb/postgres run as it
(subprocess's user=/group=, no helper program). TCP on 127.0.0.1 only, no Unix socket;
password authentication (scram-sha-256) for every connection, as on a plant's server.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fleet.errors import FleetError

INSTALL_HINT = ("install the PostgreSQL server: `apt-get install postgresql` (Debian/Ubuntu; CI runs "
                ".ci/install-postgres), or put a directory holding initdb and postgres in PG_BIN")
_UNPRIVILEGED = "nobody"
_START_TIMEOUT_S = 60.0


def server_bin_dir() -> Path:
    """Directory holding initdb and postgres: $PG_BIN, else the newest Debian version, else PATH."""
    candidates = [os.environ["PG_BIN"]] if os.environ.get("PG_BIN") else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                         if Path(p).parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(os.path.realpath(on_path)).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    looked = ", ".join(candidates) or "PG_BIN, /usr/lib/postgresql/*/bin, PATH"
    raise FleetError(f"no PostgreSQL server binaries found (looked in {looked}): {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    import pwd  # POSIX only, like the server itself

    entry = pwd.getpwnam(_UNPRIVILEGED)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class TempServer:
    """`with TempServer() as server: psycopg.connect(**server.conninfo())`.

    `durable=False` turns fsync off (tests: the data dies with the directory); benchmarks keep
    the default durable settings. `stop()` / `start()` keep the data (server-down tests).
    """

    durable: bool = False
    superuser: str = "bench_admin"
    dbname: str = "mpo_fleet"
    port: int = 0
    directory: Path | None = None
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _own_directory: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        assert self.directory is not None
        return self.directory / "data"

    def __enter__(self) -> TempServer:
        self.init()
        self.start()
        self.create_database()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def init(self) -> None:
        bin_dir = server_bin_dir()
        as_user = _run_as()
        if self.directory is None:
            # Under /tmp itself: pytest's tmp_path is mode 0700 to root, which `nobody` cannot enter.
            self.directory = Path(tempfile.mkdtemp(prefix="bench-pg-"))
            self._own_directory = True
        os.chmod(self.directory, 0o755)
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if as_user:
            os.chown(self.directory, as_user["user"], as_user["group"])
            os.chown(pwfile, as_user["user"], as_user["group"])
        os.chmod(pwfile, 0o600)
        result = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.superuser, f"--pwfile={pwfile}",
             "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
             *([] if self.durable else ["--no-sync"])],
            capture_output=True, text=True, cwd=self.directory, check=False, **as_user)
        pwfile.unlink()
        if result.returncode != 0:
            raise FleetError(f"initdb failed in {self.data_dir}: {result.stderr.strip() or result.stdout.strip()}")
        self.port = self.port or _free_port()

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-p", str(self.port),
                   "-c", "max_connections=60", "-c", "shared_buffers=256MB", "-c", "log_min_messages=warning"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - the server keeps it open
        self._process = subprocess.Popen([str(server_bin_dir() / "postgres"), "-D", str(self.data_dir), *options],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                                         start_new_session=True, **_run_as())
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise FleetError(f"postgres exited with {self._process.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self._accepts_logins():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise FleetError(f"postgres did not accept connections within {_START_TIMEOUT_S:.0f} s: {self.log_tail()}")

    def _accepts_logins(self) -> bool:
        import psycopg

        try:
            psycopg.connect(**self.conninfo(dbname="postgres"), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def log_tail(self, lines: int = 20) -> str:
        path = (self.directory or Path(".")) / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def create_database(self, name: str | None = None) -> dict[str, Any]:
        """Create a database (default: `dbname`) if missing; returns its connection keywords."""
        import psycopg

        name = name or self.dbname
        with psycopg.connect(**self.conninfo(dbname="postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.conninfo(dbname=name)

    def conninfo(self, *, user: str | None = None, password: str | None = None,
                 dbname: str | None = None) -> dict[str, Any]:
        """Connection keywords for psycopg.connect (the superuser's unless told otherwise)."""
        return {"host": "127.0.0.1", "port": self.port, "dbname": dbname or self.dbname,
                "user": user or self.superuser, "password": password if user else self.password,
                "sslmode": "disable"}

    def stop(self, how: int = signal.SIGINT) -> None:
        """Stop the server (SIGINT: fast shutdown; SIGKILL: a crash). The data stays."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, how)
            try:
                self._process.wait(timeout=_START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None

    def close(self) -> None:
        self.stop()
        if self._own_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def disk_bytes(self) -> int:
        """Bytes under the data directory (tables, indexes, WAL)."""
        total = 0
        for root, _dirs, files in os.walk(self.data_dir):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        return total
