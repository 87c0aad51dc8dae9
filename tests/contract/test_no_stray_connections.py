"""A virtual station opens only what it starts: the addresses written in its file are never dialled."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.config.station import load_station
from bench.errors import ConfigError
from bench.run.station import open_station
from bench.sim_launch import example_path, open_virtual_station


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1 standing in for whatever answers at a configured address."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def _dialled(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def _station_at(tmp_path: Path, port: int) -> Path:
    text = Path(example_path("station_demo.toml")).read_text(encoding="utf-8")
    for host in range(10, 14):
        text = text.replace(f"TCPIP0::192.0.2.{host}::5025::SOCKET", f"TCPIP0::127.0.0.1::{port}::SOCKET")
    path = tmp_path / "station.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_open_station_refuses_a_virtual_station_without_its_bench(tmp_path: Path, listener: socket.socket) -> None:
    config = load_station(_station_at(tmp_path, listener.getsockname()[1]))
    with pytest.raises(ConfigError) as refused:
        open_station(config)
    assert refused.value.field == "station.backend" and "sim_launch" in refused.value.fix
    assert not _dialled(listener)


def test_the_virtual_bench_and_bench_line_never_dial_the_file_addresses(tmp_path: Path, listener: socket.socket,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    station = _station_at(tmp_path, listener.getsockname()[1])
    with open_virtual_station(station) as opened:
        assert opened.instruments.source is not None
    assert main(["line", "--station", str(station), "--recipe", str(example_path("recipe_demo.toml")),
                 "--operator", "op", "--lot", "L", "--store", str(tmp_path / "r.h5"), "MTP12-000001"]) == 0
    capsys.readouterr()
    assert not _dialled(listener)
