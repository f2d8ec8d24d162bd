"""Hugging Face checkpoints in and out, and text as token streams."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch

from slimline._digest import METADATA_FILES
from slimline.errors import SlimlineError


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


def parameter_stats(directory: Path) -> dict[str, float]:
    """Parameter count and bytes of a checkpoint's safetensors, from headers only."""
    from slimline.base import count_parameters

    return {"num_parameters": count_parameters(directory),
            "size_bytes": sum(p.stat().st_size for p in Path(directory).glob("*.safetensors"))}
