"""Commands declared once, as the programming guide gives them (PyMeasure's `control` /
`measurement` idea, without its instrument class): a driver lists its settings and
measurements as `Setting`/`Measurement` attributes, each a template with the guide
section it comes from, and builds command strings from them. The declarations are data:
`docs/drivers.md` lists them, tests pin the strings they produce, and a new driver for an
instrument with the same commands is a subclass that declares other templates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Setting:
    """A command that sets a state (replayed after a reconnect), e.g. `SENS{slot}:POW:WAV {nm:g}nm`."""

    template: str
    #: Where the guide gives it ("N77xx Programming Guide ed. 7, SENSe subtree"), or "[verify] ...".
    source: str = ""
    #: Keyword values this setting accepts, checked before anything is sent: name → allowed values.
    choices: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def __call__(self, **values: Any) -> str:
        for key, allowed in self.choices.items():
            if values.get(key) not in allowed:
                raise ValueError(f"{self.template}: {key} = {values.get(key)!r} is not one of {list(allowed)}")
        return self.template.format(**values)

    def each(self, key: str, items: Iterable[Any], **values: Any) -> list[str]:
        """One command per item (per slot, per head), the item given as `key`."""
        return [self(**{key: item}, **values) for item in items]

    @property
    def verified(self) -> bool:
        return bool(self.source) and not self.source.startswith("[verify]")


@dataclass(frozen=True)
class Action(Setting):
    """A command that starts something (a trigger, a zeroing): never replayed."""


@dataclass(frozen=True)
class Measurement:
    """A query and how its reply becomes a value."""

    template: str
    parse: Callable[[str], Any] = str
    source: str = ""

    def __call__(self, **values: Any) -> str:
        return self.template.format(**values)

    @property
    def verified(self) -> bool:
        return bool(self.source) and not self.source.startswith("[verify]")


def declared_commands(driver: type) -> dict[str, Setting | Measurement]:
    """Every command a driver class declares (its own and inherited), by attribute name."""
    found: dict[str, Setting | Measurement] = {}
    for klass in reversed(driver.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Setting | Measurement):
                found[name] = value
    return found


def status(command: Setting | Measurement) -> str:
    """"verified (<source>)" or "unverified (<what was found>)", as docs/drivers.md gives it."""
    if command.verified:
        return f"verified ({command.source})"
    return f"unverified ({command.source.removeprefix('[verify]').strip() or 'no source'})"


def command_table(drivers: dict[str, type]) -> str:
    """The markdown table of every declared command (docs/drivers.md, "Declared commands")."""
    rows = ["| Driver | Declared as | Command | Status |", "|---|---|---|---|"]
    for key, driver in drivers.items():
        for name, command in declared_commands(driver).items():
            rows.append(f"| `{key}` | `{name}` | `{command.template}` | {status(command)} |")
    return "\n".join(rows) + "\n"
