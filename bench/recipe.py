"""Deprecated alias of `bench.config.recipe` (kept for one release; import from `bench.config`)."""

import warnings

from bench.config.recipe import *  # noqa: F403
from bench.config.recipe import Recipe, load_recipe  # noqa: F401

warnings.warn("bench.recipe is deprecated; import load_recipe and Recipe from bench.config",
              DeprecationWarning, stacklevel=2)
