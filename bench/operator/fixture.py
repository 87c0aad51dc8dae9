"""What puts a cable into the test fixture: a person, a handler a line integrator drives, or the simulator."""

from __future__ import annotations

from typing import Protocol


class Fixture(Protocol):
    """Connects a cable by serial and takes it out again.

    `unattended_reference` says the fixture can hold the reference cords without a person
    (the virtual fixture, or a handler that swaps them): only then does `bench line` retake an
    expired reference mid-run instead of stopping.
    """

    unattended_reference: bool

    def connect(self, serial: str) -> None: ...

    def disconnect(self) -> None: ...


class ManualFixture:
    """A real station: a person (or a handler outside the toolkit) connects the cable."""

    unattended_reference = False

    def connect(self, serial: str) -> None:
        return None

    def disconnect(self) -> None:
        return None
