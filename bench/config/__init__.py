"""Configuration (ground floor above the records): station and recipe files read and validated.

Everything here is data checked before any instrument is touched; nothing imports the run, operator or CLI floors.
"""

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, load_station

__all__ = ["Recipe", "StationConfig", "load_recipe", "load_station"]
