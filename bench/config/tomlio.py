"""Reading TOML files into dicts with errors that name the file and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bench.errors import ConfigError


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "<file>", "file not found or not a regular file",
                          "give the path of an existing .toml file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), "<syntax>", f"malformed TOML ({error})",
                          "correct the syntax at the line and column named") from error
    except UnicodeDecodeError as error:
        raise ConfigError(str(path), "<encoding>", "file is not UTF-8 text",
                          "save the file as UTF-8") from error
