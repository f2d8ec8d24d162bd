"""The `prune` stage: LLM-Pruner-style structured pruning into standard dense checkpoints.

`structure` holds the coupled groups and the slicing, `importance` the estimators as pure
tensor functions, `plan` the checks made before any weight changes, `apply` the scoring
loop and `build` the stage's artifact.
"""

from slimline.prune.apply import accumulate_gradients, prune_layers
from slimline.prune.build import prune_checkpoint
from slimline.prune.importance import ESTIMATORS, NEEDS_GRADIENTS
from slimline.prune.plan import Plan, make_plan
from slimline.prune.structure import SUPPORTED, Shape, model_shape

__all__ = ["ESTIMATORS", "NEEDS_GRADIENTS", "SUPPORTED", "Plan", "Shape", "accumulate_gradients",
           "make_plan", "model_shape", "prune_checkpoint", "prune_layers"]
