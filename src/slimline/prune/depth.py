"""Depth pruning: drop whole decoder blocks ranked by ShortGPT's Block Influence.

Block Influence (Men et al., "ShortGPT: Layers in Large Language Models are More Redundant
Than You Expect", 2024) of block i is 1 - cos(x_i, x_{i+1}), the angular distance between
the hidden states entering and leaving it, averaged over calibration tokens. A block that
barely turns its input scores near 0 and is removed first (Minitron's depth pruning ranks
blocks the same way). The result is a standard checkpoint with fewer layers:
`num_hidden_layers` shrinks, the kept layers are renumbered and per-layer config lists follow.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from slimline.errors import SlimlineError

# Config entries that hold one value per decoder layer and must be subset with them.
PER_LAYER_KEYS = ("layer_types",)
# Written next to the checkpoint: every block's score, and which blocks went and stayed.
DEPTH_FILE = "block_influence.json"


def angular_distance(x_in: torch.Tensor, x_out: torch.Tensor) -> torch.Tensor:
    """1 - cos between matching rows (last dimension) of two tensors, in fp32: 0 for an
    unchanged direction, 1 for orthogonal, 2 for opposite."""
    return 1 - nn.functional.cosine_similarity(x_in.float(), x_out.float(), dim=-1, eps=1e-8)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a Llama-style causal LM (`model.model.layers`)."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise SlimlineError(f"{type(model).__name__} has no model.layers: depth pruning needs a "
                            "Llama-style decoder (llama, mistral, qwen2).")
    return layers


def block_influence(model: nn.Module, batches: list[torch.Tensor],
                    device: torch.device | None = None,
                    compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Mean Block Influence of every decoder block over the tokens of `batches`.

    The decoder is walked one block at a time (`slimline.prune.layerwise`): each block is
    upcast to `compute_dtype` (default: the model's own) once and fed every batch, its input
    and output folded into a sum of per-token angular distances. Memory beyond the stored
    model is one upcast block and one block's hidden states; the output head never runs.
    """
    from slimline.prune.architectures import layer_map
    from slimline.prune.layerwise import layers_forward

    sums = torch.zeros(len(decoder_layers(model)), dtype=torch.float64)  # or a clear error
    device = device or next(model.parameters()).device
    dtype = compute_dtype or next(model.parameters()).dtype
    tokens = sum(b.numel() for b in batches)
    if not tokens:
        raise SlimlineError("depth pruning got no calibration tokens: check the calibration "
                            "split (data.calibration) and prune.num_batches.")
    for i, _layer, forward in layers_forward(model, layer_map(model.config.model_type),
                                             batches, compute_dtype=dtype, device=device):
        for x_in, x_out in zip(*forward(), strict=True):
            sums[i] += angular_distance(x_in, x_out).double().sum().cpu()
    return (sums / tokens).float()


def blocks_to_remove(num_layers: int, *, depth_ratio: float | None = None,
                     count: int | None = None) -> int:
    """How many blocks go: `count`, or `depth_ratio` of `num_layers` rounded; at least one
    must go and one must stay."""
    n = count if count is not None else round((depth_ratio or 0.0) * num_layers)
    if not 0 < n < num_layers:
        asked = f"num_layers={count}" if count is not None else f"depth_ratio={depth_ratio}"
        raise SlimlineError(
            f"prune.{asked} removes {n} of the model's {num_layers} decoder blocks: it must "
            f"remove between 1 and {num_layers - 1}; raise or lower it.")
    return n


def lowest(scores: torch.Tensor, n: int) -> list[int]:
    """Indices of the `n` lowest scores, ascending by index (ties: the lower index)."""
    order = sorted(range(len(scores)), key=lambda i: (float(scores[i]), i))
    return sorted(order[:n])


