"""Print the table of every declared command and its status, for docs/drivers.md:

    python -m drivers.commands_doc
"""

from __future__ import annotations

from drivers.declarative import command_table
from drivers.factory import DRIVERS

if __name__ == "__main__":
    print(command_table(DRIVERS), end="")
