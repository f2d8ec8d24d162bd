"""Checks made before calibration, and what the quantized checkpoint weighs."""

from __future__ import annotations

import re
from pathlib import Path

from torch import nn

from slimline.checkpoint import quantized_numel, safetensors_header
from slimline.errors import SlimlineError


def is_ignored(name: str, ignore: list[str]) -> bool:
    """llm-compressor's ignore semantics: a module name (or suffix), or `re:<pattern>`."""
    for entry in ignore:
        if entry.startswith("re:"):
            if re.match(entry[3:], name):
                return True
        elif name == entry or name.endswith("." + entry):
            return True
    return False


def check_group_widths(model: nn.Module, group_size: int, ignore: list[str]) -> list[str]:
    """Names of the quantized layers; SlimlineError if any input width is not a multiple of
    the group size (the quantizer would fail deep inside, or silently pad)."""
    targets, bad = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not is_ignored(name, ignore):
            targets.append(name)
            if module.in_features % group_size:
                bad.append(f"{name} ({module.in_features})")
    if bad:
        shown = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
        raise SlimlineError(
            f"quantize.group_size={group_size} does not divide the input width of {shown}. "
            f"Prune with prune.round_to={group_size} (or a multiple) so widths fit, choose a "
            "group size that divides them, or add the layers to quantize.ignore.")
    return targets


def check_kv_cache(model: nn.Module, kv_cache: str) -> int:
    """How many attention modules will carry a quantized KV cache; SlimlineError if none
    (compressed-tensors only hooks attention modules with a k/v projection that take the
    cache, and would otherwise skip the option silently)."""
    from compressed_tensors.quantization.lifecycle.initialize import (
        is_cached_attention_module,
    )

    found = sum(1 for module in model.modules() if is_cached_attention_module(module))
    if not found:
        raise SlimlineError(
            f"quantize.kv_cache={kv_cache}: llm-compressor finds no attention module with a "
            f"KV cache in this {type(model).__name__} (it needs k_proj/v_proj and a "
            "past_key_values argument), so it cannot quantize the cache: set "
            "quantize.kv_cache=none.")
    return found


# A quantized linear has a `weight_scale`; its weight is `weight_packed` (4-bit ints packed
# into int32, original shape in `weight_shape`) or `weight` itself (8-bit ints or floats).
# Activation (`input_scale`) and KV-cache (`k_scale`, `v_scale`) scales are not weights.
_SCALES = ("weight_scale", "weight_zero_point")


def _numel(entry: dict) -> int:
    numel = 1
    for d in entry["shape"]:
        numel *= d
    return numel


def weight_bytes(directory: Path) -> dict[str, float]:
    """Bytes the quantized linear weights take (packed ints or 8-bit weights + scales + zero
    points), the bf16 bytes the same weights would take, and the effective bits per weight."""
    quant_bytes, numel = 0, 0
    for f in sorted(Path(directory).glob("*.safetensors")):
        header = safetensors_header(f)
        numel += quantized_numel(f, header)  # packed weights: their `weight_shape`
        for name in header:
            if not name.endswith(".weight_scale"):
                continue
            prefix = name[: -len("weight_scale")]
            packed = prefix + "weight_packed" in header
            if not packed:  # 8-bit weights keep their shape
                numel += _numel(header[prefix + "weight"])
            for part in ("weight_packed" if packed else "weight", *_SCALES):
                if (entry := header.get(prefix + part)) is not None:
                    quant_bytes += entry["data_offsets"][1] - entry["data_offsets"][0]
    bf16 = 2 * numel
    return {"quantized_weight_bytes": quant_bytes, "bf16_weight_bytes": bf16,
            "quantized_to_bf16_ratio": quant_bytes / bf16 if bf16 else 0.0,
            "effective_bits_per_weight": 8 * quant_bytes / numel if numel else 0.0}