def remove_blocks(model: nn.Module, drop: list[int]) -> list[int]:
    """Delete decoder blocks `drop` in place; return the kept original indices.

    The config's `num_hidden_layers` and per-layer lists shrink, each kept attention's
    `layer_idx` (its KV-cache slot) is renumbered, and Qwen2's `max_window_layers` counts the
    kept full-attention layers below it, so config and weights agree when saved.
    """
    layers = decoder_layers(model)
    cfg = model.config
    kept = [i for i in range(len(layers)) if i not in set(drop)]
    model.model.layers = nn.ModuleList(layers[i] for i in kept)
    for new, layer in enumerate(model.model.layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new
    for key in PER_LAYER_KEYS:
        values = getattr(cfg, key, None)
        if isinstance(values, list | tuple) and len(values) == cfg.num_hidden_layers:
            setattr(cfg, key, [values[i] for i in kept])
    if isinstance(getattr(cfg, "max_window_layers", None), int):
        cfg.max_window_layers = sum(1 for i in kept if i < cfg.max_window_layers)
    cfg.num_hidden_layers = len(kept)
    return kept


def calibration_batches(tokenizer, texts: list[str], *, num_samples: int, seq_len: int,
                        seed: int, batch_size: int) -> tuple[list[torch.Tensor], str]:
    """The calibration windows as batches, and the digest of their exact ids: the same
    choice and digest as the quantize stage's (`slimline.quantize.calibration`)."""
    from slimline.quantize.calibration import calibration_samples, token_digest

    try:
        samples = calibration_samples(tokenizer, texts, num_samples=num_samples,
                                      seq_len=seq_len, seed=seed)
    except SlimlineError as exc:
        raise SlimlineError(
            f"the calibration split is too short for {num_samples} windows of {seq_len} "
            "tokens: lower prune.num_batches, batch_size or seq_len, or raise "
            "data.calibration.num_docs.") from exc
    ids = torch.tensor(samples, dtype=torch.long)
    return list(ids.split(batch_size)), token_digest(samples)


def prune_depth(model: nn.Module, tokenizer, texts: list[str], cfg, *,
                device: torch.device, compute_dtype: torch.dtype | None = None
                ) -> tuple[dict, str]:
    """Score every block on the calibration split, remove the lowest in place.

    Args:
        model: the parent model, on `device` (weights in their stored dtype).
        tokenizer: its tokenizer.
        texts: calibration documents.
        cfg: the `prune` section (`DepthPruneConfig`).
        device: where the forward passes run.
        compute_dtype: dtype of the arithmetic, one block upcast at a time (default: the
            model's own).

    Returns:
        ({"block_influence": [...], "removed": [...], "kept": [...]}, the digest of the
        calibration token ids).
    """
    n_before = len(decoder_layers(model))
    n = blocks_to_remove(n_before, depth_ratio=cfg.depth_ratio, count=cfg.num_layers)
    batches, digest = calibration_batches(tokenizer, texts,
                                          num_samples=cfg.num_batches * cfg.batch_size,
                                          seq_len=cfg.seq_len, seed=cfg.seed,
                                          batch_size=cfg.batch_size)
    scores = block_influence(model, batches, device, compute_dtype)
    drop = lowest(scores, n)
    kept = remove_blocks(model, drop)
    return {"block_influence": [round(float(s), 6) for s in scores], "removed": drop,
            "kept": kept}, digest


def write_depth_pruned(parent: Path, tmp: Path, cfg, texts: list[str],
                       rt) -> tuple[dict[str, float], dict[str, str]]:
    """The prune stage's transform for prune=depth: the parent without its lowest-scoring
    blocks, saved as safetensors in its stored dtype, plus `DEPTH_FILE`.

    Scores are computed on `rt`'s device in its compute dtype, one block upcast at a time;
    the weights stay as stored, so the kept blocks are saved bit for bit.

    Returns:
        (metrics, inputs): `layers_removed_share`; the runtime and calibration digest.
    """
    from slimline import runtime
    from slimline.checkpoint import load_checkpoint

    device, compute_dtype = rt.resolve()
    model, tokenizer = load_checkpoint(parent)  # in the stored dtype
    stored = next(model.parameters()).dtype
    used = torch.float32 if compute_dtype == torch.float32 else stored
    model.to(device)
    before = len(decoder_layers(model))
    record, digest = prune_depth(model, tokenizer, texts, cfg, device=device,
                                 compute_dtype=used)
    model.to("cpu").save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / DEPTH_FILE).write_text(json.dumps(record) + "\n")
    return ({"layers_removed_share": len(record["removed"]) / before},
            {**runtime.record(device, used), "calibration_tokens": digest})
