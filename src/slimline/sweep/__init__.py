"""Search recipes: a grid of overrides run on DVC's experiment queue, every point registered
with its lineage, the Pareto frontier of size against each gated metric, and the smallest
model that passes every gate made the candidate."""

from slimline.sweep.frontier import Outcome, closest_failure, pareto_front, winner
from slimline.sweep.grid import Point, expand, make_points, waves
from slimline.sweep.run import SweepResult, run_sweep

__all__ = ["Outcome", "Point", "SweepResult", "closest_failure", "expand", "make_points",
           "pareto_front", "run_sweep", "waves", "winner"]
