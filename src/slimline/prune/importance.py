"""Importance estimators of LLM-Pruner (Ma et al., NeurIPS 2023) as pure tensor functions.

Each estimator turns a weight (with its accumulated gradient and squared gradient when it
needs them) into per-element contributions; `aggregate` sums contributions over a structure
group. `taylor_vector` sums the signed first-order terms of a group and takes the absolute
value at the end (LLM-Pruner's "vector-wise"); the element-wise estimators take it per
element.
"""

from __future__ import annotations

import torch

ESTIMATORS = ("taylor_first", "taylor_vector", "taylor_second", "magnitude", "random")
NEEDS_GRADIENTS = frozenset({"taylor_first", "taylor_vector", "taylor_second"})
# What the backward pass must keep for each gradient estimator. A score that is linear in the
# gradient of every batch (taylor_vector) folds each (micro-)batch into per-group sums at
# once; an element-wise absolute value needs the gradient summed over all batches per weight
# element first (|w.(g1+g2)| != |w.g1| + |w.g2|); the diagonal Fisher squares each whole
# batch's gradient, so its batches cannot be split into micro-batches.
KEEPS_SUMMED_GRADIENT = frozenset({"taylor_first", "taylor_second"})
SQUARES_BATCH_GRADIENT = frozenset({"taylor_second"})


def contributions(estimator: str, w: torch.Tensor, grad: torch.Tensor | None = None,
                  fisher: torch.Tensor | None = None) -> torch.Tensor:
    """Per-element importance of `w` (signed for `taylor_vector`)."""
    w = w.float()
    if estimator == "magnitude":
        return w.pow(2)
    if estimator == "taylor_first":
        return (w * grad).abs()
    if estimator == "taylor_vector":
        return w * grad
    if estimator == "taylor_second":
        # |dL| ~ |g w - 1/2 w H w| with H approximated by the diagonal Fisher (mean g^2).
        return (w * grad - 0.5 * w.pow(2) * fisher).abs()
    raise ValueError(f"unknown estimator {estimator!r}")


def finish(estimator: str, summed: torch.Tensor) -> torch.Tensor:
    """Turn summed contributions into a score (abs for vector-wise, sqrt for L2 magnitude)."""
    if estimator == "taylor_vector":
        return summed.abs()
    if estimator == "magnitude":
        return summed.sqrt()
    return summed


def group_sum(c: torch.Tensor, n: int, block: int, axis: str) -> torch.Tensor:
    """Sum per-element contributions of one weight into `n` groups of `block` rows or columns."""
    if axis == "cols":
        c = c.t()
    return c.reshape(n, block, -1).sum(dim=(1, 2))


def random_scores(n: int, generator: torch.Generator) -> torch.Tensor:
    """The control: scores that know nothing about the model."""
    return torch.rand(n, generator=generator)


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the `k` highest scores, sorted ascending so the layout order is kept."""
    return torch.topk(scores, k, largest=True, sorted=False).indices.sort().values
