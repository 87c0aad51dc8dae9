"""The SCPI base every driver builds on: one class composed of small parts with one job each.

* `drivers.transport` — lines to and from the instrument through public PyVISA calls;
* `drivers.identity` — `*IDN?` parsing, the model check, "is this still the same unit";
* `drivers.error_queue` — `SYST:ERR?` after configuration, asked ahead after a cable;
* `drivers.over_range` — over-range sentinels and tolerant power replies;
* `drivers.recovery` — bounded reconnect-and-repeat, and the configuration it replays.

A driver says which models it drives (`models`), its options (a typed dataclass,
`drivers.options`) and its commands (`drivers.declarative`); what must be the same for
every instrument lives here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from drivers.capabilities import InstrumentIdentity
from drivers.error_queue import ErrorQueue, parse_error
from drivers.errors import InstrumentCommunicationError, InstrumentError
from drivers.identity import check_model, is_identity_reply, parse_identity, replaced_text, same_unit
from drivers.over_range import OVER_RANGE_THRESHOLD, OVER_RANGE_THRESHOLD_816X, is_over_range
from drivers.recovery import (
    ConfigurationMemory,
    InstrumentReplacedError,
    Recovery,
    RetryBudget,
    recovering,
)
from drivers.transport import REPLY_WAITS, LineTransport

__all__ = ["OVER_RANGE_THRESHOLD", "OVER_RANGE_THRESHOLD_816X", "REPLY_WAITS", "InstrumentReplacedError",
           "Recovery", "RetryBudget", "ScpiInstrument", "is_over_range", "parse_error", "parse_identity"]

# Driver caches of instrument state ("unknown" values); see `invalidate_state`.
_STATE_CACHES: dict[str, Any] = {"_wavelength_nm": None, "_averaging_time_s": None, "_average_count": None,
                                 "_output": None, "_position": None, "_setup_done": False}


class ScpiInstrument(ErrorQueue, LineTransport):
    """Base for SCPI instruments reached through a PyVISA message-based resource."""

    #: Model names (as in `*IDN?`) this driver accepts; empty accepts any.
    models: tuple[str, ...] = ()
    #: Operations repeated after a link failure (see `drivers.recovery`); each must be idempotent.
    recoverable_operations: ClassVar[tuple[str, ...]] = (
        "setup", "configure", "set_wavelength", "set_output", "select", "trigger", "fetch", "read_all",
        "begin_fetch", "end_fetch")
    #: Before repeating operation K, call methods V in order: a fetch needs a fresh trigger (a reading
    #: taken before the fault must never come back as a new one), the reply of a split fetch its query.
    retrigger_before: ClassVar[dict[str, tuple[str, ...]]] = {
        "fetch": ("trigger",), "begin_fetch": ("trigger",), "end_fetch": ("trigger", "begin_fetch")}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.recoverable_operations:
            # getattr, not cls.__dict__: an operation inherited from a mixin must be wrapped too.
            operation = getattr(cls, name, None)
            if callable(operation) and not getattr(operation, "recovers_link_failures", False):
                setattr(cls, name, recovering(name, operation))

    def __init__(self, resource: Any, *, name: str = "", timeout_s: float = 5.0,
                 check_identity: bool = True, max_recoveries: int = 2,
                 retry_budget: RetryBudget | None = None) -> None:
        self.resource = resource
        self.name = name or getattr(resource, "resource_name", type(self).__name__)
        self.timeout_s = timeout_s
        #: Recoveries (reconnect + repeat) allowed to one operation; 0 disables recovery.
        self.max_recoveries = int(max_recoveries)
        self.retry_budget = retry_budget if retry_budget is not None else RetryBudget()
        self.replaced_by: InstrumentIdentity | None = None
        #: True after a link failure that was not recovered; `reconnect()` clears it.
        self.link_suspect = False
        self._operation_depth = 0
        self._configuration = ConfigurationMemory()
        self._check_identity = check_identity
        self._configure_resource(timeout_s)
        self.identity = self._read_identity() if check_identity else InstrumentIdentity(
            "", "", "", "", self.name)
        if check_identity:
            check_model(self.name, type(self).__name__, self.identity, self.models)

    def _configure_resource(self, timeout_s: float) -> None:
        self._configure_transport(timeout_s)

    @property
    def links(self) -> frozenset[str]:
        """The VISA resources this instrument talks through (instruments sharing one are
        commanded one after the other)."""
        address = getattr(self.resource, "resource_name", None)
        return frozenset({str(address)}) if address else frozenset()

    # -- identity ------------------------------------------------------------------------
    def _read_identity(self) -> InstrumentIdentity:
        reply = self.query("*IDN?")
        if not is_identity_reply(reply):
            raise InstrumentCommunicationError(self.name, "*IDN?", f"malformed identity {reply!r}")
        return parse_identity(reply, self.name)

    def identities(self) -> list[InstrumentIdentity]:
        return [self.identity]

    # -- configuration -------------------------------------------------------------------
    def send_configuration(self, commands: Iterable[str], completes_in_s: float = 0.0) -> None:
        """Send configuration commands, checking the error queue after each step. The error
        query is answered once a command has completed: `completes_in_s` (a wavelength change,
        a switch settle, from the data sheet) says when that will be."""
        for command in commands:
            self.write(command)
            if completes_in_s:
                self._expect_reply_at(self.clock() + completes_in_s)
            self.check_errors(command)
            self._remember(command)

    def _remember(self, command: str) -> None:
        """Keep the last command per header, to restore the instrument's state after a reconnect."""
        self._configuration.remember(command)

    # -- recovery ------------------------------------------------------------------------
    def _can_reconnect(self) -> bool:
        return callable(getattr(self.resource, "open", None)) and hasattr(self.resource, "session")

    def _may_recover(self, operation: str, error: InstrumentError, recoveries: int) -> bool:
        if recoveries >= self.max_recoveries or not self._can_reconnect():
            return False
        return self.retry_budget.spend(Recovery(self.name, operation, error.command, error.detail))

    def _refuse_if_replaced(self) -> None:
        if self.replaced_by is not None:
            raise InstrumentReplacedError(self.name, "*IDN?", self.replacement_text())

    def replacement_text(self) -> str:
        """What the operator is told once `replaced_by` is set (another unit answers here)."""
        assert self.replaced_by is not None
        return replaced_text(self.identity, self.replaced_by)

    def reconnect(self) -> None:
        """Open a fresh session, verify the identity, restore the last configuration.

        Raises InstrumentCommunicationError if the instrument cannot be reached and
        InstrumentReplacedError if `*IDN?` names another unit than at opening.
        """
        try:
            self.resource.close()
        except Exception:  # noqa: BLE001 - the old session is already dead
            pass
        try:
            self.resource.open()
        except Exception as error:  # noqa: BLE001
            raise InstrumentCommunicationError(
                self.name, "reconnect", f"cannot reopen {getattr(self.resource, 'resource_name', '')} "
                f"({type(error).__name__}: {error}); check the instrument's power and cable") from error
        self._configure_resource(self.timeout_s)
        self._after_reconnect()
        if self._check_identity:
            identity = self._read_identity()
            if not same_unit(self.identity, identity):
                identity = self._read_identity()  # a garbled reply must not pass for a new unit
                if not same_unit(self.identity, identity):
                    self.replaced_by = identity
                    raise InstrumentReplacedError(self.name, "*IDN?", replaced_text(self.identity, identity))
        self.restore_state()
        self.link_suspect = False

    def _after_reconnect(self) -> None:
        """What a driver forgets with the old session (armed triggers, owed replies)."""
        self._discard_outbox()

    def restore_state(self) -> None:
        """Re-send the configuration last sent (the instrument may have lost it), in the order sent."""
        self.send_configuration(self._configuration.take())

    def invalidate_state(self) -> None:
        """Forget what the driver believes about the instrument's state, so that the next
        operation sends every setting again (after a fault, the state is unknown)."""
        for attribute, unknown in _STATE_CACHES.items():
            if attribute in vars(self):
                setattr(self, attribute, unknown)

    def close(self) -> None:
        try:
            self.resource.close()
        except Exception:  # noqa: BLE001 - closing a dead link must not mask the real error
            pass
