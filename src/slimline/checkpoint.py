"""Hugging Face checkpoints in and out, and text as token streams."""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from slimline._digest import METADATA_FILES
from slimline.errors import SlimlineError

if TYPE_CHECKING:
    import torch


def load_checkpoint(model_dir: Path):
    """Model and tokenizer from a stage's checkpoint directory, in eval mode on CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (Path(model_dir) / "config.json").exists():
        raise SlimlineError(f"{model_dir} is not a checkpoint (no config.json): run its stage "
                            "first (`dvc repro`).")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    return model, tokenizer


def token_stream(tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """All documents as one stream of ids, each as the tokenizer's encoding + EOS."""
    import torch

    ids = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    eos = tokenizer.eos_token_id
    return torch.tensor([t for doc in ids for t in (*doc, eos)], dtype=torch.long)


def windows(stream: torch.Tensor, seq_len: int, limit: int | None = None) -> list[torch.Tensor]:
    """Non-overlapping windows of `seq_len` tokens (at least one, possibly shorter)."""
    n = max(1, stream.numel() // seq_len)
    if limit is not None:
        n = min(n, limit)
    return [stream[i * seq_len:(i + 1) * seq_len] for i in range(n)]


def pass_through(parent: Path, out: Path) -> None:
    """Link (or copy) a checkpoint's model files unchanged, for a skipped stage."""
    for src in sorted(Path(parent).iterdir()):
        if src.is_file() and src.name not in METADATA_FILES:
            try:
                os.link(src, out / src.name)
            except OSError:
                shutil.copy2(src, out / src.name)


# Directions of `parameter_stats`' numbers: fewer parameters and bytes are better.
SIZE_DIRECTIONS = {"num_parameters": False, "size_bytes": False}


def parameter_stats(directory: Path) -> dict[str, float]:
    """Parameter count and bytes of a checkpoint's safetensors, from headers only."""
    return {"num_parameters": count_parameters(directory),
            "size_bytes": sum(p.stat().st_size for p in Path(directory).glob("*.safetensors"))}


# compressed-tensors stores a quantized weight as these; they are not parameters themselves.
_QUANT_PARTS = ("weight_packed", "weight_scale", "weight_zero_point", "weight_shape",
                "weight_g_idx")


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (names, dtypes, shapes, offsets); no tensor data."""
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(n))


def quantized_numel(path: Path, header: dict) -> int:
    """Weights of the quantized layers in one safetensors file, from their `weight_shape`."""
    names = [name for name in header if name.endswith(".weight_shape")]
    if not names:
        return 0
    from safetensors import safe_open

    total = 0
    with safe_open(path, "pt") as st:
        for name in names:
            rows, cols = st.get_tensor(name).tolist()
            total += rows * cols
    return total


def count_parameters(directory: Path) -> int:
    """Parameters of a checkpoint, from its safetensors headers (a quantized weight counts
    with its original shape, read from the stored `weight_shape`)."""
    total = 0
    for f in sorted(Path(directory).glob("*.safetensors")):
        header = safetensors_header(f)
        total += quantized_numel(f, header)
        for name, entry in header.items():
            if name != "__metadata__" and not name.endswith(_QUANT_PARTS):
                numel = 1
                for d in entry["shape"]:
                    numel *= d
                total += numel
    return total
