"""Station against recipe, before any instrument is touched: reference method and calibration dates.

Reference method ↔ connections in the limit (IEC 61280-4-5 for MPO test equipment, adopted
as TIA-526-28, which ANSI/TIA-568.3-E cites for MPO; the same three methods as TIA-526-14
Methods B/A/C and IEC 61280-4-1/-4-2 for duplex links): the reference method decides which
mated connections a reading contains.
* 1-cord ("one jumper"): the reference is the launch cord into the meter, so the reading
  includes both of the DUT's end connections: `connections = 2`.
* 2-cord: the reference already includes one connection (launch to receive cord), so the
  reading includes one: `connections = 1`.
* 3-cord: the reference includes both connections through a substitute cord, so neither
  DUT connection remains in the reading: `connections = 0`.
A recipe whose limit counts a different number of connections grades a different loss than the
bench measures (112 of 137 fibers over the limit passed in a 2-cord emulation of a 1-cord recipe),
so the pair is refused.

Wavelengths: every recipe wavelength is one the station's source lists, exactly as the station
file writes it (a recipe object parsed without the station is checked here too), so what the
run sends to the source is the station's own value and never a near miss the driver refuses.

Calibration: an instrument past its `calibration_due` is refused, unless the station says
`expired_calibration = "warn"`; then the overdue instruments are stored in every record.
"""

from __future__ import annotations

import datetime as dt

from bench.config.recipe import Recipe
from bench.config.recipe_schema import refuse_station_wavelength
from bench.config.station import StationConfig
from bench.errors import ConfigError

CONNECTIONS_BY_METHOD = {"1-cord": 2, "2-cord": 1, "3-cord": 0}


def check_reference_method(config: StationConfig, recipe: Recipe) -> None:
    """Refuse a recipe whose limit counts other connections than the station's reference method includes."""
    method = config.reference.method
    expected = CONNECTIONS_BY_METHOD[method]
    connections = recipe.limits.connections
    if connections != expected:
        raise ConfigError(
            recipe.source, "limits.connections",
            f"the limit counts {connections} mated connection(s), but station {config.name} "
            f"({config.source_path}) references {method}, which leaves {expected} in every reading "
            "(IEC 61280-4-5 / TIA-526-28: 1-cord 2, 2-cord 1, 3-cord 0)",
            f"use a recipe written for a {method} reference (connections = {expected}, limits to match), "
            "or a station that references the way the recipe was written")


def check_station_wavelengths(config: StationConfig, recipe: Recipe) -> None:
    """Refuse a recipe wavelength that is not one of the station's, naming the station's value to write."""
    station = [float(w) for w in config.wavelengths_nm]
    if not station:
        return  # a station without a wavelength list: its source's driver decides
    for wavelength_nm in recipe.wavelengths_nm:
        if wavelength_nm not in station:
            refuse_station_wavelength(recipe.source, wavelength_nm, station)


def overdue_calibrations(config: StationConfig, today: dt.date) -> dict[str, str]:
    """Instrument name → calibration_due, for every instrument past its date on `today`."""
    return {name: due for name, due in config.calibration_due_dates().items()
            if dt.date.fromisoformat(due) < today}


def check_calibration(config: StationConfig, today: dt.date) -> dict[str, str]:
    """Refuse overdue instruments (or return them, when the station says warn)."""
    overdue = overdue_calibrations(config, today)
    if overdue and config.expired_calibration == "refuse":
        name, due = next(iter(overdue.items()))
        raise ConfigError(
            config.source_path, "instruments.calibration_due",
            f"instrument {name} was due for calibration on {due} (today is {today.isoformat()})"
            + (f"; also overdue: {', '.join(n for n in overdue if n != name)}" if len(overdue) > 1 else ""),
            f"have {name} calibrated and enter the new due date, or set [station] expired_calibration = "
            "\"warn\" to test with the overdue instruments named in every record")
    return overdue


def check_station_and_recipe(config: StationConfig, recipe: Recipe, today: dt.date) -> dict[str, str]:
    """Every cross-check; returns the overdue instruments the station accepts with a warning."""
    check_station_wavelengths(config, recipe)
    check_reference_method(config, recipe)
    return check_calibration(config, today)
