"""Activation importance (Minitron: Muralidharan et al., "Compact Language Models via Pruning
and Knowledge Distillation", 2024): a forward pass only, so it runs where gradients do not fit.

An MLP channel is worth the mean |activation| it feeds into down_proj; an attention head the
mean L2 norm of its slice of o_proj's input (the head's attention output). Both are averaged
over every calibration token. A key/value group gets no score of its own: it is worth the
query heads that read it (`apply.prune_layers` adds them up).

The pass walks the decoder one layer at a time (`layerwise`): each layer is upcast to the
compute dtype once, fed every batch's hidden states, and forward pre-hooks on down_proj
and o_proj add each batch's per-group sums to one vector per group kind. Memory beyond the
model: one upcast layer, the hidden states of one layer for all batches, and n numbers per
group kind.
"""

from __future__ import annotations

import torch

from slimline.prune.architectures import LayerMap
from slimline.prune.importance import Estimator
from slimline.prune.layerwise import layers_forward
from slimline.prune.plan import Plan
from slimline.prune.structure import group_sizes


def _adder(est: Estimator, total: torch.Tensor, n: int, block: int):
    """A forward pre-hook adding each call's per-group importance, summed over tokens."""
    def hook(_module, args):
        total.add_(est.contribution(args[0].reshape(-1, n, block)).sum(dim=0))
    return hook


def activation_scores(model, arch: LayerMap, plan: Plan, est: Estimator,
                      batches: list[torch.Tensor], *, compute_dtype: torch.dtype,
                      device: torch.device) -> dict[str, torch.Tensor]:
    """`layers.{i}.{kind}` -> mean activation importance of every group of every layer.

    Args:
        model: a causal LM of the family `arch` describes, on `device`.
        arch: its module names.
        plan: sizes the groups (its `before` shape).
        est: the estimator; `est.contribution(x)` maps inputs shaped (tokens, groups, block)
            to per-token group importance, `est.finish` the token mean to a score.
        batches: token ids, (sequences, tokens) each.
        compute_dtype: dtype of the arithmetic; weights go back to their stored dtype.
        device: where the model is.
    """
    sizes = group_sizes(plan.before)
    inputs = {"mlp_channels": arch.ffn(arch.down), "query_heads": arch.attn(arch.o)}
    tokens = sum(b.numel() for b in batches)
    scores: dict[str, torch.Tensor] = {}
    for i, layer, forward in layers_forward(model, arch, batches, compute_dtype=compute_dtype,
                                            device=device):
        sums = {kind: torch.zeros(sizes[kind][0], device=device) for kind in inputs}
        hooks = [layer.get_submodule(path).register_forward_pre_hook(
                     _adder(est, sums[kind], *sizes[kind]))
                 for kind, path in inputs.items()]
        try:
            forward()
        finally:
            for h in hooks:
                h.remove()
        for kind, total in sums.items():
            scores[f"layers.{i}.{kind}"] = est.finish(total.cpu() / tokens)
        scores[f"layers.{i}.kv_heads"] = torch.zeros(sizes["kv_heads"][0])
    return scores
