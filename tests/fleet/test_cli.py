"""`bench sync` and `bench fleet ...` as a person types them: output, JSON, exit status."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.cli.main import main
from bench.fleet.tempserver import TempServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def station_file(tmp_path: Path, pg_server: TempServer, fleet_db: dict[str, Any], lot_store: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PGPASSWORD", pg_server.password)
    text = (REPO / "bench/examples/station_demo.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^store_path\s*=.*$", "", text)
    text = text.replace("[station]\n", f'[station]\nstore_path = "{lot_store}"\n', 1)
    path = tmp_path / "station.toml"
    path.write_text(text + f'\n[fleet]\nhost = "127.0.0.1"\nport = {pg_server.port}\ndbname = "{fleet_db["dbname"]}"'
                    f'\nuser = "{pg_server.superuser}"\n', encoding="utf-8")
    return path


def test_sync_then_yield_as_json(station_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--station", str(station_file), "--json"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert (sent["cables_new"], sent["ok"]) == (100, True)
    assert main(["sync", "--station", str(station_file)]) == 0
    assert "0 new record(s)" in capsys.readouterr().out

    assert main(["fleet", "yield", "--station", str(station_file), "--lot", "L42", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["lot"], row["serials"], row["final_passed"], row["first_pass_yield"]) == ("L42", 100, 98, 0.98)

    assert main(["fleet", "positions", "--station", str(station_file), "--lot", "L42", "--wavelength-nm", "1550",
                 "--fiber-position", "1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["lot", "product", "station_name"] and len(table) == 2

    assert main(["fleet", "results", "--station", str(station_file), "--lot", "L42", "--outcome", "FAIL",
                 "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [c["outcome"] for c in results["cables"]] == ["FAIL", "FAIL"]


def test_check_and_sync_exit_1_on_a_changed_record(station_file: Path, fleet_db: dict[str, Any],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--station", str(station_file)]) == 0
    assert main(["fleet", "check", "--station", str(station_file)]) == 0
    assert "OK" in capsys.readouterr().out
    with psycopg.connect(**fleet_db) as conn:
        conn.execute("UPDATE fleet.cables SET lot = 'L43', sha256 = repeat('1', 64) WHERE record_index = 5")
    assert main(["fleet", "check", "--station", str(station_file)]) == 1
    assert "record 5 (MTP12-000006) differs on the server: lot, sha256" in capsys.readouterr().out
    assert main(["sync", "--station", str(station_file), "--resend-from", "5"]) == 1
    assert "INCIDENT changed_record" in capsys.readouterr().err


def test_unknown_filter_and_missing_table_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    station = str(REPO / "bench/examples/station_demo.toml")
    assert main(["sync", "--station", station]) == 2
    assert "[fleet]" in capsys.readouterr().err


def test_migrate_on_a_current_schema_does_nothing(station_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "migrate", "--station", str(station_file)]) == 0
    assert capsys.readouterr().out.strip() == "schema already current"
