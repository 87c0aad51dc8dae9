"""Exit codes a line script can branch on, the same for every `bench` command (docs/operator.md).

| code | meaning |
|------|---------|
| 0    | done: every cable tested PASS (line, run), the store verified intact (verify), the file written |
| 1    | some measured cable did not PASS (FAIL, CONDITIONAL); verify: a record does not match its hash |
| 2    | refused: bad input (configuration, serial, arguments, a store that cannot be used) or a cable ERROR |
| 3    | the results store is DAMAGED (part of it cannot be read; what could be read is intact) |
| 4    | internal error: a bug in the toolkit, never a verdict on a cable (traceback on stderr) |
| 130  | interrupted (Ctrl-C or SIGTERM): the cable under test is stored ABORTED, the summary written |

`bench verify`'s own codes (`bench.store.VerifyExit`: OK 0, TAMPERED 1, REFUSED 2, DAMAGED 3) are
these, with "FAIL" read as "a record failed its check".
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from bench.records import Outcome


class ExitCode(IntEnum):
    PASS = 0
    FAIL = 1
    REFUSED = 2
    DAMAGED = 3
    INTERNAL = 4
    INTERRUPTED = 130


def exit_code_for(verdicts: Iterable[str]) -> ExitCode:
    """PASS when every cable passed (or none was tested), REFUSED when any was an ERROR,
    INTERRUPTED when any was ABORTED, else FAIL (a FAIL or CONDITIONAL)."""
    verdicts = list(verdicts)
    if Outcome.ERROR in verdicts:
        return ExitCode.REFUSED
    if Outcome.ABORTED in verdicts:
        return ExitCode.INTERRUPTED
    if any(v != Outcome.PASS for v in verdicts):
        return ExitCode.FAIL
    return ExitCode.PASS
