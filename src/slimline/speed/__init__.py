"""Every stage's speed in one side-by-side measurement: the only speed stages are compared by."""

from slimline.speed.side_by_side import SPEED_FILE, measure_against_base, measure_stages

__all__ = ["SPEED_FILE", "measure_against_base", "measure_stages"]
