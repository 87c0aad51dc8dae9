"""The one check of a typed or scanned label (serial number, lot, operator name) before anything is measured.

A label is stored in a fixed-width field of the store, so it must be non-empty, free of control
characters (no label carries them; a stray Tab, Esc or NUL from a scanner or a paste must not become
a record) and fit its field. Any other character is data and is stored exactly (screens print labels
through `bench.operator.terminal.shown`, file names go through `bench.report.files.safe_file_stem`).
The recipe's own serial pattern is a separate rule (`Recipe.check_serial`).
"""

from __future__ import annotations

import unicodedata

from bench.errors import ConfigError
from bench.store.schema import STRING_WIDTHS

# The store field each label is kept in.
LABEL_FIELDS = {"serial number": "serial", "lot": "lot", "operator": "operator", "operator name": "operator"}


def check_label(what: str, value: object) -> str:
    """`value` stripped, if it is a usable label; else ConfigError naming the label, the problem and the fix."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ConfigError(what, what, f"the {what} is empty", f"type the {what}")
    bad = next((char for char in text if unicodedata.category(char) == "Cc"), None)
    if bad is not None:
        raise ConfigError(what, what, f"the {what} contains the control character {bad!r}",
                          f"rescan or retype the {what}")
    width = STRING_WIDTHS[LABEL_FIELDS.get(what, "serial")]
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > width:
        raise ConfigError(what, what, f"the {what} is {size} bytes long, the store keeps at most {width}",
                          f"rescan or shorten the {what}: a label this long is a misread")
    return text


def label_problem(error: ConfigError) -> str:
    """The refusal as one sentence for a prompt: problem, then fix."""
    return f"{error.problem}; {error.fix}"
