"""The `prune` stage: LLM-Pruner-style structured pruning into standard dense checkpoints.

`architectures` maps each decoder family's module names, `structure` holds the coupled groups
and the slicing, `importance` the estimator registry over pure tensor functions, `plan` the
checks made before any weight changes, `scores` the scoring of every group (with
`_gradients`, the memory-bounded backward pass, and `activations`, the forward-only pass) and
its stored form, `apply` the slicing by score and `build` the stage's artifact.

Names are imported on first use, so the torch-free `architectures` can be read by the
configuration without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "prune_layers": "apply", "prune_checkpoint": "build", "ESTIMATORS": "importance",
    "NEEDS_CALIBRATION": "importance", "NEEDS_GRADIENTS": "importance",
    "Estimator": "importance", "Needs": "importance", "register": "importance",
    "Plan": "plan", "make_plan": "plan", "compute_scores": "scores", "load_scores": "scores",
    "save_scores": "scores", "SUPPORTED": "architectures", "Shape": "structure",
    "model_shape": "structure",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
