"""Readings an instrument flags as over range, and power replies parsed as the guides show them."""

from __future__ import annotations

import math

import numpy as np

# SCPI-99 reports "not a number / over range" as 9.9E37; instruments differ in
# the last digits, so anything above this threshold is treated as over range.
OVER_RANGE_THRESHOLD = 1e37
# The 816x family reports out-of-range readings as values above 1e20.
OVER_RANGE_THRESHOLD_816X = 1e20


def is_over_range(value: float, threshold: float = OVER_RANGE_THRESHOLD) -> bool:
    return not np.isfinite(value) or abs(value) >= threshold


def parse_csv_values(reply: str) -> list[float]:
    """Numbers of a CSV reply. The N77xx guide's `FETC:POW:ALL:CSV?` example is one quoted
    string (`"+1.0E-03,+2.0E-03"`), other firmware sends bare numbers: quotes around the
    whole reply or around a field are accepted. Raises ValueError on anything else."""
    text = reply.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return [float(field.strip().strip("\"'")) for field in text.split(",")]


def flag_over_range(values: list[float], threshold: float = OVER_RANGE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """(power_w with NaN where over range, over-range flags). Plain floats until the end: on
    2-8 values numpy's per-call cost is most of the work."""
    over_range = [not abs(value) < threshold for value in values]  # NaN and ±inf included
    if any(over_range):
        values = [math.nan if over else value for value, over in zip(values, over_range, strict=True)]
    return np.array(values, dtype=np.float64), np.array(over_range, dtype=bool)
