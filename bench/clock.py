"""The bench's clock: `procedures.clock`, the one definition, under the bench's vocabulary name."""

from procedures.clock import Clock, iso_utc, utc_now, utc_now_text

__all__ = ["Clock", "iso_utc", "utc_now", "utc_now_text"]
