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


def weight_bytes(directory: Path) -> dict[str, float]:
    """Bytes the quantized linear weights take (packed ints + scales + zero points), the
    bf16 bytes the same weights would take, and the effective bits per weight."""
    quant_bytes, numel = 0, 0
    for f in sorted(Path(directory).glob("*.safetensors")):
        header = safetensors_header(f)
        numel += quantized_numel(f, header)
        for name in header:
            if name.endswith(".weight_packed"):
                prefix = name[: -len("weight_packed")]
                for part in ("weight_packed", "weight_scale", "weight_zero_point"):
                    if (entry := header.get(prefix + part)) is not None:
                        quant_bytes += entry["data_offsets"][1] - entry["data_offsets"][0]
    bf16 = 2 * numel
    return {"quantized_weight_bytes": quant_bytes, "bf16_weight_bytes": bf16,
            "quantized_to_bf16_ratio": quant_bytes / bf16 if bf16 else 0.0,
            "effective_bits_per_weight": 8 * quant_bytes / numel if numel else 0.0}
