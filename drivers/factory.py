"""Open an instrument by driver name (or by what `*IDN?` says) on a chosen VISA backend.

Backends: the system VISA or pyvisa-py (`@py`) for real instruments,
pyvisa-sim (`file.yaml@sim`) for protocol fakes, and pyvisa-py sockets for the
virtual bench; the driver code is the same in all three.
"""

from __future__ import annotations

from typing import Any

import pyvisa

from drivers.dicon_gp700 import DiconGP700
from drivers.dicon_mems import DiconMems
from drivers.errors import InstrumentTimeout, WrongInstrumentError
from drivers.exfo_iqs_source import ExfoIqsSource
from drivers.generic_scpi_source import GenericScpiSource
from drivers.identity import parse_identity
from drivers.keysight_816x_source import Keysight816xSource
from drivers.keysight_8163_sensor import Keysight8163Sensor
from drivers.keysight_n773x import KeysightN773x
from drivers.keysight_n774x import KeysightN774x
from drivers.options import check_options
from drivers.scpi import ScpiInstrument
from drivers.thorlabs_pm100 import ThorlabsPM100
from drivers.transport import disable_nagle

# Order matters for "auto": the first driver whose `models` lists the *IDN?
# model wins. 816x mainframes carry sources and sensors alike, so "auto" opens
# them as a source; give `driver = "keysight_8163_sensor"` for sensor slots.
# DiCon MEMS modules do not answer *IDN? and need their driver named.
DRIVERS: dict[str, type[ScpiInstrument]] = {
    "keysight_n774x": KeysightN774x,
    "keysight_816x_source": Keysight816xSource,
    "keysight_n773x": KeysightN773x,
    "keysight_8163_sensor": Keysight8163Sensor,
    "thorlabs_pm100": ThorlabsPM100,
    "exfo_iqs_source": ExfoIqsSource,
    "generic_scpi_source": GenericScpiSource,
    "dicon_mems": DiconMems,
    "dicon_gp700": DiconGP700,
}


def register_driver(key: str, driver: type[ScpiInstrument]) -> None:
    DRIVERS[key] = driver


def driver_for_model(model: str) -> str:
    for key, driver in DRIVERS.items():
        if driver.models and model in driver.models:
            return key
    raise KeyError(model)


def driver_options(driver: str, options: dict[str, Any], where: str) -> dict[str, Any]:
    """`options` checked against driver `driver`'s typed options (see `drivers.options`)."""
    options_type = getattr(DRIVERS[driver], "Options", None)
    if options_type is None:
        return options
    return check_options(options_type, options, f"{where} (driver {driver!r})")


def open_resource(resource_manager: pyvisa.ResourceManager, address: str, timeout_s: float) -> Any:
    resource = resource_manager.open_resource(address)
    resource.timeout = int(timeout_s * 1000)
    disable_nagle(resource)
    return resource


def open_instrument(resource_manager: pyvisa.ResourceManager, *, driver: str, address: str,
                    name: str = "", model: str = "", timeout_s: float = 5.0,
                    options: dict[str, Any] | None = None) -> ScpiInstrument:
    """Open `address` with driver `driver` ("auto": choose from `*IDN?`).

    A named driver's options are checked against its `Options` before the address is opened."""
    options = dict(options or {})
    if driver != "auto":
        if driver not in DRIVERS:
            raise ValueError(f"{name or address}: unknown driver {driver!r}; use one of "
                             f"{', '.join(sorted(DRIVERS))} or 'auto'")
        options = driver_options(driver, options, name or address)
    resource = open_resource(resource_manager, address, timeout_s)
    try:
        if driver == "auto":
            # RS-232 instruments conventionally end commands in CR; sockets, GPIB and USB in LF.
            resource.read_termination = "\n"
            resource.write_termination = "\r" if address.upper().startswith("ASRL") else "\n"
            try:
                reply = resource.query("*IDN?")
            except pyvisa.errors.VisaIOError as error:
                raise InstrumentTimeout(name or address, "*IDN?",
                                        f"no identity reply ({error}); instruments that do not answer *IDN? "
                                        "(DiCon MEMS) need their driver named in the station config") from error
            identity = parse_identity(reply, address)
            try:
                driver = driver_for_model(identity.model)
            except KeyError:
                raise WrongInstrumentError(name or address, "*IDN?",
                                           f"no driver knows model {identity.model!r}; known drivers: "
                                           f"{', '.join(sorted(DRIVERS))}") from None
            options = driver_options(driver, options, name or address)
        instrument = DRIVERS[driver](resource, name=name or address, timeout_s=timeout_s, **options)
    except BaseException:
        resource.close()
        raise
    if model and instrument.identity.model != model:
        instrument.close()
        raise WrongInstrumentError(name or address, "*IDN?",
                                   f"expected model {model!r} but the instrument is a "
                                   f"{instrument.identity.model!r}; fix the station config or the cabling")
    return instrument
