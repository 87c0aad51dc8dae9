"""Every `bench` command explains itself (certificate and lot-report tests: tests/report/)."""

from __future__ import annotations

import pytest

from bench.cli.main import build_parser


def test_every_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--help"])
    assert done.value.code == 0
    top = capsys.readouterr().out
    for command in ("demo", "run", "line", "certificate", "report", "verify", "export", "query", "lot-stats"):
        assert f"    {command}" in top
    assert "exit status" in top
    for command, phrase in (("run", "Ctrl-C during a measurement aborts that cable"),
                            ("line", "Exit status: 0 every cable PASS"),
                            ("certificate", "per-fiber IL per wavelength"),
                            ("report", "box plots per fiber position")):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert phrase in text, command
