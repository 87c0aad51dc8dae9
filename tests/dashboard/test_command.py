"""`bench dashboard`: listens on 127.0.0.1 unless told otherwise, and refuses a bad file before serving."""

from __future__ import annotations

from bench.cli.main import build_parser, main


def test_the_default_address_is_this_machine_only(tmp_path):
    args = build_parser().parse_args(["dashboard", str(tmp_path / "bench.h5")])
    assert (args.host, args.port) == ("127.0.0.1", 8050)


def test_a_missing_file_is_refused_before_the_server_starts(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path / "nothing.h5")]) == 2
    assert "nothing.h5: no such results file" in capsys.readouterr().err


def test_a_file_that_is_not_a_store_is_refused(tmp_path, capsys):
    path = tmp_path / "notes.h5"
    path.write_text("not hdf5", encoding="utf-8")
    assert main(["dashboard", str(path)]) == 2
    assert "notes.h5" in capsys.readouterr().err


def test_a_bad_port_is_refused(filled_store, capsys):
    assert main(["dashboard", str(filled_store.path), "--port", "70000"]) == 2
    assert "--port must be from 1 to 65535" in capsys.readouterr().err


def test_a_file_and_the_fleet_together_are_refused(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path / "bench.h5"), "--fleet", "host=127.0.0.1"]) == 2
    assert "either a results file or --fleet" in capsys.readouterr().err


def test_an_unreachable_fleet_is_refused_before_the_server_starts(capsys):
    # Port 1 on this machine: nothing listens there, so the connection is refused at once.
    assert main(["dashboard", "--fleet", "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2"]) == 2
    assert "cannot reach the fleet database" in capsys.readouterr().err
