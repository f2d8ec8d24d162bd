"""2:4 semi-structured sparsity through llm-compressor (SparseGPT or Wanda).

In every run of 4 consecutive input weights of a targeted linear layer, 2 are set to zero;
SparseGPT (Frantar, Alistarh, ICML 2023) updates the kept weights to make up for the
removed ones, Wanda (Sun et al., ICLR 2024) only chooses by |w|·‖x‖. Calibration uses the
quantize stage's windows and digest, and the same one-layer-at-a-time onloading.

The checkpoint is stored dense, zeros included: compressed-tensors 0.19 no longer writes the
sparse-24-bitmask format and vLLM removed its 2:4 kernels (vllm-project/vllm#36799), so a
dense checkpoint is what both load today. It quantizes like any other: symmetric round-to-
nearest and FP8 keep a zero at zero.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# N:M as llm-compressor spells it: N zeros in every M consecutive weights along a row.
MASK_STRUCTURE = "2:4"
ZEROS, GROUP = 2, 4


def zeros_per_group(weight: torch.Tensor) -> torch.Tensor:
    """The count of zeros in each run of 4 consecutive weights along the input dimension."""
    rows, cols = weight.shape
    if cols % GROUP:
        raise ValueError(f"a width of {cols} is not a multiple of {GROUP}")
    return (weight.reshape(rows, cols // GROUP, GROUP) == 0).sum(-1)


def is_24_sparse(weight: torch.Tensor) -> bool:
    """True when every run of 4 input weights holds at least 2 zeros."""
    return weight.dim() == 2 and weight.shape[1] % GROUP == 0 \
        and bool((zeros_per_group(weight) >= ZEROS).all())


def sparse_layers(model: nn.Module) -> list[str]:
    """Names of the linear layers whose weights follow the 2:4 pattern."""
    return [name for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and is_24_sparse(module.weight.detach())]


def modifier(cfg):
    """The llm-compressor modifier for the `prune` section (`Sparse24PruneConfig`)."""
    if cfg.algorithm == "sparsegpt":
        from llmcompressor.modifiers.pruning import SparseGPTModifier

        return SparseGPTModifier(sparsity=0.5, mask_structure=MASK_STRUCTURE,
                                 dampening_frac=cfg.dampening_frac, targets=["Linear"],
                                 ignore=list(cfg.ignore))
    from llmcompressor.modifiers.pruning import WandaPruningModifier

    return WandaPruningModifier(sparsity=0.5, mask_structure=MASK_STRUCTURE,
                                targets=["Linear"], ignore=list(cfg.ignore))


def sparsify(model: nn.Module, tokenizer, texts: list[str], cfg, *,
             device: torch.device, compute: torch.dtype | None = None
             ) -> tuple[list[str], str, torch.dtype]:
    """Make `model` (on the CPU, in its stored dtype) 2:4 sparse in place.

    Args:
        model: the parent model; llm-compressor onloads one decoder layer at a time.
        tokenizer: its tokenizer.
        texts: calibration documents.
        cfg: the `prune` section (`Sparse24PruneConfig`).
        device: where each decoder layer is onloaded to calibrate.
        compute: the runtime's compute dtype (`quantize._onload.calibrating_in`: the
            decoder layers run in fp32 on a CPU without native bf16); default: stored dtype.

    Returns:
        (the names of the 2:4 sparse linear layers, the digest of the calibration token ids,
        the dtype calibration ran in).
    """
    from datasets import Dataset
    from llmcompressor import oneshot

    from slimline.quantize._compat import cpu_safe_awq
    from slimline.quantize._onload import calibrating_in, onload_to, plan_onload
    from slimline.quantize.calibration import calibration_samples, token_digest

    samples = calibration_samples(tokenizer, texts, num_samples=cfg.num_samples,
                                  seq_len=cfg.seq_len, seed=cfg.seed)
    data = Dataset.from_dict({"input_ids": samples,
                              "attention_mask": [[1] * len(s) for s in samples]})
    plan = plan_onload(True, device, list(model._no_split_modules or []))
    # The sequential pipeline's activation cache pins memory, which fails on a CPU-only
    # torch; the quantize stage's workaround applies to every calibrated modifier.
    stored = next(model.parameters()).dtype
    with cpu_safe_awq(), onload_to(plan.onload_device), \
            calibrating_in(model, plan.onload_device, compute or stored,
                           plan.sequential_targets) as used:
        oneshot(model=model, recipe=modifier(cfg), dataset=data,
                num_calibration_samples=len(samples), max_seq_length=cfg.seq_len,
                shuffle_calibration_samples=False, **plan.oneshot_kwargs())
    return sparse_layers(model), token_digest(samples), used


def write_sparse24(parent: Path, tmp: Path, cfg, texts: list[str],
                   rt) -> tuple[dict[str, float], dict[str, str]]:
    """The prune stage's transform for prune=sparse24: the parent made 2:4 sparse, saved
    dense in its stored dtype (with llm-compressor's recipe.yaml).

    Returns:
        (metrics, inputs): `sparse_layers` and the share of linear weights that are zero;
        the runtime (the onload device and the dtype llm-compressor computed in) and the
        calibration digest.
    """
    from slimline import runtime
    from slimline.checkpoint import load_checkpoint

    device, compute = rt.resolve()
    model, tokenizer = load_checkpoint(parent)  # on CPU; layers are onloaded one at a time
    names, digest, used = sparsify(model, tokenizer, texts, cfg, device=device,
                                   compute=compute)
    # One weight at a time: after oneshot the model is still dispatched for llm-compressor's
    # onloading, so reading a weight can hand back a copy; a list of every linear weight held
    # all of them at once (+0.18 GB at this point on a 100 M Llama, about its linear weights).
    zeros = total = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            weight = module.weight
            zeros, total = zeros + int((weight == 0).sum()), total + weight.numel()
            del weight
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return ({"sparse_layers": float(len(names)), "linear_weights_zero_share": zeros / total},
            {**runtime.record(device, used), "calibration_tokens": digest})
