"""Bad input: station files, serial strings, store paths, a full disk; configs are data, replies are data."""

from __future__ import annotations

import ast
import errno
import os
import socket
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.config.recipe import parse_recipe
from bench.config.station import load_station
from bench.config.tomlio import read_toml
from bench.errors import ConfigError, StoreError
from bench.report.files import create_exclusive, safe_file_stem
from bench.run.session import TestSession
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results, verify_store
from sim_instruments.physics import make_cable
from sim_instruments.scpi_server import SimulatedInstrument, TcpInstrumentServer
from tests.faults.conftest import SEED, Line, make_line

REPO = Path(__file__).resolve().parents[2]
STATION_TEXT = Path(example_path("station_demo.toml")).read_text(encoding="utf-8")


# -- station files ---------------------------------------------------------------------------
@pytest.mark.parametrize(("edit", "field", "problem"), [
    (lambda t: t.replace('name = "demo-bench-1"', 'name = "demo-bench-1'), "<syntax>", "malformed TOML"),
    (lambda t: t.replace("[timing]", "[timing]\nsettle_timeout = 3"), "timing.settle_timeout", "unknown key"),
    (lambda t: t.replace("max_age_h = 8 ", 'max_age_h = "8"'), "reference.max_age_h", "expected a number"),
    (lambda t: t.replace('backend = "virtual"', "backend = 1"), "station.backend", "expected text"),
    (lambda t: t.replace('role = "switch"', 'role = "meter"'), "instruments", "no instrument with role 'switch'"),
    (lambda t: t.replace('"meter2:4"]', '"meter3:4"]'), "fixture.receive_channels[11]", "is not '<meter name>"),
    (lambda t: t.replace("slot = 1\n", "slot = 1\ntimeout_s = -1\n"), "instruments[0].timeout_s", "not positive"),
    (lambda t: t.replace("[fixture]", "[fixtures]"), "fixture", "required field is missing"),
], ids=["malformed", "unknown-key", "wrong-type-number", "wrong-type-string", "missing-instrument",
        "unknown-meter", "negative-timeout", "misspelt-table"])
def test_bad_station_file_is_refused_with_file_field_and_fix(tmp_path: Path, edit, field: str, problem: str) -> None:
    path = tmp_path / "station.toml"
    text = edit(STATION_TEXT)
    assert text != STATION_TEXT, "the edit did not apply"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_station(path)
    assert raised.value.source == str(path)
    assert raised.value.field.startswith(field.split("[")[0]) and problem in raised.value.problem
    assert raised.value.fix


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b""], ids=["not-utf8", "empty"])
def test_unreadable_or_empty_station_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "station.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        load_station(path)


def test_directory_as_station_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        load_station(tmp_path)


# -- serial numbers -------------------------------------------------------------------------
NASTY_SERIALS = ["../../etc/passwd", "a/b/c", "..", "/abs", "Ünïcødé-序列号-🔌", "x" * 64, "cables/0001", "-rf",
                 "quote'\"<>&|;$(id)", "\u202eRTL", "sp ace"]
CONTROL_SERIALS = ["tab\there", "nul\x00byte", "esc\x1b[31mred", "new\nline", "del\x7f"]
TOO_LONG = ["x" * 65, "序" * 22, "y" * 100_000]


@pytest.fixture
def permissive_line(fault_bench, fault_station, tmp_path: Path) -> Line:
    data = read_toml(example_path("recipe_demo.toml"))
    data["cable"].pop("serial_pattern", None)
    made = make_line(fault_bench, fault_station, tmp_path / "serials.h5")
    made.session = TestSession(fault_station, parse_recipe(
        data, "<permissive>", station_wavelengths_nm=fault_station.config.wavelengths_nm,
        station_fiber_capacity=fault_station.config.fiber_capacity), made.store, operator="op", lot="L")
    fault_bench.clear_faults()
    yield made
    made.store.close()


def test_nasty_serials_are_data_never_paths(permissive_line: Line, tmp_path: Path) -> None:
    line = permissive_line
    before = set(os.listdir(tmp_path))
    line.reference()
    for serial in NASTY_SERIALS:
        line.test(make_cable(serial, seed=SEED))
    assert set(os.listdir(tmp_path)) == before  # no file or folder was created from a serial
    line.store.close()
    line.assert_store_intact()
    results = load_results(line.path)
    assert list(results.cables["serial"]) == NASTY_SERIALS  # stored exactly, whatever the characters
    names: list[str] = []
    with h5py.File(line.path, "r") as f:
        f.visit(names.append)
        names += list(f.attrs)
    assert not any(part in name for name in names for part in ("etc", "passwd", "序列号", "cables/0001"))


@pytest.mark.parametrize("serial", NASTY_SERIALS + CONTROL_SERIALS + TOO_LONG)
def test_certificate_file_names_are_sanitised(tmp_path: Path, serial: str) -> None:
    stem = safe_file_stem(serial)
    assert stem and "/" not in stem and "\\" not in stem and not stem.startswith((".", "-"))
    assert stem.isascii() and stem.isprintable() and len(stem) <= 90
    path, handle = create_exclusive(tmp_path, stem, ".pdf")
    handle.close()
    assert path.parent == tmp_path


def test_serials_differing_only_in_unsafe_characters_get_distinct_names() -> None:
    assert safe_file_stem("A/1") != safe_file_stem("A\\1") != safe_file_stem("A_1")


@pytest.mark.parametrize("serial", CONTROL_SERIALS + TOO_LONG)
def test_control_characters_or_overlong_serial_refused_before_measuring(permissive_line: Line, serial: str) -> None:
    permissive_line.reference()
    with pytest.raises(ConfigError, match="control character|bytes long"):
        permissive_line.session.test_cable(serial)
    permissive_line.store.close()
    permissive_line.assert_store_intact()  # nothing stored


