"""The `[[instruments]]` tables: common fields plus the options each driver declares.

A driver declares its options either as a frozen dataclass `Driver.Options` (types, and in the
field metadata the range or choices, see `drivers.options`) or, until it has one, through the
keyword-only parameters of its constructor (types and defaults, no ranges). From that
declaration this module builds one strict pydantic model per driver; the station file's
instrument table is validated against the model its `driver` names (`driver = "auto"` with a
`model` uses the driver that model selects), so `slot = "1"`, `slots = [1, "x"]` or a misspelt
`adress` are refused with the file and the field before any address is opened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import inspect
import types
import typing
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Discriminator, Field, Tag

from bench.config.schema import STRICT, Name, Text, date_from_text, quantity, register_tags
from drivers.factory import DRIVERS, driver_for_model
from drivers.options import BASE_OPTIONS

ROLES = ("meter", "source", "switch")
AUTO = "auto"


class InstrumentEntry(pydantic.BaseModel):
    """Fields every instrument table has, whatever its driver."""

    model_config = STRICT

    name: Name
    role: Literal["meter", "source", "switch"]
    driver: Name
    model: Text = ""
    address: Text = Field("", description="VISA resource string; ignored on a virtual station")
    timeout_s: float = quantity(0, 600, "I/O timeout of one exchange", default=5.0, exclusive_minimum=True)
    calibration_due: dt.date | None = Field(None, description="YYYY-MM-DD (quoted or a TOML date)")
    calibration_date: dt.date | None = Field(None, description="last calibration, YYYY-MM-DD")

    @pydantic.field_validator("calibration_due", "calibration_date", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        return date_from_text(value)

    @pydantic.model_validator(mode="after")
    def _calibrated_before_due(self) -> InstrumentEntry:
        if self.calibration_due and self.calibration_date and self.calibration_date > self.calibration_due:
            raise ValueError(f"calibration_date {self.calibration_date} is after the calibration_due date "
                             f"{self.calibration_due}; check both dates on the calibration certificate")
        return self

    def options(self) -> dict[str, Any]:
        """The driver options the file set (not the driver's defaults)."""
        return {key: getattr(self, key) for key in self.model_fields_set - set(InstrumentEntry.model_fields)}


def _bounded(annotation: Any, metadata: typing.Mapping[str, Any]) -> Any:
    """`annotation` with the option's declared range applied to it, or to each item of a tuple."""
    minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
    if minimum is None and maximum is None:
        return annotation
    limits = Field(ge=minimum, le=maximum)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_bounded(arg, metadata) for arg in typing.get_args(annotation))]  # noqa: UP007
    if origin is tuple:
        return tuple[Annotated[typing.get_args(annotation)[0], limits], ...]
    if annotation in (int, float):
        return Annotated[annotation, limits]
    return annotation


# Physical ranges of options a driver declares only through its constructor (no `Options` with
# metadata yet): the station layer will not pass a slot 0 or a port count of a million.
FALLBACK_RANGES: dict[str, dict[str, float]] = {
    "slot": {"minimum": 1, "maximum": 17}, "module": {"minimum": 1, "maximum": 16},
    "channel": {"minimum": 1, "maximum": 4}, "port_count": {"minimum": 1, "maximum": 1024},
    "lins": {"minimum": 0, "maximum": 32}, "baud_rate": {"minimum": 300, "maximum": 4_000_000},
    "echo_lines": {"minimum": 0, "maximum": 8}, "data_bits": {"minimum": 5, "maximum": 8},
    "stop_bits": {"minimum": 1, "maximum": 2}, "sample_time_s": {"minimum": 0.0001, "maximum": 10},
    "range_w": {"minimum": 0, "maximum": 10}, "wavelengths_nm": {"minimum": 600, "maximum": 1700},
}


def _declared_options(driver: type) -> dict[str, tuple[Any, Any]]:
    """option name → (annotation with range, default) as the driver declares them."""
    declared = getattr(driver, "Options", None)
    if declared is not None and dataclasses.is_dataclass(declared):
        hints = typing.get_type_hints(declared)
        return {item.name: (Annotated[_bounded(hints[item.name], item.metadata),
                                      Field(description=item.metadata.get("help") or None)],
                            item.default if item.default is not dataclasses.MISSING else ...)
                for item in dataclasses.fields(declared)}
    options: dict[str, tuple[Any, Any]] = {}
    # The constructor passes **kwargs up the class tree (SerialInstrument takes baud_rate, ...).
    for klass in driver.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # noqa: BLE001 - an unresolvable hint leaves that option untyped, not the file unread
            hints = {}
        parameters = inspect.signature(init).parameters.values()
        for parameter in parameters:
            if parameter.kind is parameter.KEYWORD_ONLY and parameter.name not in BASE_OPTIONS:
                default = ... if parameter.default is parameter.empty else parameter.default
                annotation = _bounded(hints.get(parameter.name, Any), FALLBACK_RANGES.get(parameter.name, {}))
                options.setdefault(parameter.name, (annotation, default))
        if not any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
            break
    return options


@functools.cache
def entry_model(driver: str) -> type[InstrumentEntry]:
    """The instrument-table model of one driver: the common fields, its options, `driver` fixed."""
    options = _declared_options(DRIVERS[driver]) if driver != AUTO else {}
    return pydantic.create_model(f"Instrument_{driver}", __base__=InstrumentEntry,
                                 driver=(Literal[driver, AUTO], ...), **options)


def _tag(table: Any) -> str:
    if not isinstance(table, dict):
        return AUTO
    driver = table.get("driver")
    if driver == AUTO:
        try:
            return driver_for_model(table.get("model", ""))
        except (KeyError, TypeError):
            return AUTO
    return driver if isinstance(driver, str) else ""


def instrument_union() -> Any:
    """The type of one `[[instruments]]` table: one model per registered driver, chosen by `driver`."""
    register_tags(*DRIVERS, AUTO)
    members = [Annotated[entry_model(key), Tag(key)] for key in (*DRIVERS, AUTO)]
    return Annotated[typing.Union[tuple(members)], Discriminator(_tag)]  # noqa: UP007
