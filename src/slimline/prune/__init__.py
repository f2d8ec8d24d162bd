"""The `prune` stage: LLM-Pruner-style structured pruning into standard dense checkpoints.

`structure` holds the coupled groups and the slicing, `importance` the estimators as pure
tensor functions, `plan` the checks made before any weight changes, `scores` the scoring of
every group (with `_gradients`, the memory-bounded backward pass) and its stored form,
`apply` the slicing by score and `build` the stage's artifact.
"""

from slimline.prune.apply import prune_layers
from slimline.prune.build import prune_checkpoint
from slimline.prune.importance import ESTIMATORS, NEEDS_GRADIENTS
from slimline.prune.plan import Plan, make_plan
from slimline.prune.scores import compute_scores, load_scores, save_scores
from slimline.prune.structure import SUPPORTED, Shape, model_shape

__all__ = ["ESTIMATORS", "NEEDS_GRADIENTS", "SUPPORTED", "Plan", "Shape", "compute_scores",
           "load_scores", "make_plan", "model_shape", "prune_checkpoint", "prune_layers",
           "save_scores"]
