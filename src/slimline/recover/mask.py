"""Keep a 2:4 sparse parent's zeros through LoRA merging.

A merged LoRA delta B·A is dense, so merging it into a 2:4 sparse layer fills the zeros and
the model loses its sparsity. The parent's mask is taken before training and the merged
weights are multiplied by it: the kept weights get their update, the pruned ones stay zero.
Only layers that follow the 2:4 pattern are masked, so a dense parent (and its incidental
zeros) is merged exactly as before.
"""

from __future__ import annotations

import torch
from torch import nn

from slimline.prune.sparse import is_24_sparse

# Rows checked at once: counting the zeros of a 151,936-row head in one go took 1.7 GB.
ROWS = 1024


def _is_24_sparse(weight: torch.Tensor) -> bool:
    """`is_24_sparse`, a block of rows at a time; a dense layer fails on its first block."""
    return all(is_24_sparse(weight[start:start + ROWS])
               for start in range(0, weight.shape[0], ROWS))


def sparsity_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Name -> bool mask (True where the weight is kept) of each 2:4 sparse linear layer,
    on the CPU."""
    return {name: (module.weight.detach() != 0).cpu()
            for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and _is_24_sparse(module.weight.detach())}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero, in place, every weight the parent had pruned (names as `sparsity_masks` gave)."""
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        weight = modules[name].weight
        weight.mul_(mask.to(weight.device, weight.dtype))
