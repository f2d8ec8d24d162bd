"""Score every structure group of every layer and cut the model down to the plan."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from tqdm.auto import tqdm

from slimline.prune import importance as imp
from slimline.prune.plan import Plan
from slimline.prune.structure import slice_attention, slice_mlp


def accumulate_gradients(model, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum of squared per-batch gradients (diagonal Fisher); `.grad` keeps the summed grads."""
    model.zero_grad(set_to_none=True)
    fisher: dict[str, torch.Tensor] = {}
    previous: dict[str, torch.Tensor] = {}
    model.train()
    for batch in tqdm(list(batches), desc="importance", unit="batch", mininterval=2.0):
        model(input_ids=batch, labels=batch).loss.backward()
        for name, p in model.named_parameters():
            if p.grad is None:
                continue
            g = p.grad - previous.get(name, 0)
            fisher[name] = fisher.get(name, 0) + g.float().pow(2)
            previous[name] = p.grad.clone()
    model.eval()
    return fisher


def _scores(estimator: str, fisher: dict, prefix: str, parts: list[tuple[str, torch.nn.Linear,
            str]], n: int, block: int, generator: torch.Generator) -> torch.Tensor:
    """Sum contributions over `parts` into `n` groups of `block` rows (or columns) each."""
    if estimator == "random":
        return imp.random_scores(n, generator)
    total = torch.zeros(n)
    for name, linear, axis in parts:
        for pname, param in (("weight", linear.weight), ("bias", linear.bias)):
            if param is None or (pname == "bias" and axis == "cols"):
                continue
            c = imp.contributions(estimator, param.data, param.grad,
                                  fisher.get(f"{prefix}.{name}.{pname}"))
            if axis == "cols":
                c = c.t()
            total += c.reshape(n, block, -1).sum(dim=(1, 2))
    return imp.finish(estimator, total)


def prune_layers(model, plan: Plan, estimator: str, fisher: dict,
                 seed: int = 0) -> list[dict[str, list[int]]]:
    """Slice every decoder layer of `model` to `plan`; return the kept indices per layer."""
    shape = plan.before
    gen = torch.Generator().manual_seed(seed)
    kept = []
    for i, layer in enumerate(model.model.layers):
        prefix = f"model.layers.{i}"
        record: dict[str, list[int]] = {}
        if plan.after.intermediate_size != shape.intermediate_size:
            mlp = layer.mlp
            s = _scores(estimator, fisher, f"{prefix}.mlp",
                        [("gate_proj", mlp.gate_proj, "rows"), ("up_proj", mlp.up_proj, "rows"),
                         ("down_proj", mlp.down_proj, "cols")],
                        shape.intermediate_size, 1, gen)
            keep = imp.top_k(s, plan.after.intermediate_size)
            slice_mlp(mlp, keep)
            record["mlp_channels"] = keep.tolist()
        if plan.prunes_attention:
            attn = layer.self_attn
            d, g = shape.head_dim, shape.heads_per_group
            q = _scores(estimator, fisher, f"{prefix}.self_attn",
                        [("q_proj", attn.q_proj, "rows"), ("o_proj", attn.o_proj, "cols")],
                        shape.num_attention_heads, d, gen)
            kv = _scores(estimator, fisher, f"{prefix}.self_attn",
                         [("k_proj", attn.k_proj, "rows"), ("v_proj", attn.v_proj, "rows")],
                         shape.num_key_value_heads, d, gen)
            group_total = kv + q.reshape(shape.num_key_value_heads, g).sum(dim=1)
            keep_kv = imp.top_k(group_total, plan.after.num_key_value_heads)
            per_group = plan.after.heads_per_group
            keep_q = torch.stack([imp.top_k(q.reshape(-1, g)[j], per_group) for j in keep_kv])
            slice_attention(attn, shape, keep_kv, keep_q)
            record["kv_heads"] = keep_kv.tolist()
            record["query_heads"] = (keep_kv[:, None] * g + keep_q).reshape(-1).tolist()
        kept.append(record)
    cfg = model.config
    cfg.intermediate_size = plan.after.intermediate_size
    cfg.num_attention_heads = plan.after.num_attention_heads
    cfg.num_key_value_heads = plan.after.num_key_value_heads
    cfg.head_dim = shape.head_dim  # no longer hidden_size // heads once heads are pruned
    model.zero_grad(set_to_none=True)
    return kept
