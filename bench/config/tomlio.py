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


class Fields:
    """Typed access to one TOML table that remembers which keys were used.

    Calling `finish()` refuses unknown keys: a misspelt `max_age_hours` must
    not silently fall back to a default on a production bench.
    """

    def __init__(self, table: Any, source: str, prefix: str) -> None:
        if not isinstance(table, dict):
            raise ConfigError(source, prefix or "<root>", f"expected a table, got {type(table).__name__}",
                              f"write [{prefix}] as a TOML table")
        self.table = table
        self.source = source
        self.prefix = prefix
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, fix: str = "") -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                raise ConfigError(self.source, self._name(key), "required field is missing",
                                  fix or f"add '{key} = ...' to the [{self.prefix or 'top level'}] table")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(self.source, self._name(key), f"expected {names}, got {value!r}",
                              fix or f"set '{key}' to a {names}")
        return value

    def positive(self, key: str, default: Any = ..., *, allow_zero: bool = False) -> float:
        value = self.get(key, float, default)
        if value is None:
            return value
        if value < 0 or (value == 0 and not allow_zero):
            raise ConfigError(self.source, self._name(key), f"must be {'≥' if allow_zero else '>'} 0, "
                              f"got {value!r}", f"set '{key}' to a positive number")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(self.source, self._name(unknown[0]), "unknown key",
                              f"remove it or correct the spelling; known keys here: {', '.join(sorted(self.used))}")
