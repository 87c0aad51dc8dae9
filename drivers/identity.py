"""What `*IDN?` says, and whether a unit is the one a driver drives (or was opened on)."""

from __future__ import annotations

from drivers.capabilities import InstrumentIdentity
from drivers.errors import WrongInstrumentError


def parse_identity(reply: str, address: str = "") -> InstrumentIdentity:
    """Split an `*IDN?` reply into maker, model, serial and firmware (quotes around it tolerated)."""
    fields = [part.strip() for part in reply.strip().strip('"').split(",")]
    fields += [""] * (4 - len(fields))
    manufacturer, model, serial_number = fields[0], fields[1], fields[2]
    firmware = ",".join(fields[3:]).strip(",")
    return InstrumentIdentity(manufacturer, model, serial_number, firmware, address)


def is_identity_reply(reply: str) -> bool:
    """At least maker, model and serial: anything less is a garbled reply, not an identity."""
    return reply.count(",") >= 2


def same_unit(was: InstrumentIdentity, now: InstrumentIdentity) -> bool:
    return (now.manufacturer, now.model, now.serial_number) == (was.manufacturer, was.model, was.serial_number)


def check_model(name: str, driver: str, identity: InstrumentIdentity, models: tuple[str, ...]) -> None:
    """Refuse a model this driver does not drive (an empty `models` accepts any)."""
    if models and identity.model not in models:
        raise WrongInstrumentError(
            name, "*IDN?", f"reports model {identity.model!r}, but this driver ({driver}) drives "
            f"{', '.join(models)}; check the station config's model/address for this instrument")


def replaced_text(was: InstrumentIdentity, now: InstrumentIdentity) -> str:
    return (f"the instrument was replaced: it was {was.manufacturer} {was.model} serial {was.serial_number}, "
            f"it is now {now.manufacturer} {now.model} serial {now.serial_number}; its calibration and the "
            "reference no longer apply: close and reopen the station, check the config, take a new reference")
