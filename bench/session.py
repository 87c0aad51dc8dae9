"""Deprecated alias of `bench.run.session` (kept for one release; import from `bench.run`)."""

import warnings

from bench.run.session import *  # noqa: F403
from bench.run.session import CableOutcome, ReferenceRequired, TestSession  # noqa: F401

warnings.warn("bench.session is deprecated; import TestSession from bench.run",
              DeprecationWarning, stacklevel=2)