def test_empty_serial_is_refused(permissive_line: Line) -> None:
    permissive_line.reference()
    with pytest.raises(ConfigError, match="empty"):
        permissive_line.session.test_cable("   ")


# -- store paths ---------------------------------------------------------------------------------
def test_store_path_directory_read_only_and_newer_schema_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        ResultStore(tmp_path)
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root writes anywhere: the check is meaningful for users only
            with pytest.raises(StoreError, match="read-only"):
                ResultStore(locked / "r.h5")
    finally:
        locked.chmod(0o700)
    newer = tmp_path / "newer.h5"
    ResultStore(newer).close()
    with h5py.File(newer, "a") as f:
        f.attrs["schema_version"] = int(f.attrs["schema_version"]) + 1
    with pytest.raises(StoreError, match="newer|version"):
        ResultStore(newer)


@pytest.mark.parametrize("disk_full_error", [
    OSError(errno.ENOSPC, "No space left on device"),
    # What h5py actually raises when HDF5's own flush hits ENOSPC (seen on a full 1 MiB tmpfs).
    RuntimeError("Unable to synchronously flush file (file write failed: errno = 28, "
                 "error message = 'No space left on device')"),
], ids=["oserror", "h5py-runtimeerror"])
def test_full_disk_is_a_clear_error_and_loses_nothing(line: Line, monkeypatch, disk_full_error) -> None:
    """HDF5's flush before the record's row is written fails with ENOSPC (once: the rollback's own
    flush finds space again): a StoreError names it, nothing half-written stays, every earlier
    record is intact and the store opens again."""
    line.reference()
    kept = [line.test() for _ in range(2)]
    flush = h5py.File.flush
    failed: list[BaseException] = []

    def full_once(self):  # noqa: ANN001, ANN202
        if not failed:
            failed.append(disk_full_error)
            raise disk_full_error
        flush(self)

    with monkeypatch.context() as patch:
        patch.setattr(h5py.File, "flush", full_once)
        with pytest.raises(StoreError, match="No space left"):
            line.test()
    assert failed == [disk_full_error]
    line.returned = list(kept)
    after = line.test()  # space again: the same store takes the next cable
    assert after.outcome == "PASS" and after.record_index == kept[-1].record_index + 1
    line.store.close()
    line.assert_store_intact()
    with ResultStore(line.path, fsync=False) as reopened:
        assert len(reopened) == 3


# -- security ------------------------------------------------------------------------------------
def test_configs_are_data_no_eval_no_pickle_no_unsafe_yaml_no_shell() -> None:
    banned_calls = {"eval", "exec", "compile", "__import__"}
    banned_modules = {"pickle", "marshal", "shelve", "dill", "yaml"}
    for package in ("bench", "drivers", "procedures", "sim_instruments"):
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    assert node.func.id not in banned_calls, f"{path}:{node.lineno}: {node.func.id}()"
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                             else [node.module or ""])
                    assert not banned_modules & {n.split(".")[0] for n in names}, f"{path}:{node.lineno}"
                if isinstance(node, ast.keyword) and node.arg == "shell":
                    assert not (isinstance(node.value, ast.Constant) and node.value.value), f"{path}:{node.lineno}"


def test_simulator_servers_bind_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        TcpInstrumentServer(SimulatedInstrument(), host="0.0.0.0")
    server = TcpInstrumentServer(SimulatedInstrument())
    try:
        # What the kernel says listens on the server's port: one IPv4 socket on 127.0.0.1, nothing else.
        assert _listening_on(server.port) == [("tcp", "127.0.0.1")]
        assert server.address == f"TCPIP0::127.0.0.1::{server.port}::SOCKET"
    finally:
        server.close()
    assert _listening_on(server.port) == []


def _listening_on(port: int) -> list[tuple[str, str]]:
    """(table, local address) of every listening TCP socket on `port`, from /proc/net/tcp and tcp6 (Linux)."""
    found = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address_hex, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address_hex)
                # The kernel prints each 32-bit word of the address in host (little-endian) order.
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((table, socket.inet_ntop(socket.AF_INET if table == "tcp" else socket.AF_INET6, words)))
    return found


def test_virtual_bench_listens_on_loopback_only(fault_bench) -> None:
    for address in fault_bench.addresses.values():
        assert address.startswith(("TCPIP0::127.0.0.1::", "ASRL/dev/"))


def test_instrument_replies_are_data_never_paths_or_code(tmp_path: Path, fault_config) -> None:
    """An identity full of path and shell characters is stored verbatim and creates nothing."""
    from bench.run.station import open_station
    from sim_instruments.virtual_bench import VirtualBench

    evil = "Keysight Technologies,N7734A,../../$(touch pwned);rm -rf ~,`id`"
    with VirtualBench(fault_config, seed=SEED) as bench:
        bench.instruments["switch"].idn = evil
        with open_station(fault_config, addresses=bench.addresses) as station:
            line = make_line(bench, station, tmp_path / "evil.h5")
            before = set(os.listdir(tmp_path))
            line.reference()
            outcome = line.test()
            line.store.close()
    assert outcome.outcome == "PASS"
    assert set(os.listdir(tmp_path)) == before and not (REPO / "pwned").exists()
    switch = next(row for row in load_results(line.path).instruments(outcome.record_index) if row["name"] == "switch")
    assert switch["serial_number"] == "../../$(touch pwned);rm -rf ~" and switch["firmware"] == "`id`"
    assert verify_store(line.path).ok
    np.testing.assert_array_equal(outcome.record.power_matrix_dbm.shape, (2, 12, 12))
