"""Cut every decoder layer down to the plan, keeping the groups with the highest scores."""

from __future__ import annotations

import torch

from slimline.errors import SlimlineError
from slimline.prune import importance as imp
from slimline.prune.architectures import layer_map
from slimline.prune.plan import Plan
from slimline.prune.scores import Scores
from slimline.prune.structure import decoder_layers, group_sizes, slice_attention, slice_mlp


def _score(scores: Scores, key: str, size: int) -> torch.Tensor:
    s = scores.get(key)
    if s is None or s.shape != (size,):
        raise SlimlineError(f"importance scores lack `{key}` of {size} groups (they were made "
                            "for another plan or model): recompute them.")
    return s


def prune_layers(model, plan: Plan, scores: Scores) -> list[dict[str, list[int]]]:
    """Slice every decoder layer of `model` to `plan`; return the kept indices per layer.

    Args:
        model: the decoder to prune in place.
        plan: widths before and after.
        scores: `layers.{i}.{kind}` -> per-group scores (see `scores.compute_scores`).
    """
    shape = plan.before
    sizes = group_sizes(shape)
    arch = layer_map(model.config.model_type)
    kept = []
    for i, layer in enumerate(decoder_layers(model, arch)):
        record: dict[str, list[int]] = {}
        if plan.after.intermediate_size != shape.intermediate_size:
            s = _score(scores, f"layers.{i}.mlp_channels", sizes["mlp_channels"][0])
            keep = imp.top_k(s, plan.after.intermediate_size)
            slice_mlp(layer, arch, shape, keep)
            record["mlp_channels"] = keep.tolist()
        if plan.prunes_attention:
            g = shape.heads_per_group
            q = _score(scores, f"layers.{i}.query_heads", sizes["query_heads"][0])
            kv = _score(scores, f"layers.{i}.kv_heads", sizes["kv_heads"][0])
            # A kv group is worth its own heads plus every query head that reads it.
            group_total = kv + q.reshape(shape.num_key_value_heads, g).sum(dim=1)
            keep_kv = imp.top_k(group_total, plan.after.num_key_value_heads)
            per_group = plan.after.heads_per_group
            keep_q = torch.stack([imp.top_k(q.reshape(-1, g)[j], per_group) for j in keep_kv])
            slice_attention(layer, arch, shape, keep_kv, keep_q)
            record["kv_heads"] = keep_kv.tolist()
            record["query_heads"] = (keep_kv[:, None] * g + keep_q).reshape(-1).tolist()
        kept.append(record)
    cfg = model.config
    cfg.intermediate_size = plan.after.intermediate_size
    cfg.num_attention_heads = plan.after.num_attention_heads
    cfg.num_key_value_heads = plan.after.num_key_value_heads
    cfg.head_dim = shape.head_dim  # no longer hidden_size // heads once heads are pruned
    return kept
